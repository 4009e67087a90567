"""AWS: key pair, security group, optional cluster placement group and one EC2 instance per node.

Zones: the catalog names zones by AZ id (`use1-az1`); the program places nodes by looking up the
default subnet of that AZ id (or AZ name, `us-east-1a`). Default images come from `get_ami`:
Canonical's Ubuntu 22.04 for CPU types, AWS's Deep Learning Base GPU AMI (Ubuntu 22.04) for
accelerator types, arm64 variants for Graviton types.
"""

from __future__ import annotations

import configparser
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

DEFAULT_USER = "ubuntu"
OPEN_CIDR = "0.0.0.0/0"
CANONICAL_OWNER = "099720109477"
_AMI = re.compile(r"^ami-[0-9a-f]{8,17}$")
_AZ_ID = re.compile(r"^[a-z]{2,4}\d+-az\d+$")
_TAG_KEY = re.compile(r"^(?!aws:)\S{1,127}$")
_TAG_VALUE = re.compile(r"^\S{0,255}$")
_GRAVITON = re.compile(r"^[a-z]+\d+g[a-z]*\.")

# disk tier -> EBS root volume settings
DISK_TIERS: dict[str, dict[str, Any]] = {
    "low": {"volume_type": "gp3", "iops": 3000, "throughput": 125},
    "medium": {"volume_type": "gp3", "iops": 6000, "throughput": 250},
    "high": {"volume_type": "gp3", "iops": 16000, "throughput": 1000},
    "ultra": {"volume_type": "io2"},  # iops scale with size (500 per GB, at most 64000)
}


def default_image_query(instance_type: str, has_accelerator: bool) -> dict[str, Any]:
    """Arguments of `aws.ec2.get_ami` for the documented default image of an instance type."""
    arch = "arm64" if _GRAVITON.match(instance_type) else "x86_64"
    if has_accelerator:
        name = ("Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *" if arch == "arm64"
                else "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *")
        owners = ["amazon"]
    else:
        name = f"ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-{'arm64' if arch == 'arm64' else 'amd64'}-server-*"
        owners = [CANONICAL_OWNER]
    return {
        "most_recent": True,
        "owners": owners,
        "filters": [
            {"name": "name", "values": [name]},
            {"name": "architecture", "values": [arch]},
            {"name": "state", "values": ["available"]},
        ],
    }


def root_volume(spec: StackSpec) -> dict[str, Any]:
    tier = common.disk_tier(spec, DISK_TIERS, "AWS")
    vol = {"volume_size": spec.disk_size, "delete_on_termination": True, **DISK_TIERS[tier]}
    if vol["volume_type"] == "io2":
        vol["iops"] = min(64000, max(100, spec.disk_size * 500))
    return vol


def ssh_cidr() -> str:
    return str(config.get("aws.ssh_cidr") or OPEN_CIDR)


def _mocked_addresses(instance: str) -> dict[str, str]:
    """The addresses an instance has under mocks, the same from the resource and the look-up."""
    from skyc.stacks.render import fake_ip

    return {"privateIp": fake_ip(instance, "10.0"), "publicIp": fake_ip(instance, "203.0")}


