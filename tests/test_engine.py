"""The real Pulumi engine with the `local` provider: real CLI, real dynamic provider, real sshd."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skyc.errors import ClusterNotFoundError, PulumiCLIError
from skyc.stacks import local_node, pulumi_cli
from skyc.stacks.base import StackSpec
from skyc.stacks.lock import pid_alive

try:
    pulumi_cli.find(build_if_missing=False)
except PulumiCLIError as e:  # pragma: no cover - depends on the machine
    pytest.skip(f"no Pulumi CLI: {e}", allow_module_level=True)

from tests.nodes import pinned_ssh, sshd_pids_under  # noqa: E402


def test_up_two_nodes_ssh_then_destroy(engine, skyc_home):
    events: list[dict] = []
    inv = engine.up(StackSpec(stack="two", provider="local", num_nodes=2), on_event=events.append)
    assert [n.name for n in inv.nodes] == ["head", "worker1"]
    assert inv.nodes[0].private_ip != inv.nodes[1].private_ip
    assert Path(inv.ssh_private_key).stat().st_mode & 0o777 == 0o600
    for node in inv.nodes:
        c = pinned_ssh(node, inv.ssh_private_key)
        try:
            _, out, _ = c.exec_command("echo $HOME; hostname >/dev/null && echo ok")
            assert out.read().decode().split() == [node.home, "ok"]
        finally:
            c.close()
    created = {e["name"] for e in events if e["kind"] == "resource_done" and e.get("op") == "create"}
    assert {"head", "worker1"} <= created
    assert engine.stacks() == ["two"]
    assert engine.version("two") == 1
    assert engine.last_spec("two").num_nodes == 2
    assert engine.inventory("two") == inv
    assert len(sshd_pids_under(skyc_home)) == 2

    engine.destroy("two")
    assert sshd_pids_under(skyc_home) == []
    assert not (skyc_home / "local" / "two").exists()
    assert engine.stacks() == []
    assert engine.inventory("two") is None


def test_refresh_reports_killed_node_and_up_restores_it(engine):
    inv = engine.up(StackSpec(stack="heal", provider="local", num_nodes=2))
    worker = inv.nodes[1]
    local_node.stop_node("heal", "worker1")
    drift = engine.refresh("heal")
    assert [d["name"] for d in drift["drifted"]] == ["worker1"]
    assert drift["drifted"][0]["change"] == "deleted"
    assert local_node.node_alive("heal", "head")

    inv2 = engine.up(StackSpec(stack="heal", provider="local", num_nodes=2))
    assert local_node.node_alive("heal", "worker1")
    assert inv2.nodes[1].private_ip == worker.private_ip  # same address, same host key
    assert inv2.nodes[1].host_key == worker.host_key
    c = pinned_ssh(inv2.nodes[1], inv2.ssh_private_key)
    c.close()
    assert engine.refresh("heal")["drifted"] == []


def test_stop_and_start_with_spec_stopped(engine):
    spec = StackSpec(stack="sleepy", provider="local")
    inv = engine.up(spec)
    (Path(inv.head.home) / "data.txt").write_text("kept")
    engine.up(spec.model_copy(update={"stopped": True}))
    assert not local_node.node_alive("sleepy", "head")
    assert (Path(inv.head.home) / "data.txt").read_text() == "kept"  # disk survives a stop
    inv2 = engine.up(spec)
    assert local_node.node_alive("sleepy", "head")
    assert inv2.head.private_ip == inv.head.private_ip and inv2.head.host_key == inv.head.host_key
    pinned_ssh(inv2.head, inv2.ssh_private_key).close()


def test_preview_lists_steps_without_changing_anything(engine):
    spec = StackSpec(stack="pv", provider="local", num_nodes=2)
    pv = engine.preview(spec)
    nodes = [s for s in pv["steps"] if s["type"].startswith("pulumi-python:dynamic")]
    assert sorted(s["name"] for s in nodes) == ["head", "worker1"] and all(s["op"] == "create" for s in nodes)
    assert nodes[0]["new_inputs"]["num_nodes"] == 2
    assert not (Path(os.environ["SKYC_HOME"]) / "local" / "pv").exists()
    assert engine.stacks() == []  # previewing a new cluster leaves no empty stack behind
    engine.up(spec)
    pv2 = engine.preview(spec.model_copy(update={"stopped": True}))
    updates = [s for s in pv2["steps"] if s["op"] == "update"]
    assert sorted(s["name"] for s in updates) == ["head", "worker1"]
    assert all("stopped" in s["diffs"] for s in updates)


def test_history_export_and_unknown_stack(engine):
    spec = StackSpec(stack="hist", provider="local")
    engine.up(spec)
    engine.up(spec)  # no-op update
    hist = engine.history("hist")
    assert [h["version"] for h in hist] == [2, 1] and all(h["result"] == "succeeded" for h in hist)
    assert engine.version("hist") == 2
    dep = engine.export("hist")
    types = [r["type"] for r in dep["deployment"]["resources"]]
    assert "pulumi-python:dynamic:Resource" in types
    with pytest.raises(ClusterNotFoundError):
        engine.history("nope")
    with pytest.raises(ClusterNotFoundError):
        engine.refresh("nope")


def test_missing_rsync_is_a_clear_error_naming_the_package(engine, tmp_path, monkeypatch):
    import shutil

    from skyc.errors import MissingDependencyError
    from skyc.stacks import registry

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh-keygen").symlink_to(shutil.which("ssh-keygen"))
    monkeypatch.setenv("PATH", str(bin_dir))  # sshd is still found at /usr/sbin/sshd; rsync is not
    report = registry.get("local").check_credentials()
    assert not report.enabled and "Debian package rsync" in report.reason
    with pytest.raises(MissingDependencyError, match="install the Debian package rsync"):
        engine.up(StackSpec(stack="norsync", provider="local"))
    assert local_node.cluster_nodes("norsync") == []


def test_missing_cli_fails_before_any_process(engine, monkeypatch, tmp_path):
    import shutil

    (tmp_path / "ssh-keygen").symlink_to(shutil.which("ssh-keygen"))
    (tmp_path / "rsync").symlink_to(shutil.which("rsync"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    with pytest.raises(PulumiCLIError, match="pulumi.com/docs/install"):
        engine.up(StackSpec(stack="nocli", provider="local"))
    assert not (Path(os.environ["SKYC_HOME"]) / "logs" / "engine-nocli.log").exists()  # no worker started


def test_scaling_up_keeps_jobs_running_on_existing_nodes(engine):
    inv = engine.up(StackSpec(stack="grow", provider="local", num_nodes=1))
    c = pinned_ssh(inv.head, inv.ssh_private_key)
    c.exec_command("nohup sleep 300 >/dev/null 2>&1 & echo $! > job.pid")
    c.close()
    pidfile = Path(inv.head.home) / "job.pid"
    import time

    for _ in range(100):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        time.sleep(0.05)
    job = int(pidfile.read_text())
    inv2 = engine.up(StackSpec(stack="grow", provider="local", num_nodes=2))
    assert [n.name for n in inv2.nodes] == ["head", "worker1"]
    assert pid_alive(job)  # the head's update did not restart its sessions
    assert inv2.head.host_key == inv.head.host_key
    pinned_ssh(inv2.nodes[1], inv2.ssh_private_key).close()
    engine.destroy("grow")
    assert not pid_alive(job)  # destroy powers the node off, jobs included


def test_failing_progress_callback_does_not_abandon_the_operation(engine):
    def boom(event: dict) -> None:
        if event["kind"] == "resource_pre":
            raise RuntimeError("renderer broke")

    with pytest.raises(RuntimeError, match="renderer broke"):
        engine.up(StackSpec(stack="cb", provider="local"), on_event=boom)
    # The worker finished the update before the error surfaced: state and node are consistent.
    assert local_node.node_alive("cb", "head")
    assert engine.refresh("cb")["drifted"] == []
    assert engine.inventory("cb").head.name == "head"
