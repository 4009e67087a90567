"""Nodes reached only through jump hosts: real sshd nodes on loopback, the targets behind one or
two others. Every check would fail if the runtime, rsync or `ssh` went to a target directly:
while connected, no socket of ours is connected to a target; once the jump host is stopped, the
targets (still running) can no longer be reached."""

from __future__ import annotations

import io
import os
import signal
import socket
import struct
import subprocess
from pathlib import Path

import pytest

from skyc import sshconfig
from skyc.errors import NodeConnectionError
from skyc.runtime.cluster import ClusterRuntime, JobSpec
from skyc.stacks import jump_hosts, local_node
from skyc.stacks.base import Gateway, Inventory, NodeInfo
from tests.nodes import local_cluster
from tests.test_tunnel import fetch, serve_http

pytestmark = pytest.mark.timeout(180)


def gateway_of(jump_inv: Inventory, rank: int = 0, **kw) -> Gateway:
    j = jump_inv.nodes[rank]
    return Gateway(address=j.private_ip, port=j.ssh_port, user=j.ssh_user, key=jump_inv.ssh_private_key,
                   host_key=j.host_key, **kw)


def behind(inv: Inventory, gw: Gateway) -> Inventory:
    return inv.model_copy(update={"nodes": [n.model_copy(update={"gateway": gw}) for n in inv.nodes]})


