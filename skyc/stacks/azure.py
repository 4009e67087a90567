"""Azure: resource group, virtual network and subnet, network security group, and per node a
public IP, a NIC and a Linux VM (Spot priority on request).

Default images: Canonical Ubuntu 22.04 gen2 for CPU sizes, Microsoft's Ubuntu HPC 22.04 image
(NVIDIA drivers included) for GPU sizes. Custom images: a URN `publisher:offer:sku:version` or
an image resource id `/subscriptions/...`.
"""

from __future__ import annotations

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
)

DEFAULT_USER = "azureuser"
OPEN_CIDR = "0.0.0.0/0"
CPU_IMAGE = "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest"
GPU_IMAGE = "microsoft-dsvm:ubuntu-hpc:2204:latest"
DISK_TYPES = {"low": "Standard_LRS", "medium": "StandardSSD_LRS", "high": "Premium_LRS", "ultra": "UltraSSD_LRS"}
_NAME_KEYS = ("vmName", "virtualNetworkName", "networkSecurityGroupName", "subnetName", "publicIpAddressName", "networkInterfaceName")
_URN = re.compile(r"^[^:/\s]+:[^:/\s]+:[^:/\s]+:[^:/\s]+$")
_RESOURCE_ID = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/", re.I)


def image_reference(spec: StackSpec) -> dict[str, str]:
    image = spec.image_id if spec.image_id and not spec.image_id.startswith("docker:") else (
        GPU_IMAGE if spec.accelerator_name else CPU_IMAGE
    )
    if image.startswith("/"):
        return {"id": image}
    publisher, offer, sku, version = image.split(":")
    return {"publisher": publisher, "offer": offer, "sku": sku, "version": version}


def storage_profile(spec: StackSpec) -> dict[str, Any]:
    tier = common.disk_tier(spec, DISK_TYPES, "Azure")
    os_type = "Premium_LRS" if tier == "ultra" else DISK_TYPES[tier]  # Ultra disks cannot be OS disks
    profile: dict[str, Any] = {
        "image_reference": image_reference(spec),
        "os_disk": {
            "create_option": "FromImage",
            "disk_size_gb": spec.disk_size,
            "managed_disk": {"storage_account_type": os_type},
            "delete_option": "Delete",
        },
    }
    if tier == "ultra":
        profile["data_disks"] = [
            {
                "lun": 0,
                "create_option": "Empty",
                "disk_size_gb": spec.disk_size,
                "managed_disk": {"storage_account_type": "UltraSSD_LRS"},
                "delete_option": "Delete",
            }
        ]
    return profile


def ssh_cidr() -> str:
    return str(config.get("azure.ssh_cidr") or OPEN_CIDR)


def security_rules(spec: StackSpec, cidr: str) -> list[dict[str, Any]]:
    ranges = ["22"] + common.port_strings(spec.ports)
    return [
        {
            "name": "ssh" if r == "22" else f"port-{r}",
            "priority": 1000 + i,
            "direction": "Inbound",
            "access": "Allow",
            "protocol": "Tcp",
            "source_address_prefix": "*" if cidr == OPEN_CIDR else cidr,
            "source_port_range": "*",
            "destination_address_prefix": "*",
            "destination_port_range": r,
        }
        for i, r in enumerate(ranges)
    ]


