"""Nebius AI Cloud: per node a boot disk and a Compute instance (public IP, cloud-init for the
login and host keys), a security group for the task's ports, and an InfiniBand GPU cluster for
multi-node 8-GPU clusters with `network_tier: best`.

Everything lives in the region's project: `nebius.projects.<region>` (or `nebius.project_id`) in
config.yaml, else the tenant's `default-project-<region>` looked up by name (tenant from
`nebius.tenant_id` or `~/.nebius/NEBIUS_TENANT_ID.txt`, as SkyPilot reads it). The subnet is
`nebius.subnet_id`, else the project's subnet named `nebius.subnet_name` [default-subnet].
Instance types are the catalog's `<platform>_<preset>` (gpu-h100-sxm_8gpu-128vcpu-1600gb).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

from skyc import config
from skyc.stacks import common
from skyc.stacks.base import (
    CredentialReport,
    Provider,
    StackSpec,
    SupportsDiskTier,
    SupportsImages,
    SupportsMultiNode,
    SupportsPorts,
    SupportsSpot,
    SupportsStopStart,
)

DEFAULT_USER = "ubuntu"
OPEN_CIDR = "0.0.0.0/0"
CREDENTIALS_DIR = "~/.nebius"
GPU_IMAGE_FAMILY = "ubuntu22.04-cuda12"
CPU_IMAGE_FAMILY = "ubuntu22.04-driverless"
DISK_TYPES = {"low": "NETWORK_HDD", "medium": "NETWORK_SSD", "high": "NETWORK_SSD_NON_REPLICATED",
              "ultra": "NETWORK_SSD_IO_M3"}
MAX_NAME = 50
_ADDRESS = re.compile(r"/\d+$")


def split_instance_type(itype: str) -> tuple[str, str]:
    """`gpu-h100-sxm_8gpu-128vcpu-1600gb` -> (platform, preset)."""
    platform, sep, preset = itype.partition("_")
    if not (sep and platform and preset):
        raise common.field_error("resources.instance_type", f"{itype!r} is not a Nebius instance type "
                                 "(<platform>_<preset>, e.g. gpu-h100-sxm_8gpu-128vcpu-1600gb)")
    return platform, preset


def tenant_id() -> str | None:
    value = config.get("nebius.tenant_id")
    if value:
        return str(value)
    try:
        return Path(CREDENTIALS_DIR, "NEBIUS_TENANT_ID.txt").expanduser().read_text().strip() or None
    except OSError:
        return None


def project_id(region: str) -> str | None:
    projects = config.get("nebius.projects") or {}
    if isinstance(projects, dict) and projects.get(region):
        return str(projects[region])
    value = config.get("nebius.project_id")
    return str(value) if value else None


def ssh_cidr() -> str:
    return str(config.get("nebius.ssh_cidr") or OPEN_CIDR)


def fabric(region: str) -> str | None:
    fabrics = config.get("nebius.fabrics") or {}
    return str(fabrics[region]) if isinstance(fabrics, dict) and fabrics.get(region) else None


def wants_gpu_cluster(spec: StackSpec) -> bool:
    """InfiniBand between nodes: several 8-GPU nodes and the best network asked for."""
    return spec.num_nodes > 1 and spec.network_tier == "best" and spec.accelerator_count >= 8


def _address(value: str | None) -> str | None:
    return _ADDRESS.sub("", value) if value else None  # Nebius reports addresses as CIDRs (1.2.3.4/32)


class NebiusProvider(Provider, SupportsSpot, SupportsStopStart, SupportsPorts, SupportsMultiNode, SupportsDiskTier,
                     SupportsImages):
    name = "nebius"
    display_name = "Nebius"
    catalog = "nebius"
    python_package = "pulumi_nebius"
    pulumi_plugin = "nebius"

    def check_credentials(self) -> CredentialReport:
        d = Path(CREDENTIALS_DIR).expanduser()
        creds = d / "credentials.json"
        if creds.is_file():
            try:
                json.loads(creds.read_text())
            except (OSError, ValueError) as e:
                return CredentialReport(enabled=False, reason=f"{creds} is not readable JSON ({e})")
            return CredentialReport(enabled=True, reason=f"service account in {creds}")
        token = d / "NEBIUS_IAM_TOKEN.txt"
        if token.is_file() and tenant_id():
            return CredentialReport(enabled=True, reason=f"IAM token in {token}, tenant {tenant_id()}")
        return CredentialReport(enabled=False, reason=(
            f"no Nebius credentials: save a service-account credentials file as {CREDENTIALS_DIR}/credentials.json, "
            f"or an IAM token (`nebius iam get-access-token`) as {CREDENTIALS_DIR}/NEBIUS_IAM_TOKEN.txt together with "
            f"the tenant id in {CREDENTIALS_DIR}/NEBIUS_TENANT_ID.txt (or nebius.tenant_id in config.yaml)"))

    def warnings(self, spec: StackSpec) -> list[str]:
        out = []
        if ssh_cidr() == OPEN_CIDR:
            out.append("Nebius security group opens SSH (and task ports) to 0.0.0.0/0; set nebius.ssh_cidr in config.yaml to restrict it")
        if wants_gpu_cluster(spec) and not fabric(spec.region or ""):
            out.append(f"network_tier: best needs the InfiniBand fabric of {spec.region}: set nebius.fabrics.{spec.region} "
                       "in config.yaml; until then the nodes talk over Ethernet")
        if not project_id(spec.region or "") and not tenant_id():
            out.append(f"no Nebius project for {spec.region}: set nebius.projects.{spec.region} (or nebius.tenant_id) in config.yaml")
        return out

    def mock_outputs(self, typ: str, name: str, inputs: dict) -> dict | None:
        from skyc.stacks.render import fake_ip

        if typ == "nebius:index/computeV1Instance:ComputeV1Instance":
            return {"status": {"networkInterfaces": [{
                "ipAddress": {"address": fake_ip(name, "10.0") + "/32"},
                "publicIpAddress": {"address": fake_ip(name, "203.0") + "/32"}}]}}
        return None

    def mock_call(self, token: str, args: dict) -> dict | None:
        if token == "nebius:index/getIamV1Project:getIamV1Project":
            return {"id": f"project-{args.get('name')}", "name": args.get("name")}
        if token == "nebius:index/getVpcV1Subnet:getVpcV1Subnet":
            return {"id": f"vpcsubnet-{args.get('name')}", "name": args.get("name"), "networkId": "vpcnetwork-default"}
        return None

    def validate(self, spec: StackSpec) -> None:
        from skyc.errors import ProviderError

        region = common.require_region(spec, "Nebius")
        if not spec.instance_type:
            raise common.field_error("resources.instance_type", "Nebius needs an instance type (the optimizer normally picks one)")
        split_instance_type(spec.instance_type)
        image = spec.image_id
        if image and image.startswith("docker:"):
            common.container_image(image)
        elif image and not re.fullmatch(r"computeimage-[a-z0-9]+|[a-z0-9][a-z0-9.-]*", image):
            raise common.field_error("resources.image_id", f"{image!r} is not a Nebius image id or image family "
                                     "(e.g. ubuntu22.04-cuda12)")
        common.parse_ports(spec.ports)
        common.disk_tier(spec, DISK_TYPES, "Nebius")
        common.check_disk_size(spec, 20)
        if len(spec.stack) > MAX_NAME:
            raise common.field_error("name", f"cluster name {spec.stack!r} is too long for Nebius (at most {MAX_NAME} characters)")
        if spec.use_spot and spec.stopped:
            raise ProviderError("preemptible Nebius instances cannot be stopped; use `skyc down`")
        common.check_offered("nebius", "Nebius", spec, InstanceType=spec.instance_type)
        if spec.zone:
            raise common.field_error("resources.infra", f"Nebius has no zones; use infra: nebius/{region}")

    def program(self, spec: StackSpec) -> Callable[[], None]:
        self.validate(spec)
        common.require_sdk("pulumi_nebius", "nebius")
        user = common.ssh_user(spec, DEFAULT_USER)
        user_data = common.bootstrap_script("cloud_init.j2", spec, user)
        platform, preset = split_instance_type(spec.instance_type or "")
        tier = common.disk_tier(spec, DISK_TYPES, "Nebius")
        labels = {k: re.sub(r"[^a-z0-9_.-]+", "_", v.lower())[:63] for k, v in common.cost_tags(spec).items()}
        cidr = ssh_cidr()
        region = spec.region or ""
        ib_fabric = fabric(region) if wants_gpu_cluster(spec) else None

        def run() -> None:
            import pulumi
            import pulumi_nebius as nebius

            prov = nebius.Provider(f"nebius-{region}")
            opts = pulumi.ResourceOptions(provider=prov)
            invoke = pulumi.InvokeOptions(provider=prov)
            project = project_id(region)
            if project is None:
                project = nebius.get_iam_v1_project(parent_id=tenant_id(), name=f"default-project-{region}", opts=invoke).id
            subnet = config.get("nebius.subnet_id")
            network = None
            if not subnet:
                found = nebius.get_vpc_v1_subnet(parent_id=project, name=str(config.get("nebius.subnet_name") or "default-subnet"),
                                                 opts=invoke)
                subnet, network = found.id, found.network_id
            name = lambda *parts: "-".join(("skyc", spec.stack, *parts))  # noqa: E731
            groups = []
            if network:
                sg = nebius.VpcV1SecurityGroup("sg", parent_id=project, name=name("sg"), network_id=network,
                                               labels=labels, opts=opts)
                groups = [{"id": sg.id}]
                ports = [(22, 22), *common.parse_ports(spec.ports)]
                for lo, hi in ports:
                    nebius.VpcV1SecurityRule(
                        f"allow-{lo}" if lo == hi else f"allow-{lo}-{hi}", parent_id=sg.id, name=name(f"tcp-{lo}-{hi}"),
                        access="ALLOW", protocol="TCP",
                        ingress={"source_cidrs": [cidr], "destination_ports": list(range(lo, hi + 1))},
                        labels=labels, opts=opts)
                # Nodes of one cluster talk to each other on every port (distributed training).
                nebius.VpcV1SecurityRule("intra-cluster", parent_id=sg.id, name=name("intra"), access="ALLOW",
                                         protocol="ANY", ingress={"source_security_group_id": sg.id},
                                         labels=labels, opts=opts)
            gpu_cluster = None
            if ib_fabric:
                gpu_cluster = nebius.ComputeV1GpuCluster("gpu-cluster", parent_id=project, name=name("ib"),
                                                         infiniband_fabric=ib_fabric, labels=labels, opts=opts)
            image = spec.image_id if spec.image_id and not spec.image_id.startswith("docker:") else None
            addresses = []
            for rank, node in enumerate(common.node_names(spec.num_nodes)):
                node_labels = {**labels, "skyc-node": node, "skyc-rank": str(rank)}
                source = ({"source_image_id": image} if image and image.startswith("computeimage-") else
                          {"source_image_family": {"image_family": image or (GPU_IMAGE_FAMILY if spec.accelerator_name
                                                                             else CPU_IMAGE_FAMILY)}})
                disk = nebius.ComputeV1Disk(f"{node}-disk", parent_id=project, name=name(node, "boot"), type=DISK_TYPES[tier],
                                            size_gibibytes=spec.disk_size, labels=node_labels, opts=opts, **source)
                instance = nebius.ComputeV1Instance(
                    node,
                    parent_id=project,
                    name=name(node),
                    hostname=node,
                    resources={"platform": platform, "preset": preset},
                    boot_disk={"attach_mode": "READ_WRITE", "existing_disk": {"id": disk.id}},
                    network_interfaces=[{"name": "eth0", "subnet_id": subnet, "ip_address": {},
                                         "public_ip_address": {}, "security_groups": groups or None}],
                    cloud_init_user_data=common.secret_bootstrap(spec, user_data),
                    preemptible={"on_preemption": "STOP", "priority": 3} if spec.use_spot else None,
                    gpu_cluster={"id": gpu_cluster.id} if gpu_cluster is not None else None,
                    stopped=spec.stopped,
                    labels=node_labels,
                    opts=opts,
                )
                nic = instance.status.apply(lambda s: (s.network_interfaces or [None])[0] if s else None)
                addresses.append(pulumi.Output.all(
                    nic.apply(lambda n: _address(n.ip_address.address) if n and n.ip_address else None),
                    nic.apply(lambda n: _address(n.public_ip_address.address) if n and n.public_ip_address else None)))
            common.export_vm_inventory(spec, user, addresses, labels)
            pulumi.export("tags", labels)

        return run
