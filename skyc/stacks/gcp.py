"""GCP: a firewall rule and one Compute Engine VM (or TPU VM) per node.

GPUs are attached as guest accelerators on n1 types (where GCP prices them separately); a2, a3
and g2 types carry theirs built in. Default images: Ubuntu 22.04 LTS for CPU nodes, the Deep
Learning VM CUDA image family for GPU nodes; `tpu-vm-base` runtime for TPU VMs.
"""

from __future__ import annotations

import configparser
import json
import os
import re
from pathlib import Path
from typing import Any, Callable

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

DEFAULT_USER = "skyc"
OPEN_CIDR = "0.0.0.0/0"
CPU_IMAGE = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"
GPU_IMAGE = "projects/deeplearning-platform-release/global/images/family/common-cu124-ubuntu-2204-py310"
DISK_TYPES = {"low": "pd-standard", "medium": "pd-balanced", "high": "pd-ssd", "ultra": "pd-extreme"}
# catalog accelerator name -> GCP accelerator type (attached to n1 VMs)
ACCELERATOR_TYPES = {
    "T4": "nvidia-tesla-t4",
    "P4": "nvidia-tesla-p4",
    "P100": "nvidia-tesla-p100",
    "V100": "nvidia-tesla-v100",
    "L4": "nvidia-l4",
    "A100": "nvidia-tesla-a100",
    "A100-80GB": "nvidia-a100-80gb",
    "H100": "nvidia-h100-80gb",
    "H100-MEGA": "nvidia-h100-mega-80gb",
    "H200": "nvidia-h200-141gb",
}
_BUILT_IN_GPU = re.compile(r"^(a2|a3|a4|g2)-")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_IMAGE = re.compile(r"^(projects/|global/images/|https://www\.googleapis\.com/compute/)")