class AWSProvider(Provider, SupportsSpot, SupportsPorts, SupportsMultiNode, SupportsDiskTier, SupportsImages,
                  SupportsStopStart):
    name = "aws"
    display_name = "AWS"
    catalog = "aws"
    python_package = "pulumi_aws"
    pulumi_plugin = "aws"

    def check_credentials(self) -> CredentialReport:
        if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
            return CredentialReport(enabled=True, reason="AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY set")
        profile = os.environ.get("AWS_PROFILE", "default")
        creds = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials").expanduser()
        conf = Path(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()
        for path, section in ((creds, profile), (conf, profile if profile == "default" else f"profile {profile}")):
            parser = configparser.ConfigParser()
            try:
                parser.read(path)
            except configparser.Error:
                continue
            if parser.has_section(section) and any(
                parser.has_option(section, k)
                for k in ("aws_access_key_id", "sso_session", "sso_start_url", "credential_process", "role_arn")
            ):
                return CredentialReport(enabled=True, reason=f"profile {profile!r} in {path}", details={"profile": profile})
        return CredentialReport(
            enabled=False,
            reason="no AWS credentials: run `aws configure` or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )

    def label_problem(self, key: str, value: str) -> str | None:
        if not _TAG_KEY.match(key):
            return "tag keys are 1-127 characters without spaces and must not start with 'aws:'"
        if not _TAG_VALUE.match(value):
            return "tag values are at most 255 characters without spaces"
        return None

    def warnings(self, spec: StackSpec) -> list[str]:
        if ssh_cidr() == OPEN_CIDR:
            return ["AWS security group opens SSH (and task ports) to 0.0.0.0/0; set aws.ssh_cidr in config.yaml to restrict it"]
        return []

    def mock_outputs(self, typ: str, name: str, inputs: dict) -> dict | None:
        if typ == "aws:ec2/instance:Instance":
            return {**_mocked_addresses(name), "arn": f"arn:aws:ec2:::instance/{name}"}
        return None

    def mock_call(self, token: str, args: dict) -> dict | None:
        if token == "aws:ec2/getAmi:getAmi":
            return {"id": "ami-0123456789abcdef0", "imageId": "ami-0123456789abcdef0", "name": "default-image"}
        if token == "aws:ec2/getInstance:getInstance":
            name = str(args.get("instanceId", "")).removesuffix("-id")  # mocked ids are "<name>-id"
            return {"id": args.get("instanceId"), **_mocked_addresses(name)}
        if token == "aws:ec2/getVpc:getVpc":
            return {"id": "vpc-0default", "cidrBlock": "172.31.0.0/16"}
        if token == "aws:ec2/getSubnet:getSubnet":
            where = args.get("availabilityZoneId") or args.get("availabilityZone") or "default"
            return {"id": f"subnet-{where}", "availabilityZone": where}
        return None

    def validate(self, spec: StackSpec) -> None:
        region = common.require_region(spec, "AWS")
        if not spec.instance_type:
            raise common.field_error("resources.instance_type", "AWS needs an instance type (the optimizer normally picks one)")
        image = spec.image_id
        if image and not image.startswith("docker:"):
            if image.startswith("projects/") or not _AMI.match(image):
                raise common.field_error("resources.image_id", f"{image!r} is not an AWS AMI id (expected ami-<hex>)")
        if image and image.startswith("docker:"):
            common.container_image(image)
        common.parse_ports(spec.ports)
        common.disk_tier(spec, DISK_TIERS, "AWS")
        common.check_disk_size(spec, 8)
        if spec.zone and not (_AZ_ID.match(spec.zone) or spec.zone.startswith(region)):
            raise common.field_error("resources.infra", f"zone {spec.zone!r} is not in AWS region {region}")
        common.check_offered("aws", "AWS", spec, InstanceType=spec.instance_type)
        if spec.accelerator_name:
            common.check_offered("aws", "AWS", spec, InstanceType=spec.instance_type, AcceleratorName=spec.accelerator_name)

    def program(self, spec: StackSpec) -> Callable[[], None]:
        self.validate(spec)
        common.require_sdk("pulumi_aws", "aws")
        user = common.ssh_user(spec, DEFAULT_USER)
        user_data = common.bootstrap_script("cloud_init.j2", spec, user)
        cidr = ssh_cidr()
        tags = common.cost_tags(spec)

        def run() -> None:
            import pulumi
            import pulumi_aws as aws

            prov = aws.Provider(f"aws-{spec.region}", region=spec.region, default_tags={"tags": tags})
            opts = pulumi.ResourceOptions(provider=prov)
            invoke = pulumi.InvokeOptions(provider=prov)

            vpc = aws.ec2.get_vpc(default=True, opts=invoke)
            subnet_id = None
            if spec.zone:
                by = {"availability_zone_id": spec.zone} if _AZ_ID.match(spec.zone) else {"availability_zone": spec.zone}
                subnet_id = aws.ec2.get_subnet(default_for_az=True, vpc_id=vpc.id, opts=invoke, **by).id
            if spec.image_id and not spec.image_id.startswith("docker:"):
                ami = spec.image_id
            else:
                ami = aws.ec2.get_ami(opts=invoke, **default_image_query(spec.instance_type, bool(spec.accelerator_name))).id

            key = aws.ec2.KeyPair("key", key_name=f"skyc-{spec.stack}", public_key=common.public_key(spec), tags=tags, opts=opts)
            note = "" if cidr != OPEN_CIDR else " (SSH open to 0.0.0.0/0: set aws.ssh_cidr)"
            ingress = [{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": [cidr], "description": "ssh"}]
            ingress += [
                {"protocol": "tcp", "from_port": lo, "to_port": hi, "cidr_blocks": [cidr], "description": "task port"}
                for lo, hi in common.parse_ports(spec.ports)
            ]
            # Nodes of one cluster talk to each other on every port (distributed training).
            ingress.append({"protocol": "-1", "from_port": 0, "to_port": 0, "self": True, "description": "intra-cluster"})
            sg = aws.ec2.SecurityGroup(
                "sg",
                name=f"skyc-{spec.stack}",
                description=f"skyc cluster {spec.stack}{note}",
                vpc_id=vpc.id,
                ingress=ingress,
                egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
                tags=tags,
                opts=opts,
            )
            placement = None
            if spec.num_nodes > 1:
                placement = aws.ec2.PlacementGroup("placement", name=f"skyc-{spec.stack}", strategy="cluster", tags=tags, opts=opts)
            market = None
            if spec.use_spot:
                market = {
                    "market_type": "spot",
                    "spot_options": {"spot_instance_type": "one-time", "instance_interruption_behavior": "terminate"},
                }
            addresses = []
            for rank, node in enumerate(common.node_names(spec.num_nodes)):
                node_tags = {**tags, "Name": f"{spec.stack}-{node}", "skyc-node": node, "skyc-rank": str(rank)}
                instance = aws.ec2.Instance(
                    node,
                    ami=ami,
                    instance_type=spec.instance_type,
                    key_name=key.key_name,
                    vpc_security_group_ids=[sg.id],
                    subnet_id=subnet_id,
                    placement_group=placement.name if placement else None,
                    associate_public_ip_address=True,
                    root_block_device=root_volume(spec),
                    instance_market_options=market,
                    user_data=common.secret_bootstrap(spec, user_data),
                    tags=node_tags,
                    volume_tags=node_tags,
                    opts=opts,
                )
                # Stop/start is the instance's power state. A restarted instance gets a new public
                # address that the Instance's recorded outputs do not show, so read it back after.
                power = aws.ec2transitgateway.InstanceState(
                    f"{node}-power", instance_id=instance.id, state="stopped" if spec.stopped else "running", opts=opts)
                live = aws.ec2.get_instance_output(instance_id=power.instance_id, opts=invoke)
                addresses.append(pulumi.Output.all(live.private_ip, live.public_ip))
            common.export_vm_inventory(spec, user, addresses, tags)
            pulumi.export("tags", tags)

        return run