class AzureProvider(Provider, SupportsSpot, SupportsPorts, SupportsMultiNode, SupportsDiskTier, SupportsImages):
    name = "azure"
    display_name = "Azure"
    catalog = "azure"
    python_package = "pulumi_azure_native"
    pulumi_plugin = "azure-native"

    def check_credentials(self) -> CredentialReport:
        if os.environ.get("AZURE_CLIENT_ID") and os.environ.get("AZURE_TENANT_ID") and (
            os.environ.get("AZURE_CLIENT_SECRET") or os.environ.get("AZURE_CLIENT_CERTIFICATE_PATH")
        ):
            return CredentialReport(enabled=True, reason="service principal from AZURE_CLIENT_ID/AZURE_TENANT_ID")
        profile = Path(os.environ.get("AZURE_CONFIG_DIR") or "~/.azure").expanduser() / "azureProfile.json"
        try:
            subs = json.loads(profile.read_text(encoding="utf-8-sig")).get("subscriptions") or []
        except (OSError, ValueError):
            subs = []
        default = next((s for s in subs if s.get("isDefault")), subs[0] if subs else None)
        if default:
            return CredentialReport(
                enabled=True, reason=f"Azure CLI profile in {profile}", details={"subscription": default.get("id")}
            )
        return CredentialReport(enabled=False, reason="no Azure credentials: run `az login` or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET")

    def warnings(self, spec: StackSpec) -> list[str]:
        if ssh_cidr() == OPEN_CIDR:
            return ["Azure security group opens SSH (and task ports) to any address; set azure.ssh_cidr in config.yaml to restrict it"]
        return []

    def mock_outputs(self, typ: str, name: str, inputs: dict) -> dict | None:
        from skyc.stacks.render import fake_ip

        # Each type takes its name under its own key; a real apply echoes it as `name`.
        keys = ("resourceGroupName",) if typ.endswith(":ResourceGroup") else _NAME_KEYS
        out: dict = {"name": next((inputs[k] for k in keys if inputs.get(k)), name)}
        if typ == "azure-native:network:PublicIPAddress":
            out["ipAddress"] = fake_ip(name, "203.0")
        if typ == "azure-native:network:NetworkInterface":
            cfgs = [dict(c) for c in inputs.get("ipConfigurations") or [{}]]
            cfgs[0]["privateIPAddress"] = fake_ip(name, "10.0")
            out["ipConfigurations"] = cfgs
        return out if typ.startswith("azure-native:") else None

    def validate(self, spec: StackSpec) -> None:
        common.require_region(spec, "Azure")
        if not spec.instance_type:
            raise common.field_error("resources.instance_type", "Azure needs a VM size (the optimizer normally picks one)")
        image = spec.image_id
        if image and not image.startswith("docker:") and not (_URN.match(image) or _RESOURCE_ID.match(image)):
            raise common.field_error(
                "resources.image_id", f"{image!r} is not an Azure image (expected publisher:offer:sku:version or /subscriptions/...)"
            )
        if image and image.startswith("docker:"):
            common.container_image(image)
        common.parse_ports(spec.ports)
        common.disk_tier(spec, DISK_TYPES, "Azure")
        common.check_disk_size(spec, 30)
        common.check_offered("azure", "Azure", spec, InstanceType=spec.instance_type)
        if spec.stopped:
            from skyc.errors import ProviderError

            raise ProviderError("stopping Azure clusters is not supported by skyc yet; use `skyc down`")

    def program(self, spec: StackSpec) -> Callable[[], None]:
        self.validate(spec)
        common.require_sdk("pulumi_azure_native", "azure")
        user = common.ssh_user(spec, DEFAULT_USER)
        custom_data = common.bootstrap_script("cloud_init.j2", spec, user)
        tags = common.cost_tags(spec)
        cidr = ssh_cidr()

        def run() -> None:
            import base64

            import pulumi
            import pulumi_azure_native as az

            prov = az.Provider(f"azure-{spec.region}", location=spec.region)
            opts = pulumi.ResourceOptions(provider=prov)
            rg = az.resources.ResourceGroup("group", resource_group_name=f"skyc-{spec.stack}", location=spec.region, tags=tags, opts=opts)
            nsg = az.network.NetworkSecurityGroup(
                "nsg",
                network_security_group_name=f"skyc-{spec.stack}-nsg",
                resource_group_name=rg.name,
                location=spec.region,
                security_rules=security_rules(spec, cidr),
                tags=tags,
                opts=opts,
            )
            vnet = az.network.VirtualNetwork(
                "vnet",
                virtual_network_name=f"skyc-{spec.stack}-vnet",
                resource_group_name=rg.name,
                location=spec.region,
                address_space={"address_prefixes": ["10.42.0.0/16"]},
                tags=tags,
                opts=opts,
            )
            subnet = az.network.Subnet(
                "subnet",
                subnet_name="nodes",
                resource_group_name=rg.name,
                virtual_network_name=vnet.name,
                address_prefix="10.42.0.0/20",
                network_security_group={"id": nsg.id},
                opts=opts,
            )
            encoded = common.secret_bootstrap(spec, base64.b64encode(custom_data.encode()).decode())
            addresses = []
            for rank, node in enumerate(common.node_names(spec.num_nodes)):
                node_tags = {**tags, "skyc-node": node, "skyc-rank": str(rank)}
                ip = az.network.PublicIPAddress(
                    f"{node}-ip",
                    resource_group_name=rg.name,
                    location=spec.region,
                    sku={"name": "Standard"},
                    public_ip_allocation_method="Static",
                    tags=node_tags,
                    opts=opts,
                )
                nic = az.network.NetworkInterface(
                    f"{node}-nic",
                    resource_group_name=rg.name,
                    location=spec.region,
                    ip_configurations=[
                        {"name": "primary", "subnet": {"id": subnet.id}, "public_ip_address": {"id": ip.id}, "primary": True}
                    ],
                    network_security_group={"id": nsg.id},
                    enable_accelerated_networking=spec.num_nodes > 1,
                    tags=node_tags,
                    opts=opts,
                )
                vm_args: dict[str, Any] = {}
                if spec.use_spot:
                    vm_args = {"priority": "Spot", "eviction_policy": "Delete", "billing_profile": {"max_price": -1}}
                if spec.disk_tier and common.disk_tier(spec, DISK_TYPES, "Azure") == "ultra":
                    vm_args["additional_capabilities"] = {"ultra_ssd_enabled": True}
                az.compute.VirtualMachine(
                    node,
                    resource_group_name=rg.name,
                    location=spec.region,
                    vm_name=f"{spec.stack}-{node}"[:64],
                    hardware_profile={"vm_size": spec.instance_type},
                    os_profile={
                        "computer_name": f"{spec.stack}-{node}"[:64],
                        "admin_username": user,
                        "custom_data": encoded,
                        "linux_configuration": {
                            "disable_password_authentication": True,
                            "ssh": {"public_keys": [{"path": f"/home/{user}/.ssh/authorized_keys", "key_data": common.public_key(spec)}]},
                        },
                    },
                    storage_profile=storage_profile(spec),
                    network_profile={"network_interfaces": [{"id": nic.id, "primary": True, "delete_option": "Delete"}]},
                    tags=node_tags,
                    opts=opts,
                    **vm_args,
                )
                private = nic.ip_configurations.apply(lambda c: c[0].private_ip_address if c else None)
                addresses.append(pulumi.Output.all(private, ip.ip_address))
            common.export_vm_inventory(spec, user, addresses, tags)

        return run
