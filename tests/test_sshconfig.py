"""SSH config entries: one marked block per cluster, pinned host keys, one Include line."""

from __future__ import annotations

import subprocess

import pytest

from skyc import paths, sshconfig
from skyc.stacks.base import Inventory, NodeInfo
from tests.nodes import local_cluster


@pytest.fixture
def user_home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    return h


def _inv(name: str, n: int = 2) -> Inventory:
    nodes = [NodeInfo(name=f"n{i}", rank=i, private_ip=f"127.0.0.{i + 2}", ssh_port=2222, ssh_user="me",
                      host_key="ssh-ed25519 AAAAkey host") for i in range(n)]
    return Inventory(stack=name, provider="local", ssh_private_key="/k/" + name, nodes=nodes)


def test_blocks_added_replaced_and_removed(user_home):
    sshconfig.add_cluster(_inv("a"))
    sshconfig.add_cluster(_inv("b", 1))
    sshconfig.add_cluster(_inv("a", 3))  # relaunch replaces, never duplicates
    text = sshconfig.config_path().read_text()
    assert text.count("Host a\n") == 1 and "Host a-worker2" in text and "Host b\n" in text
    assert sshconfig.clusters() == ["b", "a"]
    kh = sshconfig.known_hosts_path("a").read_text()
    assert "[127.0.0.2]:2222 ssh-ed25519 AAAAkey" in kh
    sshconfig.remove_cluster("a")
    assert sshconfig.clusters() == ["b"] and not sshconfig.known_hosts_path("a").exists()
    assert (sshconfig.config_path().stat().st_mode & 0o777) == 0o600


def test_include_line_added_once_on_top(user_home):
    cfg = user_home / ".ssh" / "config"
    cfg.parent.mkdir()
    cfg.write_text("Host mine\n  User someone\n")
    sshconfig.add_cluster(_inv("a"))
    sshconfig.add_cluster(_inv("b"))
    text = cfg.read_text()
    line = f"Include {paths.ssh_dir() / 'config'}"
    assert text.splitlines()[1] == line and text.count(line) == 1 and "Host mine" in text
    assert sshconfig.INCLUDE_COMMENT in text


def test_include_can_be_disabled(user_home):
    (paths.home()).mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text("ssh_config: false\n")
    sshconfig.add_cluster(_inv("a"))
    assert not (user_home / ".ssh" / "config").exists()
    assert sshconfig.clusters() == ["a"]


def test_ssh_by_name_reaches_a_real_node(user_home):
    with local_cluster(2, cluster="realc") as inv:
        sshconfig.add_cluster(inv)
        for alias in ("realc", "realc-worker1"):
            r = subprocess.run(["ssh", "-F", str(user_home / ".ssh" / "config"), alias, "echo $HOME"],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
        assert r.stdout.strip().endswith("worker1")
        sshconfig.remove_cluster("realc")
