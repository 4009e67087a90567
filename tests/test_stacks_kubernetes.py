"""Kubernetes stack program rendered offline under Pulumi mocks."""

from __future__ import annotations

import shlex

import pytest
import yaml

from skyc import paths
from skyc.errors import ProviderError, SpecError
from skyc.stacks import render
from skyc.stacks.base import StackSpec
from skyc.stacks.registry import get

BASE = dict(stack="k1", provider="kubernetes", region="kind-dev", cpus=4, memory=16)


def _render(**kw):
    return render.render(StackSpec(**{**BASE, **kw}))


def _of(out, suffix):
    return [r for r in out["resources"] if r["type"].endswith(suffix)]


def test_single_node_cpu():
    out = _render()
    assert sorted(r["type"] for r in out["resources"]) == [
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:Pod",
        "kubernetes:core/v1:Secret",
        "kubernetes:core/v1:Service",
        "pulumi:providers:kubernetes",
    ]
    (prov,) = _of(out, "providers:kubernetes")
    assert prov["inputs"]["context"] == "kind-dev"
    (pod,) = _of(out, ":Pod")
    c = pod["inputs"]["spec"]["containers"][0]
    assert c["image"] == "ubuntu:22.04"
    assert c["resources"] == {"limits": {"memory": "16Gi"}, "requests": {"cpu": "4", "memory": "16Gi"}}
    script = c["command"][2]
    assert "sshd -D" in script and "rsync" in script and "/etc/skyc-ssh/authorized_keys" in script
    assert pod["inputs"]["spec"]["subdomain"] == "k1" and pod["inputs"]["spec"]["hostname"] == "head"
    (svc,) = _of(out, ":Service")
    assert svc["inputs"]["spec"]["clusterIP"] == "None"
    (secret,) = _of(out, ":Secret")
    assert secret["inputs"]["stringData"] == render.SECRET  # secrets never reach a plan
    inv = get("kubernetes").inventory(StackSpec(**BASE), out["outputs"])
    head = inv.head
    assert head.private_ip and head.public_ip is None
    argv = shlex.split(head.proxy_command)
    assert argv[1:4] == ["-m", "skyc.stacks.kubernetes", "proxy"] and "k1-head" in argv and "kind-dev" in argv


def test_eight_gpus_requested_and_tolerated():
    (pod,) = _of(_render(accelerator_name="A100", accelerator_count=8), ":Pod")
    res = pod["inputs"]["spec"]["containers"][0]["resources"]
    assert res["limits"]["nvidia.com/gpu"] == "8" and res["requests"]["nvidia.com/gpu"] == "8"
    assert pod["inputs"]["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_spot_is_refused():
    with pytest.raises(ProviderError, match="spot"):
        render.render_resources(StackSpec(**{**BASE, "use_spot": True}))


def test_multi_node_with_ports():
    out = _render(num_nodes=3, ports=["8080", "9000-9002"])
    pods = _of(out, ":Pod")
    assert [p["inputs"]["metadata"]["name"] for p in pods] == ["k1-head", "k1-worker1", "k1-worker2"]
    ports_svc = [s for s in _of(out, ":Service") if s["name"] == "ports"][0]
    assert [p["port"] for p in ports_svc["inputs"]["spec"]["ports"]] == [8080, 9000, 9001, 9002]
    assert ports_svc["inputs"]["spec"]["selector"]["skyc-node"] == "head"
    assert len(get("kubernetes").inventory(StackSpec(**BASE, num_nodes=3), out["outputs"]).nodes) == 3


def test_custom_image():
    (pod,) = _of(_render(image_id="docker:pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime"), ":Pod")
    assert pod["inputs"]["spec"]["containers"][0]["image"] == "pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime"


def test_nodeport_access_from_config():
    paths.config_file().write_text(yaml.safe_dump({"kubernetes": {"ssh_access": "nodeport", "namespace": "team"}}))
    out = _render(num_nodes=2)
    assert not _of(out, ":Namespace")  # a namespace named in config is the user's, not ours
    node_ports = [s for s in _of(out, ":Service") if s["inputs"]["spec"].get("type") == "NodePort"]
    assert len(node_ports) == 2 and {s["inputs"]["metadata"]["namespace"] for s in node_ports} == {"team"}
    inv = get("kubernetes").inventory(StackSpec(**BASE, num_nodes=2), out["outputs"])
    assert inv.head.proxy_command is None and inv.head.public_ip and inv.head.ssh_port >= 30000


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"image_id": "ami-0abc12345def67890"}, "resources.image_id"),
        ({"disk_tier": "high"}, "resources.disk_tier"),
        ({"ports": ["8000-9000"]}, "resources.ports"),
        ({"ports": ["99999"]}, "resources.ports"),
        ({"image_id": "docker:ubuntu; rm -rf /"}, "resources.image_id"),
    ],
)
def test_bad_input_names_the_field(kw, field):
    with pytest.raises(SpecError) as e:
        render.render_resources(StackSpec(**{**BASE, **kw}))
    assert e.value.issues[0].field == field


def test_bad_ssh_access_setting():
    paths.config_file().write_text(yaml.safe_dump({"kubernetes": {"ssh_access": "telnet"}}))
    with pytest.raises(SpecError, match="port-forward, nodeport"):
        render.render_resources(StackSpec(**BASE))


def test_credentials_from_kubeconfig(monkeypatch, tmp_path):
    cfg = tmp_path / "kube"
    monkeypatch.setenv("KUBECONFIG", str(cfg))
    assert not get("kubernetes").check_credentials().enabled
    cfg.write_text(yaml.safe_dump({"contexts": [{"name": "kind-dev"}, {"name": "gke_p_z_c"}], "current-context": "kind-dev"}))
    report = get("kubernetes").check_credentials()
    assert report.enabled and report.details == {"contexts": ["kind-dev", "gke_p_z_c"], "current": "kind-dev"}
