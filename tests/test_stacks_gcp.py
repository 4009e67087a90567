"""GCP stack program rendered offline under Pulumi mocks."""

from __future__ import annotations

import json

import pytest

from skyc.errors import ProviderError, SpecError
from skyc.stacks import render
from skyc.stacks.base import StackSpec
from skyc.stacks.registry import get

BASE = dict(stack="g1", provider="gcp", region="us-central1", instance_type="n2-standard-8")


def _render(**kw):
    return render.render(StackSpec(**{**BASE, **kw}))


def _of(out, suffix):
    return [r for r in out["resources"] if r["type"].endswith(suffix)]


def test_single_node_cpu():
    out = _render(options={"hourly_price": 0.39})
    assert sorted(r["type"] for r in out["resources"]) == [
        "gcp:compute/firewall:Firewall",
        "gcp:compute/firewall:Firewall",
        "gcp:compute/instance:Instance",
        "pulumi:providers:gcp",
    ]
    (vm,) = _of(out, "instance:Instance")
    i = vm["inputs"]
    assert i["machineType"] == "n2-standard-8" and i["zone"] == "us-central1-a"  # first catalog zone
    assert i.get("guestAccelerators") in (None, [])
    assert i["scheduling"] == {"automaticRestart": True, "onHostMaintenance": "MIGRATE"}
    assert i["bootDisk"]["initializeParams"] == {
        "image": "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts", "size": 256, "type": "pd-balanced"}
    assert i["metadata"]["ssh-keys"].startswith("skyc:ssh-ed25519 ")
    assert "rsync" in i["metadata"]["startup-script"]
    assert i["labels"]["skyc-cluster"] == "g1" and i["labels"]["skyc-hourly-price"] == "0_3900"
    assert i["tags"] == ["skyc-g1"]
    inv = get("gcp").inventory(StackSpec(**BASE), out["outputs"])
    assert inv.head.ssh_user == "skyc" and inv.head.public_ip and inv.head.private_ip


def test_eight_gpus_attached_on_n1_and_built_in_on_a2():
    out = _render(instance_type="n1-highmem-64", accelerator_name="V100", accelerator_count=8)
    (vm,) = _of(out, "instance:Instance")
    assert vm["inputs"]["guestAccelerators"] == [{"count": 8, "type": "nvidia-tesla-v100"}]
    assert vm["inputs"]["scheduling"]["onHostMaintenance"] == "TERMINATE"
    assert "deeplearning-platform-release" in vm["inputs"]["bootDisk"]["initializeParams"]["image"]
    out = _render(instance_type="a2-highgpu-8g", accelerator_name="A100", accelerator_count=8)
    (vm,) = _of(out, "instance:Instance")
    assert vm["inputs"].get("guestAccelerators") in (None, [])
    assert vm["inputs"]["machineType"] == "a2-highgpu-8g"


def test_spot():
    (vm,) = _of(_render(use_spot=True, instance_type="n1-standard-8", accelerator_name="T4", accelerator_count=1), "instance:Instance")
    s = vm["inputs"]["scheduling"]
    assert s["provisioningModel"] == "SPOT" and s["preemptible"] is True and s["automaticRestart"] is False
    assert s["onHostMaintenance"] == "TERMINATE"


def test_multi_node_with_ports():
    out = _render(num_nodes=3, ports=["8080", "9000-9010"], zone="us-central1-c")
    vms = _of(out, "instance:Instance")
    assert [v["inputs"]["name"] for v in vms] == ["g1-head", "g1-worker1", "g1-worker2"]
    assert {v["inputs"]["zone"] for v in vms} == {"us-central1-c"}
    fw = {f["name"]: f["inputs"] for f in _of(out, "Firewall")}
    assert fw["firewall"]["allows"] == [{"ports": ["22", "8080", "9000-9010"], "protocol": "tcp"}]
    assert fw["firewall"]["targetTags"] == ["skyc-g1"] and fw["firewall"]["sourceRanges"] == ["0.0.0.0/0"]
    assert fw["internal"]["sourceTags"] == ["skyc-g1"]
    assert len(out["outputs"]["inventory"]["nodes"]) == 3


def test_custom_image_and_disk_tiers():
    (vm,) = _of(_render(image_id="projects/my-proj/global/images/my-image", disk_size=500, disk_tier="low"), "instance:Instance")
    p = vm["inputs"]["bootDisk"]["initializeParams"]
    assert p == {"image": "projects/my-proj/global/images/my-image", "size": 500, "type": "pd-standard"}
    (vm,) = _of(_render(disk_size=1000, disk_tier="ultra"), "instance:Instance")
    p = vm["inputs"]["bootDisk"]["initializeParams"]
    assert p["type"] == "pd-extreme" and p["provisionedIops"] == 50000
    (vm,) = _of(_render(disk_tier="high"), "instance:Instance")
    assert vm["inputs"]["bootDisk"]["initializeParams"]["type"] == "pd-ssd"


def test_tpu_vm():
    out = _render(instance_type="TPU-VM", accelerator_name="tpu-v2-8", accelerator_count=1, use_spot=True)
    assert not _of(out, "instance:Instance")
    (tpu,) = _of(out, "v2Vm:V2Vm")
    i = tpu["inputs"]
    assert i["acceleratorType"] == "v2-8" and i["runtimeVersion"] == "tpu-vm-base"
    assert i["schedulingConfig"] == {"spot": True} and i["zone"].startswith("us-central1-")
    assert out["outputs"]["inventory"]["nodes"][0]["private_ip"]


def test_stop_keeps_the_vm():
    (vm,) = _of(_render(stopped=True), "instance:Instance")
    assert vm["inputs"]["desiredStatus"] == "TERMINATED"


def test_repeated_renders_in_one_process_are_identical():
    spec = StackSpec(**{**BASE, "num_nodes": 2})
    first = json.dumps(render.render_resources(spec), sort_keys=True)
    render.render_resources(StackSpec(**{**BASE, "stack": "other"}))
    assert json.dumps(render.render_resources(spec), sort_keys=True) == first


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"image_id": "ami-0abc12345def67890"}, "resources.image_id"),
        ({"ports": ["0"]}, "resources.ports"),
        ({"ports": ["9000-8000"]}, "resources.ports"),
        ({"disk_tier": "turbo"}, "resources.disk_tier"),
        ({"instance_type": "n2-standard-8", "accelerator_name": "T4", "accelerator_count": 1}, "resources.accelerators"),
        ({"zone": "europe-west1-b"}, "resources.infra"),
    ],
)
def test_bad_input_names_the_field(kw, field):
    with pytest.raises(SpecError) as e:
        render.render_resources(StackSpec(**{**BASE, **kw}))
    assert e.value.issues[0].field == field


def test_gpu_missing_in_region():
    with pytest.raises(ProviderError, match="europe-north1 does not offer"):
        render.render_resources(StackSpec(**{**BASE, "region": "europe-north1", "instance_type": "n1-standard-8",
                                             "accelerator_name": "T4", "accelerator_count": 1}))


def test_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-1")
    assert not get("gcp").check_credentials().enabled
    (tmp_path / "application_default_credentials.json").write_text(json.dumps({"type": "authorized_user"}))
    report = get("gcp").check_credentials()
    assert report.enabled and report.details["project"] == "proj-1" and "authorized_user" in report.reason
