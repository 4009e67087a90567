"""Azure stack program rendered offline under Pulumi mocks."""

from __future__ import annotations

import base64
import json

import pytest

from skyc.errors import ProviderError, SpecError
from skyc.stacks import render
from skyc.stacks.base import StackSpec
from skyc.stacks.registry import get

BASE = dict(stack="z1", provider="azure", region="eastus", instance_type="Standard_D4s_v5")


def _render(**kw):
    return render.render(StackSpec(**{**BASE, **kw}))


def _of(out, suffix):
    return [r for r in out["resources"] if r["type"].endswith(suffix)]


def test_single_node_cpu():
    out = _render()
    counts = {}
    for r in out["resources"]:
        counts[r["type"].split(":")[-1]] = counts.get(r["type"].split(":")[-1], 0) + 1
    assert counts == {"VirtualMachine": 1, "NetworkInterface": 1, "NetworkSecurityGroup": 1, "PublicIPAddress": 1,
                      "Subnet": 1, "VirtualNetwork": 1, "ResourceGroup": 1, "azure-native": 1}
    (vm,) = _of(out, "VirtualMachine")
    i = vm["inputs"]
    assert i["hardwareProfile"] == {"vmSize": "Standard_D4s_v5"} and i["location"] == "eastus"
    assert "priority" not in i
    assert i["storageProfile"]["imageReference"]["offer"] == "0001-com-ubuntu-server-jammy"
    assert i["storageProfile"]["osDisk"]["managedDisk"] == {"storageAccountType": "StandardSSD_LRS"}
    linux = i["osProfile"]["linuxConfiguration"]
    assert linux["disablePasswordAuthentication"] is True
    assert linux["ssh"]["publicKeys"][0]["path"] == "/home/azureuser/.ssh/authorized_keys"
    assert "rsync" in base64.b64decode(i["osProfile"]["customData"]).decode()
    assert i["tags"]["skyc-cluster"] == "z1" and i["resourceGroupName"] == "skyc-z1"
    (nsg,) = _of(out, "NetworkSecurityGroup")
    assert [r["destinationPortRange"] for r in nsg["inputs"]["securityRules"]] == ["22"]
    inv = get("azure").inventory(StackSpec(**BASE), out["outputs"])
    assert inv.head.public_ip and inv.head.private_ip and inv.head.ssh_user == "azureuser"


def test_eight_gpu_node_uses_hpc_image():
    (vm,) = _of(_render(instance_type="Standard_ND96asr_v4", accelerator_name="A100", accelerator_count=8), "VirtualMachine")
    assert vm["inputs"]["hardwareProfile"]["vmSize"] == "Standard_ND96asr_v4"
    assert vm["inputs"]["storageProfile"]["imageReference"]["publisher"] == "microsoft-dsvm"


def test_spot():
    (vm,) = _of(_render(use_spot=True), "VirtualMachine")
    assert vm["inputs"]["priority"] == "Spot" and vm["inputs"]["evictionPolicy"] == "Delete"
    assert vm["inputs"]["billingProfile"] == {"maxPrice": -1}


def test_multi_node_with_ports():
    out = _render(num_nodes=3, ports=["8080", "9000-9010"])
    assert len(_of(out, "VirtualMachine")) == len(_of(out, "NetworkInterface")) == len(_of(out, "PublicIPAddress")) == 3
    (nsg,) = _of(out, "NetworkSecurityGroup")
    rules = nsg["inputs"]["securityRules"]
    assert [r["destinationPortRange"] for r in rules] == ["22", "8080", "9000-9010"]
    assert len({r["priority"] for r in rules}) == 3
    assert all(n["inputs"]["enableAcceleratedNetworking"] for n in _of(out, "NetworkInterface"))
    assert [n["name"] for n in out["outputs"]["inventory"]["nodes"]] == ["head", "worker1", "worker2"]


def test_custom_images():
    (vm,) = _of(_render(image_id="Canonical:ubuntu-24_04-lts:server:latest"), "VirtualMachine")
    assert vm["inputs"]["storageProfile"]["imageReference"] == {
        "offer": "ubuntu-24_04-lts", "publisher": "Canonical", "sku": "server", "version": "latest"}
    rid = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/mine"
    (vm,) = _of(_render(image_id=rid), "VirtualMachine")
    assert vm["inputs"]["storageProfile"]["imageReference"] == {"id": rid}


@pytest.mark.parametrize("tier, os_type", [("low", "Standard_LRS"), ("medium", "StandardSSD_LRS"), ("high", "Premium_LRS")])
def test_disk_size_and_tier(tier, os_type):
    (vm,) = _of(_render(disk_size=512, disk_tier=tier), "VirtualMachine")
    os_disk = vm["inputs"]["storageProfile"]["osDisk"]
    assert os_disk["diskSizeGB"] == 512 and os_disk["managedDisk"]["storageAccountType"] == os_type


def test_ultra_disk_is_a_data_disk():
    (vm,) = _of(_render(disk_size=512, disk_tier="ultra"), "VirtualMachine")
    sp = vm["inputs"]["storageProfile"]
    assert sp["dataDisks"][0]["managedDisk"]["storageAccountType"] == "UltraSSD_LRS"
    assert sp["dataDisks"][0]["diskSizeGB"] == 512
    assert vm["inputs"]["additionalCapabilities"] == {"ultraSSDEnabled": True}


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"image_id": "ami-0abc12345def67890"}, "resources.image_id"),
        ({"image_id": "projects/x/global/images/y"}, "resources.image_id"),
        ({"ports": ["http"]}, "resources.ports"),
        ({"disk_tier": "turbo"}, "resources.disk_tier"),
        ({"instance_type": None}, "resources.instance_type"),
    ],
)
def test_bad_input_names_the_field(kw, field):
    with pytest.raises(SpecError) as e:
        render.render_resources(StackSpec(**{**BASE, **kw}))
    assert e.value.issues[0].field == field


def test_size_missing_in_region():
    with pytest.raises(ProviderError, match="westus does not offer Standard_ND96asr_v4"):
        render.render_resources(StackSpec(**{**BASE, "region": "westus", "instance_type": "Standard_ND96asr_v4"}))


def test_credentials(monkeypatch, tmp_path):
    for var in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path))
    assert not get("azure").check_credentials().enabled
    profile = {"subscriptions": [{"id": "sub-1", "isDefault": True}]}
    (tmp_path / "azureProfile.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(profile).encode())  # the CLI writes a BOM
    report = get("azure").check_credentials()
    assert report.enabled and report.details["subscription"] == "sub-1"
