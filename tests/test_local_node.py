"""Local nodes on real sshd: address allocation, start/stop, sessions, sftp, clean-up."""

from __future__ import annotations

import io
import multiprocessing
import os
import subprocess
import time
from pathlib import Path

import paramiko
import pytest

from skyc.errors import ProviderError
from skyc.stacks import local_node
from skyc.stacks.lock import pid_alive
from tests.nodes import local_cluster, pinned_ssh


def _run(client: paramiko.SSHClient, cmd: str) -> str:
    _, out, _ = client.exec_command(cmd, timeout=10)
    data = out.read().decode()
    assert out.channel.recv_exit_status() == 0
    return data


def test_allocate_address_stable_unique_and_never_127_0_0_1():
    a = local_node.allocate_address("c1", "head")
    b = local_node.allocate_address("c1", "worker1")
    c = local_node.allocate_address("c2", "head")
    assert len({a, b, c}) == 3
    assert local_node.allocate_address("c1", "head") == a
    for addr in (a, b, c):
        octets = [int(x) for x in addr.split(".")]
        assert octets[0] == 127 and octets[1] != 0 and 2 <= octets[3] <= 254
    local_node.release_address("c1", "head")
    assert local_node.allocate_address("c1", "head")  # still allocatable after release


def _alloc_many(args):
    home, worker = args
    os.environ["SKYC_HOME"] = home
    return [local_node.allocate_address(f"cl{worker}", f"n{i}") for i in range(20)]


def test_allocate_address_concurrent_processes_never_collide(skyc_home):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.map(_alloc_many, [(str(skyc_home), w) for w in range(4)])
    flat = [a for r in results for a in r]
    assert len(flat) == 80 and len(set(flat)) == 80


def test_allocate_skips_address_in_use(skyc_home):
    import socket

    first = next(local_node._candidates())
    s = socket.socket()
    s.bind((first, local_node.DEFAULT_PORT))
    s.listen()
    try:
        assert local_node.allocate_address("busy", "head") != first
    finally:
        s.close()


def test_bad_names_are_rejected():
    with pytest.raises(ProviderError, match="invalid cluster name"):
        local_node.allocate_address("../etc", "head")


def test_two_nodes_ssh_home_env_sftp_and_cleanup(skyc_home):
    with local_cluster(2) as inv:
        head, worker = inv.nodes
        assert head.private_ip != worker.private_ip
        assert os.stat(inv.ssh_private_key).st_mode & 0o777 == 0o600
        for node in inv.nodes:
            c = pinned_ssh(node, inv.ssh_private_key)
            try:
                assert _run(c, "echo $HOME").strip() == node.home
                assert _run(c, "pwd").strip() == node.home
                assert _run(c, "echo $SSH_CONNECTION").split()[2] == node.private_ip
                sftp = c.open_sftp()
                sftp.putfo(io.BytesIO(b"hello"), "greeting.txt")
                sftp.close()
                assert (Path(node.home) / "greeting.txt").read_bytes() == b"hello"
            finally:
                c.close()
        assert Path(head.home).parent.name == inv.stack
        cluster, homes = inv.stack, [n.home for n in inv.nodes]
        pids = [local_node._sshd_pid(cluster, n.name) for n in inv.nodes]
        assert all(pids)
    for pid in pids:
        assert not pid_alive(pid)
    for h in homes:
        assert not Path(h).exists()


def test_stop_kills_sessions_and_start_keeps_address_and_host_key(skyc_home):
    with local_cluster(1) as inv:
        node = inv.head
        c = pinned_ssh(node, inv.ssh_private_key)
        # A background job that outlives its session, as a user's training job would.
        c.exec_command("nohup sleep 300 >/dev/null 2>&1 & echo $! > bg.pid")
        c.close()
        pidfile = Path(node.home) / "bg.pid"
        for _ in range(100):
            if pidfile.exists() and pidfile.read_text().strip():
                break
            time.sleep(0.05)
        bg = int(pidfile.read_text())
        assert pid_alive(bg)
        assert local_node.stop_node(inv.stack, node.name)
        assert not local_node.node_alive(inv.stack, node.name)
        assert not pid_alive(bg)
        assert Path(node.home).is_dir()  # stop keeps the disk
        _, pub = __import__("skyc.stacks.keys", fromlist=["x"]).cluster_key(inv.stack)
        facts = local_node.start_node(inv.stack, node.name, node.private_ip, pub)
        assert facts["host_key"] == node.host_key and facts["address"] == node.private_ip
        c = pinned_ssh(node, inv.ssh_private_key)
        assert _run(c, "cat greeting.txt 2>/dev/null; echo ok").strip() == "ok"
        c.close()


def test_rsync_lands_in_node_home(skyc_home, tmp_path):
    if not __import__("shutil").which("rsync"):
        pytest.skip("rsync is not installed")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("A")
    with local_cluster(1) as inv:
        n = inv.head
        ssh = (f"ssh -i {inv.ssh_private_key} -p {n.ssh_port} -o StrictHostKeyChecking=no "
               f"-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR")
        subprocess.run(["rsync", "-az", "-e", ssh, f"{src}/", f"{n.ssh_user}@{n.private_ip}:sky_workdir/"], check=True)
        assert (Path(n.home) / "sky_workdir" / "a.txt").read_text() == "A"


def test_resources_report_host_cpus_and_memory():
    res = local_node.node_resources(0, 2)
    assert res["cpus"] == float(os.cpu_count())
    assert res["memory"] > 0
    if not local_node.host_gpus():
        assert res["accelerators"] == {} and res["env"] == {}


def test_sweep_finds_node_whose_pidfile_was_lost(skyc_home):
    _, pub = __import__("skyc.stacks.keys", fromlist=["x"]).cluster_key("orphan")
    addr = local_node.allocate_address("orphan", "head")
    facts = local_node.start_node("orphan", "head", addr, pub)
    (local_node.node_dir("orphan", "head") / local_node.META / "sshd.pid").unlink()
    assert not local_node.node_alive("orphan", "head")  # invisible through the pidfile...
    assert local_node.sweep_cluster("orphan") == ["head"]
    assert not pid_alive(facts["pid"])  # ...but swept by its config path
    assert not local_node.node_dir("orphan", "head").exists()


def test_cluster_key_created_once_under_concurrency(skyc_home):
    import threading

    from skyc.stacks.keys import cluster_key, fingerprint

    got = []
    threads = [threading.Thread(target=lambda: got.append(cluster_key("shared"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and len({pub for _, pub in got}) == 1
    path, pub = got[0]
    assert os.stat(path).st_mode & 0o777 == 0o600 and fingerprint(pub).startswith("SHA256:")
    out = subprocess.run(["ssh-keygen", "-lf", str(path)], capture_output=True, text=True).stdout
    assert fingerprint(pub) in out  # our fingerprint matches OpenSSH's
