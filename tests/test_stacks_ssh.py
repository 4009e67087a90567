"""SSH node pools end to end: real sshd hosts, the real Pulumi engine and dynamic provider."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml

from skyc.errors import EngineError, ProviderError, SpecError
from skyc.stacks import ssh_pool
from skyc.stacks.base import StackSpec
from skyc.stacks.local_node import META
from tests.nodes import local_cluster, pinned_ssh


def _write_pool(inv, name: str = "lab") -> list[dict]:
    hosts = [{"ip": n.private_ip, "port": n.ssh_port} for n in inv.nodes]
    pool = {
        name: {
            "user": inv.head.ssh_user,
            "identity_file": inv.ssh_private_key,
            # Local test hosts read their keys from the node's sshd directory.
            "authorized_keys": f"~/{META}/authorized_keys",
            "hosts": hosts,
        }
    }
    ssh_pool.pool_file().write_text(yaml.safe_dump(pool))
    return ssh_pool.load_pools()[name].resolved()


def _run(client, cmd: str) -> str:
    _, out, _ = client.exec_command(cmd)
    return out.read().decode().strip()


# ---------------------------------------------------------------- pool file and claims (no engine)


def test_pool_file_formats_and_defaults(skyc_home):
    ssh_pool.pool_file().write_text(
        yaml.safe_dump({"p": {"user": "u", "identity_file": "~/k", "hosts": ["10.0.0.1", {"ip": "10.0.0.2", "port": 2200, "user": "v"}]}})
    )
    hosts = ssh_pool.load_pools()["p"].resolved()
    assert [(h["ip"], h["user"], h["port"]) for h in hosts] == [("10.0.0.1", "u", 22), ("10.0.0.2", "v", 2200)]
    assert hosts[0]["identity_file"] == str(Path("~/k").expanduser())
    assert ssh_pool.pool_name("ssh-p") == "p" and ssh_pool.pool_name("p") == "p"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"p": {"hosts": ["h"], "password": "x"}}, "p.password"),
        ({"p": {"hosts": ["h"], "colour": 1}}, "p.colour"),
        ({"p": {"user": "u"}}, "p.hosts"),
    ],
)
def test_bad_pool_file_names_the_field(skyc_home, body, field):
    ssh_pool.pool_file().write_text(yaml.safe_dump(body))
    with pytest.raises(SpecError) as e:
        ssh_pool.load_pools()
    assert e.value.issues[0].field == field


def test_claims_are_exclusive_under_concurrency(skyc_home):
    host = {"ip": "10.9.9.9", "user": "u", "port": 22}
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def grab(i: int) -> None:
        barrier.wait()
        if ssh_pool.claim("p", host, f"c{i}", "head"):
            wins.append(f"c{i}")

    threads = [threading.Thread(target=grab, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert ssh_pool.claim("p", host, wins[0], "head")  # idempotent for the holder
    ssh_pool.release(wins[0], "head")
    assert ssh_pool.claim("p", host, "other", "head")


def test_unknown_pool_and_too_few_hosts_are_clear_errors(skyc_home):
    from skyc.stacks.registry import get

    ssh_pool.pool_file().write_text(yaml.safe_dump({"lab": {"hosts": ["10.0.0.1"]}}))
    with pytest.raises(SpecError, match="no SSH node pool 'nope'"):
        get("ssh").validate(StackSpec(stack="c", provider="ssh", region="ssh-nope"))
    with pytest.raises(ProviderError, match="has 1 host"):
        get("ssh").validate(StackSpec(stack="c", provider="ssh", region="lab", num_nodes=2))


def test_claim_host_directly_authorises_and_release_cleans(skyc_home):
    with local_cluster(2) as inv:
        hosts = _write_pool(inv)
        facts = ssh_pool.claim_host("lab", hosts, "direct", "head", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDirectTestKeyxxxxxxxxxxxxxxxxxxxxxxxxxxx x")
        assert facts["host_key"] == inv.head.host_key
        keys = Path(inv.head.home) / META / "authorized_keys"
        assert "skyc-cluster=direct" in keys.read_text()
        (Path(inv.head.home) / ".skyc").mkdir()
        ssh_pool.release_host(facts["host"], "direct")
        ssh_pool.release("direct", "head")
        assert "skyc-cluster=direct" not in keys.read_text()
        assert not (Path(inv.head.home) / ".skyc").exists()
        assert ssh_pool.claims() == []


def test_unreachable_host_is_skipped(skyc_home):
    with local_cluster(1) as inv:
        hosts = _write_pool(inv)
        dead = {**hosts[0], "ip": "127.0.0.1", "port": 1}  # nothing listens on port 1
        facts = ssh_pool.claim_host("lab", [dead, hosts[0]], "c", "head", inv.head.host_key)
        assert facts["ip"] == hosts[0]["ip"]
        with pytest.raises(ProviderError, match="cannot reach pool host"):
            ssh_pool.claim_host("lab", [dead], "c2", "head", inv.head.host_key)
        assert [r["cluster"] for r in ssh_pool.claims()] == ["c"]


# ---------------------------------------------------------------- through the engine


def test_pool_cluster_up_run_destroy_and_reclaim(engine, skyc_home):
    with local_cluster(3) as hosts_inv:
        _write_pool(hosts_inv)
        inv = engine.up(StackSpec(stack="pa", provider="ssh", region="ssh-lab", num_nodes=2))
        assert [n.name for n in inv.nodes] == ["head", "worker1"]
        addrs = {(n.private_ip, n.ssh_port) for n in inv.nodes}
        assert len(addrs) == 2
        by_addr = {(n.private_ip, n.ssh_port): n for n in hosts_inv.nodes}
        for node in inv.nodes:
            host = by_addr[(node.private_ip, node.ssh_port)]
            assert node.host_key == host.host_key
            # The cluster's own key (not the pool's) logs in, with the host key pinned.
            client = pinned_ssh(node, inv.ssh_private_key)
            try:
                assert _run(client, "echo hi-from-$(hostname >/dev/null; echo node)") == "hi-from-node"
                _run(client, "mkdir -p ~/.skyc/jobs && touch ~/.skyc/jobs/1")
            finally:
                client.close()

        # Only one free host is left: a 2-node cluster cannot get it, a 1-node one can.
        with pytest.raises(EngineError, match="no free host"):
            engine.up(StackSpec(stack="pb", provider="ssh", region="lab", num_nodes=2))
        engine.destroy("pb")
        single = engine.up(StackSpec(stack="pc", provider="ssh", region="lab", num_nodes=1))
        assert (single.head.private_ip, single.head.ssh_port) not in addrs
        assert sorted(r["cluster"] for r in ssh_pool.claims()) == ["pa", "pa", "pc"]

        engine.destroy("pa")
        assert sorted(r["cluster"] for r in ssh_pool.claims()) == ["pc"]
        for node in inv.nodes:
            home = Path(by_addr[(node.private_ip, node.ssh_port)].home)
            assert "skyc-cluster=pa" not in (home / META / "authorized_keys").read_text()
            assert not (home / ".skyc").exists()
        # The released hosts can be claimed again.
        again = engine.up(StackSpec(stack="pd", provider="ssh", region="lab", num_nodes=2))
        assert {(n.private_ip, n.ssh_port) for n in again.nodes} == addrs
        engine.destroy("pd")
        engine.destroy("pc")
        assert ssh_pool.claims() == []
