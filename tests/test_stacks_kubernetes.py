"""Kubernetes stack program rendered offline under Pulumi mocks."""

from __future__ import annotations

import os
import shlex
import sys
import time

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


PORT_FORWARD = '''#!{python}
# Stands in for `kubectl port-forward` (no Kubernetes cluster here): listens on 127.0.0.1, says
# so the way kubectl does, and forwards each connection to the node's real sshd.
import socket, sys, threading
target = ({address!r}, {port})
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
open({args_file!r}, "w").write(" ".join(sys.argv[1:]))
print(f"Forwarding from 127.0.0.1:{{srv.getsockname()[1]}} -> 22", flush=True)
def pipe(a, b):
    while data := a.recv(65536):
        b.sendall(data)
    b.shutdown(socket.SHUT_WR)
while True:
    client, _ = srv.accept()
    upstream = socket.create_connection(target)
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
'''


def test_port_forward_proxy_carries_a_real_ssh_session(tmp_path, monkeypatch):
    """The pod's ProxyCommand (`python -m skyc.stacks.kubernetes proxy`) relays SSH through
    kubectl port-forward; here a real sshd node sits behind a stand-in for kubectl."""
    from skyc.runtime.cluster import ClusterRuntime
    from skyc.stacks.kubernetes import proxy_command
    from tests.nodes import local_cluster, procs_with

    with local_cluster(1) as inv:
        head = inv.head
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        kubectl = bin_dir / "kubectl"
        args_file = tmp_path / "kubectl-args"
        kubectl.write_text(PORT_FORWARD.format(python=sys.executable, address=head.private_ip, port=head.ssh_port,
                                               args_file=str(args_file)))
        kubectl.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
        via_pod = head.model_copy(update={"proxy_command": proxy_command("kind-dev", "skyc", "train-head")})
        with ClusterRuntime(inv.model_copy(update={"nodes": [via_pod]})) as rt:
            assert rt.head.run("echo through-the-pod; echo $HOME").text.split() == ["through-the-pod", head.home]
        assert args_file.read_text() == "--context kind-dev port-forward -n skyc pod/train-head :22 --address 127.0.0.1"
    deadline = time.monotonic() + 10  # the SSH client ends the relay with SIGTERM; it then stops kubectl
    while procs_with(str(kubectl).encode()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert procs_with(str(kubectl).encode()) == []