def gcp_name(*parts: str) -> str:
    """An RFC 1035 resource name (lower case, digits, '-', at most 63)."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    if not name or not name[0].isalpha():
        name = "skyc-" + name
    return name[:63].rstrip("-")


def gcp_labels(tags: dict[str, str]) -> dict[str, str]:
    """GCP labels allow only lower case, digits, '_' and '-' (at most 63)."""
    clean = lambda s: re.sub(r"[^a-z0-9_-]+", "_", s.lower())[:63]  # noqa: E731
    return {clean(k): clean(v) for k, v in tags.items()}


def is_tpu(spec: StackSpec) -> bool:
    return bool(spec.accelerator_name and spec.accelerator_name.lower().startswith("tpu-"))


def scheduling(spec: StackSpec) -> dict[str, Any]:
    if spec.use_spot:
        return {
            "provisioning_model": "SPOT",
            "preemptible": True,
            "automatic_restart": False,
            "on_host_maintenance": "TERMINATE",
            "instance_termination_action": "STOP" if spec.stopped else "DELETE",
        }
    gpu = spec.accelerator_name is not None
    return {"automatic_restart": True, "on_host_maintenance": "TERMINATE" if gpu else "MIGRATE"}


def guest_accelerators(spec: StackSpec) -> list[dict[str, Any]]:
    if not spec.accelerator_name or _BUILT_IN_GPU.match(spec.instance_type or ""):
        return []
    return [{"type": ACCELERATOR_TYPES[spec.accelerator_name], "count": int(spec.accelerator_count)}]


def boot_disk(spec: StackSpec) -> dict[str, Any]:
    tier = common.disk_tier(spec, DISK_TYPES, "GCP")
    image = spec.image_id if spec.image_id and not spec.image_id.startswith("docker:") else (
        GPU_IMAGE if spec.accelerator_name else CPU_IMAGE
    )
    params: dict[str, Any] = {"image": image, "size": spec.disk_size, "type": DISK_TYPES[tier]}
    if tier == "ultra":
        params["provisioned_iops"] = min(120000, max(10000, spec.disk_size * 50))
    return {"auto_delete": True, "initialize_params": params}


def default_zone(spec: StackSpec) -> str | None:
    match = {"InstanceType": spec.instance_type} if spec.instance_type and not is_tpu(spec) else {"AcceleratorName": spec.accelerator_name or ""}
    zones = sorted({r["AvailabilityZone"] for r in common.catalog_rows("gcp", Region=spec.region or "", **match)})
    return zones[0] if zones else None


def ssh_cidr() -> str:
    return str(config.get("gcp.ssh_cidr") or OPEN_CIDR)


class GCPProvider(Provider, SupportsSpot, SupportsPorts, SupportsMultiNode, SupportsDiskTier, SupportsImages, SupportsStopStart):
    name = "gcp"
    display_name = "GCP"
    catalog = "gcp"
    python_package = "pulumi_gcp"
    pulumi_plugin = "gcp"

    def check_credentials(self) -> CredentialReport:
        gcloud = Path(os.environ.get("CLOUDSDK_CONFIG") or "~/.config/gcloud").expanduser()
        candidates = [os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"), str(gcloud / "application_default_credentials.json")]
        for cand in filter(None, candidates):
            path = Path(cand).expanduser()
            try:
                kind = json.loads(path.read_text()).get("type", "unknown")
            except (OSError, ValueError):
                continue
            return CredentialReport(enabled=True, reason=f"{kind} credentials in {path}", details={"project": self._project(gcloud)})
        return CredentialReport(
            enabled=False,
            reason="no GCP credentials: run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS",
        )

    @staticmethod
    def _project(gcloud: Path) -> str | None:
        if os.environ.get("GOOGLE_CLOUD_PROJECT"):
            return os.environ["GOOGLE_CLOUD_PROJECT"]
        parser = configparser.ConfigParser()
        try:
            parser.read(gcloud / "configurations" / "config_default")
        except configparser.Error:
            return None
        return parser.get("core", "project", fallback=None)

    def label_problem(self, key: str, value: str) -> str | None:
        if not _LABEL_KEY.match(key):
            return "keys start with a lower-case letter and hold only a-z, 0-9, '_' and '-', at most 63 characters"
        if not _LABEL_VALUE.match(value):
            return "values hold only a-z, 0-9, '_' and '-', at most 63 characters"
        return None

    def warnings(self, spec: StackSpec) -> list[str]:
        if ssh_cidr() == OPEN_CIDR:
            return ["GCP firewall opens SSH (and task ports) to 0.0.0.0/0; set gcp.ssh_cidr in config.yaml to restrict it"]
        return []

    def mock_outputs(self, typ: str, name: str, inputs: dict) -> dict | None:
        from skyc.stacks.render import fake_ip

        private, public = fake_ip(name, "10.0"), fake_ip(name, "203.0")
        if typ == "gcp:compute/instance:Instance":
            nics = [dict(n) for n in inputs.get("networkInterfaces") or [{}]]
            nics[0]["networkIp"] = private
            nics[0]["accessConfigs"] = [{"natIp": public}]
            return {"networkInterfaces": nics}
        if typ == "gcp:tpu/v2Vm:V2Vm":
            return {"networkEndpoints": [{"ipAddress": private, "accessConfigs": [{"externalIp": public}]}]}
        return None

    def validate(self, spec: StackSpec) -> None:
        common.require_region(spec, "GCP")
        image = spec.image_id
        if image and not image.startswith("docker:") and not _IMAGE.match(image):
            raise common.field_error("resources.image_id", f"{image!r} is not a GCP image (expected projects/<project>/global/images/...)")
        if image and image.startswith("docker:"):
            common.container_image(image)
        common.parse_ports(spec.ports)
        common.disk_tier(spec, DISK_TYPES, "GCP")
        common.check_disk_size(spec, 10)
        if spec.zone and not spec.zone.startswith(spec.region + "-"):
            raise common.field_error("resources.infra", f"zone {spec.zone!r} is not in GCP region {spec.region}")
        if is_tpu(spec):
            common.check_offered("gcp", "GCP", spec, AcceleratorName=spec.accelerator_name)
            return
        if not spec.instance_type:
            raise common.field_error("resources.instance_type", "GCP needs a machine type (the optimizer normally picks one)")
        common.check_offered("gcp", "GCP", spec, InstanceType=spec.instance_type)
        if spec.accelerator_name:
            if spec.accelerator_name not in ACCELERATOR_TYPES:
                raise common.field_error("resources.accelerators", f"GCP has no GPU named {spec.accelerator_name!r}")
            if not _BUILT_IN_GPU.match(spec.instance_type):
                if not spec.instance_type.startswith("n1-"):
                    raise common.field_error(
                        "resources.accelerators", f"{spec.accelerator_name} GPUs attach only to n1 machine types, not {spec.instance_type}"
                    )
                common.check_offered("gcp", "GCP", spec, InstanceType="", AcceleratorName=spec.accelerator_name)
        if not (spec.zone or default_zone(spec)):
            raise common.field_error("resources.infra", "GCP needs a zone for this machine type: infra: gcp/<region>/<zone>")

    def program(self, spec: StackSpec) -> Callable[[], None]:
        self.validate(spec)
        common.require_sdk("pulumi_gcp", "gcp")
        user = common.ssh_user(spec, DEFAULT_USER)
        startup = common.bootstrap_script("startup.j2", spec, user)
        zone = spec.zone or default_zone(spec)
        labels = gcp_labels(common.cost_tags(spec))
        project = spec.options.get("project") or config.get("gcp.project")
        network = spec.options.get("network") or config.get("gcp.network") or "default"
        cidr = ssh_cidr()
        tag = gcp_name("skyc", spec.stack)
        metadata = {"ssh-keys": f"{user}:{common.public_key(spec)}", "startup-script": startup, "enable-oslogin": "FALSE"}

        def run() -> None:
            import pulumi
            import pulumi_gcp as gcp

            metadata["startup-script"] = common.secret_bootstrap(spec, startup)
            prov = gcp.Provider(f"gcp-{spec.region}", region=spec.region, zone=zone, project=project, default_labels=labels)
            opts = pulumi.ResourceOptions(provider=prov)
            ports = ["22"] + common.port_strings(spec.ports)
            gcp.compute.Firewall(
                "firewall",
                name=gcp_name(spec.stack, "ssh"),
                network=network,
                direction="INGRESS",
                allows=[{"protocol": "tcp", "ports": ports}],
                source_ranges=[cidr],
                target_tags=[tag],
                description=f"skyc cluster {spec.stack}: SSH and task ports",
                opts=opts,
            )
            gcp.compute.Firewall(
                "internal",
                name=gcp_name(spec.stack, "internal"),
                network=network,
                direction="INGRESS",
                allows=[{"protocol": "tcp"}, {"protocol": "udp"}, {"protocol": "icmp"}],
                source_tags=[tag],
                target_tags=[tag],
                description=f"skyc cluster {spec.stack}: node-to-node traffic",
                opts=opts,
            )
            names = common.node_names(spec.num_nodes)
            if is_tpu(spec):
                addresses = [_tpu_vm(gcp, spec, zone, node, rank, labels, metadata, opts) for rank, node in enumerate(names)]
            else:
                addresses = [_vm(gcp, spec, zone, node, rank, labels, metadata, tag, network, opts) for rank, node in enumerate(names)]
            common.export_vm_inventory(spec, user, addresses, labels)
            pulumi.export("tags", labels)

        return run


def _vm(gcp, spec, zone, node, rank, labels, metadata, tag, network, opts):
    import pulumi

    vm = gcp.compute.Instance(
        node,
        name=gcp_name(spec.stack, node),
        machine_type=spec.instance_type,
        zone=zone,
        boot_disk=boot_disk(spec),
        guest_accelerators=guest_accelerators(spec),
        scheduling=scheduling(spec),
        network_interfaces=[{"network": network, "access_configs": [{}]}],
        metadata=metadata,
        labels={**labels, "skyc-node": node, "skyc-rank": str(rank)},
        tags=[tag],
        desired_status="TERMINATED" if spec.stopped else "RUNNING",
        allow_stopping_for_update=True,
        opts=opts,
    )
    nic = vm.network_interfaces[0]
    return pulumi.Output.all(nic.network_ip, nic.access_configs.apply(lambda a: (a or [{}])[0].get("nat_ip") if a else None))


def _tpu_vm(gcp, spec, zone, node, rank, labels, metadata, opts):
    accel = spec.accelerator_name.lower().removeprefix("tpu-")
    runtime = spec.options.get("tpu_runtime_version") or ("v2-alpha-tpuv6e" if accel.startswith("v6e") else "tpu-vm-base")
    tpu = gcp.tpu.V2Vm(
        node,
        name=gcp_name(spec.stack, node),
        zone=zone,
        accelerator_type=accel,
        runtime_version=runtime,
        network_config={"enable_external_ips": True, "can_ip_forward": False},
        scheduling_config={"spot": True} if spec.use_spot else None,
        metadata=metadata,
        labels={**labels, "skyc-node": node, "skyc-rank": str(rank)},
        opts=opts,
    )

    def first(endpoints):
        ep = (endpoints or [{}])[0]
        get = ep.get if isinstance(ep, dict) else lambda k, d=None: getattr(ep, k, d)
        access = get("access_configs") or get("accessConfigs") or [{}]
        a0 = access[0]
        ext = a0.get("external_ip") or a0.get("externalIp") if isinstance(a0, dict) else getattr(a0, "external_ip", None)
        return [get("ip_address") or get("ipAddress"), ext]

    return tpu.network_endpoints.apply(first)