def our_tcp_peers() -> set[tuple[str, int]]:
    """Remote (address, port) of every TCP socket this process holds."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    peers = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[9] in inodes:
            addr, port = f[2].split(":")
            peers.add((socket.inet_ntoa(struct.pack("<I", int(addr, 16))), int(port, 16)))
    return peers


@pytest.fixture
def jump_and_target():
    with local_cluster(1) as jump_inv, local_cluster(2) as target_inv:
        yield jump_inv, behind(target_inv, gateway_of(jump_inv))


def test_runtime_rsync_jobs_and_tunnels_go_through_the_jump_host(jump_and_target, tmp_path):
    jump_inv, inv = jump_and_target
    jump = jump_inv.head
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "f.txt").write_text("via-jump")
    with ClusterRuntime(inv) as rt:
        assert rt.head.run("echo $HOME").text.strip() == inv.head.home
        assert rt.pool.get(1).run("echo $HOME").text.strip() == inv.nodes[1].home
        peers = our_tcp_peers()
        assert (jump.private_ip, jump.ssh_port) in peers
        assert not peers & {(n.private_ip, n.ssh_port) for n in inv.nodes}  # never straight to a target

        rt.sync_workdir(str(wd))  # rsync over ssh with ProxyJump
        for n in inv.nodes:
            assert (Path(n.home) / "sky_workdir" / "f.txt").read_text() == "via-jump"
        jid = rt.submit(JobSpec(name="j", run="cat f.txt; echo \" rank $SKYPILOT_NODE_RANK\"", setup=None, num_nodes=2))
        out = io.BytesIO()
        assert rt.follow_logs(jid, out=out) == "SUCCEEDED"
        assert out.getvalue().decode().count("via-jump rank") == 2

        worker = inv.nodes[1]
        rt.pool.get(1).put(b"probe ok\n", "www/hello.txt")
        pid, port = serve_http(rt.pool.get(1), worker, "www")
        try:  # a probe of a port on a node behind the jump host
            with rt.pool.tunnel(1, port, remote_host=worker.private_ip) as t:
                assert fetch(t) == "probe ok\n"
        finally:
            os.kill(pid, signal.SIGTERM)

    local_node.stop_node(jump_inv.stack, "head")  # the jump host goes away; the targets keep running
    assert all(local_node.node_alive(inv.stack, n.name) for n in inv.nodes)
    with ClusterRuntime(inv) as rt:
        with pytest.raises(NodeConnectionError, match=rf"cannot connect to gateway .*{jump.private_ip}"):
            rt.queue()
        with pytest.raises(NodeConnectionError, match="rsync to node head"):
            rt.sync_workdir(str(wd))


def test_jump_host_keys_are_pinned(jump_and_target, tmp_path):
    jump_inv, inv = jump_and_target
    wrong = behind(inv, gateway_of(jump_inv).model_copy(update={"host_key": inv.head.host_key}))
    with ClusterRuntime(wrong) as rt:
        with pytest.raises(NodeConnectionError, match="host key mismatch for gateway"):
            rt.queue()
        with pytest.raises(NodeConnectionError, match="rsync to node head"):
            rt.sync_workdir(str(tmp_path))
    unpinned = behind(inv, gateway_of(jump_inv).model_copy(update={"host_key": None}))
    with ClusterRuntime(unpinned) as rt:
        with pytest.raises(NodeConnectionError, match="gateway .* no pinned host key"):
            rt.queue()
        with pytest.raises(NodeConnectionError, match="jump host .* no pinned host key"):
            rt.sync_workdir(str(tmp_path))


def test_two_hops_from_an_ssh_config_file(tmp_path, skyc_home):
    """A `~/.slurm/config`-style file: compute behind login behind bastion, in both ProxyJump forms."""
    with local_cluster(2) as jumps, local_cluster(1) as target_inv:
        bastion, login = jumps.nodes
        target = target_inv.head
        entry = "Host {alias}\n  HostName {n.private_ip}\n  Port {n.ssh_port}\n  User {n.ssh_user}\n  IdentityFile {key}\n"
        conf = tmp_path / "config"
        conf.write_text(
            entry.format(alias="bastion", n=bastion, key=jumps.ssh_private_key)
            + entry.format(alias="login", n=login, key=jumps.ssh_private_key) + "  ProxyJump bastion\n"
            + entry.format(alias="compute", n=target, key=target_inv.ssh_private_key) + "  ProxyJump login\n"
            + entry.format(alias="compute2", n=target, key=target_inv.ssh_private_key) + "  ProxyJump bastion,login\n"
        )
        known = tmp_path / "known_hosts"
        known.write_text("".join(sshconfig.known_hosts_line(n.private_ip, n.ssh_port, n.host_key)
                                 for n in (bastion, login, target)))

        gw = jump_hosts.resolve("compute", conf, known_hosts=known)
        assert jump_hosts.resolve("compute2", conf, known_hosts=known) == gw
        assert (gw.address, gw.port, gw.host_key) == (target.private_ip, target.ssh_port, target.host_key)
        assert gw.gateway.address == login.private_ip and gw.gateway.gateway.address == bastion.private_ip
        assert gw.gateway.gateway.gateway is None and gw.gateway.key == jumps.ssh_private_key

        node = NodeInfo(name="head", rank=0, private_ip=gw.address, ssh_port=gw.port, ssh_user=gw.user,
                        host_key=gw.host_key, gateway=gw.gateway, home=target.home)
        inv = Inventory(stack=target_inv.stack, provider="slurm", ssh_private_key=gw.key, nodes=[node])
        wd = tmp_path / "wd"
        wd.mkdir()
        (wd / "two.txt").write_text("two hops")
        with ClusterRuntime(inv) as rt:
            assert rt.head.run("echo $HOME").text.strip() == target.home
            assert (login.private_ip, login.ssh_port) not in our_tcp_peers()  # login is reached via bastion
            rt.sync_workdir(str(wd))
        assert (Path(target.home) / "sky_workdir" / "two.txt").read_text() == "two hops"

        # `ssh <cluster>` from the Host entries skyc writes (read alone with -F)
        sshconfig.add_cluster(inv, include=False)
        ssh = subprocess.run(["ssh", "-F", str(sshconfig.config_path()), "-o", "BatchMode=yes", inv.stack, "echo $HOME"],
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert ssh.returncode == 0 and ssh.stdout.strip() == target.home, ssh.stderr

        local_node.stop_node(jumps.stack, bastion.name)  # the outermost hop goes away
        with ClusterRuntime(inv) as rt:
            with pytest.raises(NodeConnectionError, match="gateway"):
                rt.queue()
            with pytest.raises(NodeConnectionError, match="rsync to node head"):
                rt.sync_workdir(str(wd))


def test_unknown_alias_and_missing_file_are_clear(tmp_path):
    from skyc.errors import SpecError

    conf = tmp_path / "config"
    conf.write_text("Host login\n  HostName 10.0.0.1\n")
    with pytest.raises(SpecError, match="no `Host other` entry"):
        jump_hosts.resolve("other", conf)
    with pytest.raises(SpecError, match="does not exist"):
        jump_hosts.resolve("login", tmp_path / "nope")
    gw = jump_hosts.resolve("login", conf, known_hosts=tmp_path / "empty")
    assert gw.host_key is None and gw.port == 22  # the runtime refuses it until a key is recorded
