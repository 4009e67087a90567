"""AWS stack program rendered offline under Pulumi mocks."""

from __future__ import annotations

import pytest
import yaml

from skyc import paths
from skyc.errors import ProviderError, SpecError
from skyc.stacks import render
from skyc.stacks.base import Inventory, StackSpec
from skyc.stacks.registry import get

BASE = dict(stack="c1", provider="aws", region="us-east-1", instance_type="m6i.large")


def _render(**kw):
    return render.render(StackSpec(**{**BASE, **kw}))


def _of(out, suffix):
    return [r for r in out["resources"] if r["type"].endswith(suffix)]


def test_single_node_cpu():
    out = _render(options={"hourly_price": 0.096})
    types = sorted({r["type"] for r in out["resources"]})
    assert types == [
        "aws:ec2/instance:Instance",
        "aws:ec2/keyPair:KeyPair",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2transitgateway/instanceState:InstanceState",
        "pulumi:providers:aws",
    ]
    (inst,) = _of(out, ":Instance")
    i = inst["inputs"]
    assert i["instanceType"] == "m6i.large"
    assert "instanceMarketOptions" not in i and "placementGroup" not in i
    assert i["rootBlockDevice"] == {"deleteOnTermination": True, "iops": 6000, "throughput": 250, "volumeSize": 256, "volumeType": "gp3"}
    assert i["ami"] == "ami-0123456789abcdef0"  # from the default-image look-up
    assert i["tags"]["skyc-cluster"] == "c1" and i["tags"]["skyc-hourly-price"] == "0.0960"
    assert "python3" in i["userData"] and "rsync" in i["userData"] and i["userData"].startswith("#cloud-config")
    (ami,) = [v for v in out["invokes"] if v["token"] == "aws:ec2/getAmi:getAmi"]
    assert ami["args"]["owners"] == ["099720109477"]
    assert "ubuntu-jammy-22.04-amd64" in ami["args"]["filters"][0]["values"][0]
    (prov,) = _of(out, "providers:aws")
    assert prov["inputs"]["region"] == "us-east-1"
    inv = get("aws").inventory(StackSpec(**BASE), out["outputs"])
    assert isinstance(inv, Inventory) and inv.head.ssh_user == "ubuntu" and inv.head.public_ip
    assert inv.tags["skyc-cluster"] == "c1"


def test_ssh_cidr_from_config_and_open_default_warns():
    (sg,) = _of(_render(), "SecurityGroup")
    assert sg["inputs"]["ingress"][0]["cidrBlocks"] == ["0.0.0.0/0"]
    assert "0.0.0.0/0" in sg["inputs"]["description"]
    assert any("aws.ssh_cidr" in w for w in render.render_warnings(StackSpec(**BASE)))
    paths.config_file().write_text(yaml.safe_dump({"aws": {"ssh_cidr": "198.51.100.0/24"}}))
    out = _render()
    (sg,) = _of(out, "SecurityGroup")
    assert sg["inputs"]["ingress"][0]["cidrBlocks"] == ["198.51.100.0/24"]
    assert out["warnings"] == []


def test_eight_gpu_node_uses_gpu_image():
    out = _render(instance_type="p4d.24xlarge", accelerator_name="A100", accelerator_count=8)
    (inst,) = _of(out, ":Instance")
    assert inst["inputs"]["instanceType"] == "p4d.24xlarge"
    (ami,) = [v for v in out["invokes"] if v["token"] == "aws:ec2/getAmi:getAmi"]
    assert ami["args"]["owners"] == ["amazon"] and "Deep Learning" in ami["args"]["filters"][0]["values"][0]
    assert out["outputs"]["inventory"]["nodes"][0]["accelerators"] == {"A100": 8}


def test_graviton_type_looks_up_arm64_image():
    out = _render(instance_type="g5g.xlarge", accelerator_name="T4g", accelerator_count=1)
    (ami,) = [v for v in out["invokes"] if v["token"] == "aws:ec2/getAmi:getAmi"]
    assert ami["args"]["filters"][1]["values"] == ["arm64"]


def test_spot():
    (inst,) = _of(_render(use_spot=True), ":Instance")
    assert inst["inputs"]["instanceMarketOptions"] == {
        "marketType": "spot",
        "spotOptions": {"instanceInterruptionBehavior": "terminate", "spotInstanceType": "one-time"},
    }


def test_multi_node_with_ports_and_zone():
    out = _render(num_nodes=3, ports=["8080", "9000-9010"], zone="use1-az4")
    insts = _of(out, ":Instance")
    assert [r["name"] for r in insts] == ["head", "worker1", "worker2"]
    (pg,) = _of(out, "PlacementGroup")
    assert pg["inputs"]["strategy"] == "cluster"
    assert {i["inputs"]["placementGroup"] for i in insts} == {pg["inputs"]["name"]}
    assert [i["inputs"]["tags"]["skyc-rank"] for i in insts] == ["0", "1", "2"]
    (sg,) = _of(out, "SecurityGroup")
    tcp = [(r["fromPort"], r["toPort"]) for r in sg["inputs"]["ingress"] if r["protocol"] == "tcp"]
    assert tcp == [(22, 22), (8080, 8080), (9000, 9010)]
    assert any(r.get("self") for r in sg["inputs"]["ingress"])
    (subnet,) = [v for v in out["invokes"] if v["token"] == "aws:ec2/getSubnet:getSubnet"]
    assert subnet["args"]["availabilityZoneId"] == "use1-az4"
    assert {i["inputs"]["subnetId"] for i in insts} == {"subnet-use1-az4"}
    assert len(out["outputs"]["inventory"]["nodes"]) == 3


