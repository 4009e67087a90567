"""Faults on the real engine: concurrent operations, interrupted `up`, stale locks, orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from skyc.errors import PulumiCLIError, StackBusyError
from skyc.stacks import local_node, pulumi_cli
from skyc.stacks.base import StackSpec
from skyc.stacks.lock import pid_alive

try:
    pulumi_cli.find(build_if_missing=False)
except PulumiCLIError as e:  # pragma: no cover - depends on the machine
    pytest.skip(f"no Pulumi CLI: {e}", allow_module_level=True)

from tests.nodes import pinned_ssh, procs_with, sshd_pids_under  # noqa: E402


def _orphan_plugins(skyc_home: Path) -> list[int]:
    """Dynamic-provider plugins of this SKYC_HOME still running."""
    found = []
    for pid in procs_with(b"pulumi.dynamic"):
        try:
            if f"SKYC_HOME={skyc_home}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append(pid)
        except OSError:
            pass
    return found


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def _wait(cond, timeout=60.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return False


def test_concurrent_up_one_runs_other_gets_busy(engine):
    spec = StackSpec(stack="race", provider="local", num_nodes=2)
    results: dict[str, object] = {}

    def run(tag: str) -> None:
        try:
            results[tag] = engine.up(spec)
        except Exception as e:  # noqa: BLE001
            results[tag] = e

    threads = [threading.Thread(target=run, args=(t,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    busy = [r for r in results.values() if isinstance(r, StackBusyError)]
    ok = [r for r in results.values() if not isinstance(r, Exception)]
    assert len(busy) == 1 and len(ok) == 1, results
    assert "cluster race is busy" in str(busy[0]) and "operation up" in str(busy[0])
    assert engine.refresh("race")["drifted"] == []  # state matches reality
    assert engine.version("race") == 2  # the up and the refresh, nothing else
    assert all(local_node.node_alive("race", n) for n in ("head", "worker1"))


_UP_SCRIPT = textwrap.dedent(
    """
    import sys
    from skyc.stacks.engine import Engine
    from skyc.stacks.base import StackSpec
    Engine().up(StackSpec(stack="intr", provider="local", num_nodes=int(sys.argv[1])))
    """
)


def _start_up(skyc_home: Path, nodes: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _UP_SCRIPT, str(nodes)],
        env={**os.environ, "SKYC_HOME": str(skyc_home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _worker_of(caller: subprocess.Popen) -> int:
    assert _wait(lambda: any(b"skyc.stacks.worker" in Path(f"/proc/{p}/cmdline").read_bytes() for p in _children(caller.pid)))
    return next(p for p in _children(caller.pid) if b"skyc.stacks.worker" in Path(f"/proc/{p}/cmdline").read_bytes())


def test_sigkill_mid_up_then_destroy_leaves_no_orphans(engine, skyc_home):
    caller = _start_up(skyc_home, 4)
    worker = _worker_of(caller)
    # Kill everything of ours the moment the first node is up: the rest are half-made.
    assert _wait(lambda: len(sshd_pids_under(skyc_home)) >= 1)
    pulumi_procs = [p for p in _children(worker)]
    for pid in [caller.pid, worker]:
        os.kill(pid, signal.SIGKILL)
    caller.wait()
    assert _wait(lambda: not pid_alive(worker))  # SIGKILL is asynchronous
    # A new operation right away: the dead holder's flock is gone, Pulumi's stale lock is cleared.
    engine.destroy("intr")
    assert sshd_pids_under(skyc_home) == []
    assert not (skyc_home / "local" / "intr").exists()
    assert engine.stacks() == []
    for pid in pulumi_procs:  # the orphaned CLI was stopped too
        assert _wait(lambda: not pid_alive(pid), timeout=15)
    assert _orphan_plugins(skyc_home) == []


def test_sigkill_mid_up_then_up_completes(engine, skyc_home):
    caller = _start_up(skyc_home, 3)
    worker = _worker_of(caller)
    assert _wait(lambda: len(sshd_pids_under(skyc_home)) >= 1)
    os.kill(caller.pid, signal.SIGKILL)
    os.kill(worker, signal.SIGKILL)
    caller.wait()
    assert _wait(lambda: not pid_alive(worker))
    inv = engine.up(StackSpec(stack="intr", provider="local", num_nodes=3))
    assert len(inv.nodes) == 3
    for node in inv.nodes:
        pinned_ssh(node, inv.ssh_private_key).close()
    assert len(sshd_pids_under(skyc_home)) == 3  # one listener per node, no duplicate
    engine.destroy("intr")
    assert sshd_pids_under(skyc_home) == []
    assert _orphan_plugins(skyc_home) == []


def test_sigint_to_worker_cancels_cleanly(engine, skyc_home):
    caller = _start_up(skyc_home, 4)
    worker = _worker_of(caller)
    assert _wait(lambda: len(sshd_pids_under(skyc_home)) >= 1)
    os.kill(worker, signal.SIGINT)
    _, err = caller.communicate(timeout=120)
    # Either the cancel landed (up fails with an engine error) or the update had already finished.
    assert caller.returncode != 0 and b"EngineError" in err or caller.returncode == 0
    inv = engine.up(StackSpec(stack="intr", provider="local", num_nodes=4))
    assert [n.name for n in inv.nodes] == ["head", "worker1", "worker2", "worker3"]
    assert len(sshd_pids_under(skyc_home)) == 4
    engine.destroy("intr")
    assert sshd_pids_under(skyc_home) == []


def test_busy_error_names_holder_and_dead_holder_lock_is_recovered(engine, skyc_home):
    from skyc.stacks.lock import StackLock

    held = StackLock("held", "destroy")
    held.acquire()
    try:
        with pytest.raises(StackBusyError, match=rf"cluster held is busy \(pid {os.getpid()}, operation destroy\)"):
            engine.up(StackSpec(stack="held", provider="local"))
    finally:
        held.release()
    # A lock taken by a process that then died (SIGKILL, no clean-up) does not block anyone.
    code = "from skyc.stacks.lock import StackLock; import os; StackLock('held', 'up').acquire(); os.kill(os.getpid(), 9)"
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "SKYC_HOME": str(skyc_home)})
    inv = engine.up(StackSpec(stack="held", provider="local"))
    assert local_node.node_alive("held", inv.head.name)


def test_concurrent_ups_on_different_stacks_both_succeed(engine, skyc_home):
    results: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            results[name] = engine.up(StackSpec(stack=name, provider="local"))
        except Exception as e:  # noqa: BLE001
            results[name] = e

    threads = [threading.Thread(target=run, args=(n,)) for n in ("par1", "par2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(not isinstance(r, Exception) for r in results.values()), results
    assert results["par1"].head.private_ip != results["par2"].head.private_ip
    assert engine.stacks() == ["par1", "par2"]
    assert len(sshd_pids_under(skyc_home)) == 2


def test_ctrl_c_in_caller_cancels_worker_and_state_stays_usable(engine, skyc_home):
    caller = _start_up(skyc_home, 4)
    worker = _worker_of(caller)
    assert _wait(lambda: len(sshd_pids_under(skyc_home)) >= 1)
    os.kill(caller.pid, signal.SIGINT)  # what a terminal Ctrl-C delivers to the skyc process
    _, err = caller.communicate(timeout=120)
    assert caller.returncode != 0 and b"KeyboardInterrupt" in err
    assert not pid_alive(worker)  # the caller waited for its worker
    inv = engine.up(StackSpec(stack="intr", provider="local", num_nodes=4))
    assert len(inv.nodes) == 4 and len(sshd_pids_under(skyc_home)) == 4
    engine.destroy("intr")
    assert sshd_pids_under(skyc_home) == [] and _orphan_plugins(skyc_home) == []


def test_half_written_state_files_are_repaired(engine, skyc_home):
    """What a CLI killed mid-write leaves in a file backend: a 0-byte .attrs sidecar, a temp file
    never renamed, a stale lock; the next operation must still work."""
    spec = StackSpec(stack="torn", provider="local")
    engine.up(spec)
    engine.up(spec.model_copy(update={"num_nodes": 2}))  # leaves a .bak of the checkpoint
    stacks = skyc_home / "state" / ".pulumi" / "stacks" / "skyc"
    (stacks / "torn.json.attrs").write_text("")
    (stacks / "torn.json.18ec3c6663f5455e.tmp").write_text('{"version": 3')
    locks = skyc_home / "state" / ".pulumi" / "locks" / "organization" / "skyc" / "torn"
    locks.mkdir(parents=True, exist_ok=True)
    (locks / "dead.json").write_text('{"pid": 999999, "username": "x", "hostname": "y"}')
    assert engine.refresh("torn")["drifted"] == []
    assert not (stacks / "torn.json.18ec3c6663f5455e.tmp").exists() and not list(locks.iterdir())
    # A torn checkpoint falls back to the backup Pulumi keeps next to it.
    (stacks / "torn.json").write_text('{"version": 3, "checkp')
    inv = engine.up(spec.model_copy(update={"num_nodes": 2}))
    assert [n.name for n in inv.nodes] == ["head", "worker1"]
    engine.destroy("torn")
    assert sshd_pids_under(skyc_home) == []
