"""RunPod: the pod program under Pulumi mocks, credentials as SkyPilot reads them, the REST
client against a local fake of RunPod's API, and the real engine creating and deleting a pod."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from skyc.errors import ProviderError, SpecError
from skyc.stacks import render, rest, runpod
from skyc.stacks.base import StackSpec, SupportsMultiNode, SupportsSpot, SupportsStopStart, supports
from skyc.stacks.registry import get
from tests.fake_clouds import FakeRunPod, serving

SPEC = StackSpec(stack="rp", provider="runpod", region="US", zone="US-TX-3", instance_type="1x_H100-SXM_SECURE",
                 accelerator_name="H100-SXM", accelerator_count=1, use_spot=True, ports=["8888"], disk_size=100)


def _key_file(home: Path, text: str) -> None:
    (home / ".runpod").mkdir(parents=True, exist_ok=True)
    (home / ".runpod" / "config.toml").write_text(text)


@pytest.fixture
def api(tmp_path, monkeypatch):
    _key_file(tmp_path / "home", f'[default]\napi_key = "{FakeRunPod.key}"\n')
    with serving(FakeRunPod({"US-TX-3"}), monkeypatch, "SKYC_RUNPOD_API_URL", tmp_path / "home") as server:
        yield server


def test_pod_body_maps_the_catalog_type_and_spot():
    (pod,) = render.render_resources(SPEC)
    body = pod["inputs"]["body"]
    assert (body["gpuTypeIds"], body["gpuCount"], body["cloudType"], body["computeType"]) == (
        ["NVIDIA H100 80GB HBM3"], 1, "SECURE", "GPU")
    assert body["interruptible"] is True and body["containerDiskInGb"] == 100
    assert (body["countryCodes"], body["dataCenterIds"]) == (["US"], ["US-TX-3"])
    assert body["ports"] == ["22/tcp", "8888/tcp"] and body["supportPublicIp"] is True
    script = body["dockerEntrypoint"][2]
    assert "sshd -D" in script and "$SKYC_HOST_KEY_B64" in script
    assert base64.b64decode(body["env"]["SKYC_HOST_KEY_B64"]).strip()  # the cluster's host key, for pinning
    assert body["env"]["SKYC_AUTHORIZED_KEYS"].startswith("ssh-ed25519 ")


def test_cpu_types_and_inventory_uses_the_mapped_ssh_port():
    cpu = SPEC.model_copy(update={"instance_type": "cpu3c-2-4", "accelerator_name": None, "accelerator_count": 0,
                                  "use_spot": False, "zone": None})
    out = render.render(cpu)
    body = out["resources"][0]["inputs"]["body"]
    assert (body["computeType"], body["cpuFlavorIds"], body["vcpuCount"]) == ("CPU", ["cpu3c"], 2)
    assert "dataCenterIds" not in body
    (node,) = out["outputs"]["inventory"]["nodes"]
    assert (node["ssh_user"], node["ssh_port"]) == ("root", 10022)


@pytest.mark.parametrize("update, error, match", [
    ({"num_nodes": 2}, ProviderError, "single-node"),
    ({"stopped": True}, ProviderError, "cannot be stopped"),
    ({"image_id": "ami-0123456789abcdef0"}, SpecError, "container image"),
    ({"instance_type": "8x_Nope_SECURE"}, SpecError, "not a RunPod instance type"),
    ({"disk_tier": "low"}, SpecError, "disk_tier"),
])
def test_validation(update, error, match):
    with pytest.raises(error, match=match):
        get("runpod").validate(SPEC.model_copy(update=update))


def test_capabilities_spot_but_no_stop_or_multinode():
    p = get("runpod")
    assert supports(p, SupportsSpot) and not supports(p, SupportsStopStart) and not supports(p, SupportsMultiNode)


@pytest.mark.parametrize("text, enabled, says", [
    (None, False, "no RunPod credentials at ~/.runpod/config.toml"),
    ("[default\napi_key=1", False, "not valid TOML"),
    ("[other]\napi_key = 'k'\n", False, "no [default] profile"),
    ("[default]\nx = 1\n", False, "has no api_key"),
    ("[default]\napi_key = 'k'\n", True, "[default] api_key"),
])
def test_credentials_messages(tmp_path, monkeypatch, text, enabled, says):
    monkeypatch.setenv("HOME", str(tmp_path))
    if text is not None:
        _key_file(tmp_path, text)
    report = get("runpod").check_credentials()
    assert report.enabled is enabled and says in report.reason
    if not enabled:
        assert "runpod config" in report.reason


def test_client_classifies_capacity_auth_and_rate_limits(api):
    c = runpod.client()
    with pytest.raises(rest.ApiError, match="no capacity") as err:
        c.request("POST", "/pods", {"name": "x", "countryCodes": ["CA"]})
    assert err.value.kind == rest.CAPACITY
    api.rate_limit_next = 1
    with pytest.raises(rest.ApiError) as err:
        c.request("GET", "/pods/missing")
    assert err.value.kind == rest.NOT_FOUND and len(api.calls("GET", "/pods/missing")) == 2
    api.key = "other"
    with pytest.raises(rest.ApiError, match="credentials rejected") as err:
        c.request("GET", "/pods/missing")
    assert err.value.kind == rest.AUTH


def test_engine_creates_and_deletes_the_pod(api, engine):
    inv = engine.up(SPEC)
    (node,) = inv.nodes
    assert (node.public_ip, node.ssh_port, node.ssh_user) == ("192.0.2.50", 40022, "root")
    (pod,) = api.live()
    assert pod["interruptible"] is True and pod["body"]["dataCenterIds"] == ["US-TX-3"]
    host_key = base64.b64decode(pod["body"]["env"]["SKYC_HOST_KEY_B64"]).decode()
    assert "PRIVATE KEY" in host_key and "PRIVATE KEY" not in str(engine.export("rp"))  # secret, kept out of state
    engine.destroy("rp")
    assert api.live() == []


def test_no_capacity_and_a_pod_that_never_gets_its_ssh_port(api):
    body = runpod.pod_body(SPEC.model_copy(update={"zone": "EU-RO-1", "region": "RO"}))
    with pytest.raises(rest.ApiError, match="no capacity") as err:
        runpod._Pod().create({"cluster": "rp", "node": "head", "body": body})
    assert err.value.kind == rest.CAPACITY and api.live() == []
    api.start_polls = 10_000
    with pytest.raises(TimeoutError):
        runpod._Pod().create({"cluster": "rp", "node": "head", "body": runpod.pod_body(SPEC), "timeout": 0.3})
    assert len(api.pods) == 1 and api.live() == []  # the pod that never became reachable was deleted


def test_down_sweeps_a_pod_an_interrupted_launch_left(api):
    c = runpod.client()
    for name in ("rp-head", "other-head"):
        c.request("POST", "/pods", {"name": name, "dataCenterIds": ["US-TX-3"], "ports": ["22/tcp"]})
    get("runpod").cleanup("rp")
    assert [p["name"] for p in api.live()] == ["other-head"]
