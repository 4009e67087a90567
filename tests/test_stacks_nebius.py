"""Nebius stack program rendered offline under Pulumi mocks."""

from __future__ import annotations

import pytest
import yaml

from skyc import paths
from skyc.errors import ProviderError, SpecError
from skyc.stacks import render
from skyc.stacks.base import StackSpec
from skyc.stacks.registry import get

BASE = dict(stack="nb", provider="nebius", region="eu-north1", instance_type="gpu-h100-sxm_8gpu-128vcpu-1600gb",
            accelerator_name="H100", accelerator_count=8)


def _render(**kw):
    return render.render(StackSpec(**{**BASE, **kw}))


def _of(out, suffix):
    return [r for r in out["resources"] if r["type"].endswith(suffix)]


def test_single_node_instance_disk_and_security_group():
    out = _render(ports=["8888"])
    (inst,) = _of(out, ":ComputeV1Instance")
    i = inst["inputs"]
    assert i["resources"] == {"platform": "gpu-h100-sxm", "preset": "8gpu-128vcpu-1600gb"}
    assert i["parentId"] == "project-default-project-eu-north1"  # the tenant's default project, looked up
    assert i["bootDisk"] == {"attachMode": "READ_WRITE", "existingDisk": {"id": "head-disk-id"}}
    (nic,) = i["networkInterfaces"]
    assert nic["subnetId"] == "vpcsubnet-default-subnet" and nic["publicIpAddress"] == {}
    assert nic["securityGroups"] == [{"id": "sg-id"}]
    assert "preemptible" not in i and "gpuCluster" not in i and not i.get("stopped")
    assert i["cloudInitUserData"] == "[secret]"  # the SDK keeps cloud-init (it carries the host key) secret
    (disk,) = _of(out, ":ComputeV1Disk")
    assert disk["inputs"]["sourceImageFamily"] == {"imageFamily": "ubuntu22.04-cuda12"}
    assert (disk["inputs"]["type"], disk["inputs"]["sizeGibibytes"]) == ("NETWORK_SSD", 256)
    rules = {r["name"]: r["inputs"] for r in _of(out, ":VpcV1SecurityRule")}
    assert rules["allow-22"]["ingress"] == {"destinationPorts": [22], "sourceCidrs": ["0.0.0.0/0"]}
    assert rules["allow-8888"]["ingress"]["destinationPorts"] == [8888]
    assert rules["intra-cluster"]["ingress"] == {"sourceSecurityGroupId": "sg-id"}
    (node,) = out["outputs"]["inventory"]["nodes"]
    assert node["public_ip"].startswith("203.0.") and "/" not in node["public_ip"] and node["ssh_user"] == "ubuntu"


def test_spot_stop_disk_tier_and_cpu_image():
    out = _render(use_spot=True, disk_tier="ultra")
    (inst,) = _of(out, ":ComputeV1Instance")
    assert inst["inputs"]["preemptible"] == {"onPreemption": "STOP", "priority": 3}
    assert _of(out, ":ComputeV1Disk")[0]["inputs"]["type"] == "NETWORK_SSD_IO_M3"
    stopped = _render(stopped=True)
    assert _of(stopped, ":ComputeV1Instance")[0]["inputs"]["stopped"] is True
    cpu = _render(instance_type="cpu-d3_4vcpu-16gb", accelerator_name=None, accelerator_count=0)
    assert _of(cpu, ":ComputeV1Disk")[0]["inputs"]["sourceImageFamily"] == {"imageFamily": "ubuntu22.04-driverless"}


def test_project_subnet_and_fabric_from_config():
    paths.config_file().write_text(yaml.safe_dump({"nebius": {
        "projects": {"eu-north1": "project-e00abc"}, "subnet_id": "vpcsubnet-e00xyz",
        "fabrics": {"eu-north1": "fabric-3"}, "ssh_cidr": "198.51.100.0/24"}}))
    out = _render(num_nodes=2, network_tier="best")
    assert out["invokes"] == []  # nothing to look up
    (cluster,) = _of(out, ":ComputeV1GpuCluster")
    assert cluster["inputs"]["infinibandFabric"] == "fabric-3" and cluster["inputs"]["parentId"] == "project-e00abc"
    insts = _of(out, ":ComputeV1Instance")
    assert [i["inputs"]["gpuCluster"] for i in insts] == [{"id": "gpu-cluster-id"}] * 2
    assert all(i["inputs"]["networkInterfaces"][0]["subnetId"] == "vpcsubnet-e00xyz" for i in insts)
    assert not _of(out, ":VpcV1SecurityGroup")  # the network id is unknown without the subnet look-up
    assert out["warnings"] == []


def test_best_network_without_a_fabric_is_a_warning_not_a_silent_downgrade():
    out = _render(num_nodes=2, network_tier="best")
    assert not _of(out, ":ComputeV1GpuCluster")
    assert any("nebius.fabrics.eu-north1" in w for w in out["warnings"])


@pytest.mark.parametrize("update, error, match", [
    ({"instance_type": "gpu-h100-sxm"}, SpecError, "<platform>_<preset>"),
    ({"zone": "eu-north1-a"}, SpecError, "no zones"),
    ({"disk_size": 10}, SpecError, "minimum"),
    ({"use_spot": True, "stopped": True}, ProviderError, "cannot be stopped"),
    ({"region": "eu-west1", "instance_type": "gpu-h100-sxm_8gpu-128vcpu-1600gb"}, ProviderError, "does not offer"),
])
def test_validation(update, error, match):
    with pytest.raises(error, match=match):
        get("nebius").validate(StackSpec(**{**BASE, **update}))


def test_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    report = get("nebius").check_credentials()
    assert not report.enabled and "~/.nebius/credentials.json" in report.reason and "NEBIUS_TENANT_ID.txt" in report.reason
    d = tmp_path / ".nebius"
    d.mkdir()
    (d / "NEBIUS_IAM_TOKEN.txt").write_text("token")
    assert not get("nebius").check_credentials().enabled  # a token needs the tenant id too
    (d / "NEBIUS_TENANT_ID.txt").write_text("tenant-e00t\n")
    assert get("nebius").check_credentials().enabled
    (d / "credentials.json").write_text("{not json")
    assert "not readable JSON" in get("nebius").check_credentials().reason