def test_custom_image_skips_lookup():
    out = _render(image_id="ami-0abc12345def67890")
    (inst,) = _of(out, ":Instance")
    assert inst["inputs"]["ami"] == "ami-0abc12345def67890"
    assert not [v for v in out["invokes"] if v["token"] == "aws:ec2/getAmi:getAmi"]


def test_docker_image_runs_on_the_default_vm_image():
    out = _render(image_id="docker:pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime")
    (inst,) = _of(out, ":Instance")
    assert inst["inputs"]["ami"] == "ami-0123456789abcdef0"
    assert "docker pull pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime" in inst["inputs"]["userData"]
    import yaml as _yaml

    assert _yaml.safe_load(inst["inputs"]["userData"])["packages"] == ["python3", "rsync"]  # still valid cloud-config


@pytest.mark.parametrize(
    "tier, size, expected",
    [
        ("low", 100, {"volumeType": "gp3", "iops": 3000, "throughput": 125}),
        ("high", 500, {"volumeType": "gp3", "iops": 16000, "throughput": 1000}),
        ("ultra", 100, {"volumeType": "io2", "iops": 50000}),
        ("best", 1000, {"volumeType": "io2", "iops": 64000}),
    ],
)
def test_disk_size_and_tier(tier, size, expected):
    (inst,) = _of(_render(disk_size=size, disk_tier=tier), ":Instance")
    root = inst["inputs"]["rootBlockDevice"]
    assert root["volumeSize"] == size
    assert {k: root.get(k) for k in expected} == expected


@pytest.mark.parametrize(
    "kw, err, field",
    [
        ({"image_id": "projects/ubuntu-os-cloud/global/images/x"}, SpecError, "resources.image_id"),
        ({"image_id": "ubuntu"}, SpecError, "resources.image_id"),
        ({"image_id": "docker:x $(reboot)"}, SpecError, "resources.image_id"),
        ({"region": None, "image_id": "ami-0abc12345def67890"}, SpecError, "resources.infra"),
        ({"ports": ["70000"]}, SpecError, "resources.ports"),
        ({"disk_tier": "turbo"}, SpecError, "resources.disk_tier"),
        ({"zone": "us-west-2a"}, SpecError, "resources.infra"),
    ],
)
def test_bad_input_names_the_field(kw, err, field):
    with pytest.raises(err) as e:
        render.render_resources(StackSpec(**{**BASE, **kw}))
    assert e.value.issues[0].field == field


def test_gpu_type_missing_in_region():
    with pytest.raises(ProviderError, match="does not offer p4d.24xlarge"):
        render.render_resources(StackSpec(**{**BASE, "region": "eu-north-1", "instance_type": "p4d.24xlarge",
                                             "accelerator_name": "A100", "accelerator_count": 8}))


def test_credentials_from_env_and_profile_files(monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    report = get("aws").check_credentials()
    assert not report.enabled and "aws configure" in report.reason
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = AKIA\naws_secret_access_key = x\n")
    assert get("aws").check_credentials().enabled
    monkeypatch.setenv("AWS_PROFILE", "work")
    assert not get("aws").check_credentials().enabled
    (tmp_path / "config").write_text("[profile work]\nsso_session = corp\n")
    assert get("aws").check_credentials().details["profile"] == "work"


def test_stop_and_start_switch_the_power_state_and_keep_the_instances():
    running = _render(num_nodes=2)
    stopped = _render(num_nodes=2, stopped=True)
    assert _of(stopped, ":Instance") == _of(running, ":Instance")  # nothing is replaced: disks stay
    assert [(r["name"], r["inputs"]) for r in _of(stopped, "instanceState:InstanceState")] == [
        ("head-power", {"instanceId": "head-id", "state": "stopped"}),
        ("worker1-power", {"instanceId": "worker1-id", "state": "stopped"})]
    assert {r["inputs"]["state"] for r in _of(running, "instanceState:InstanceState")} == {"running"}
    # Addresses come from reading each instance back after its power state is set.
    looked_up = [v["args"]["instanceId"] for v in running["invokes"] if v["token"] == "aws:ec2/getInstance:getInstance"]
    assert sorted(looked_up) == ["head-id", "worker1-id"]
    inv = get("aws").inventory(StackSpec(**BASE, num_nodes=2), running["outputs"])
    assert [n.name for n in inv.nodes] == ["head", "worker1"] and all(n.public_ip for n in inv.nodes)
    from skyc.stacks.base import SupportsStopStart, supports

    assert supports(get("aws"), SupportsStopStart)
