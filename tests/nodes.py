"""Test helper: real local sshd nodes without Pulumi.

    from tests.nodes import local_cluster

    def test_something(skyc_home):
        with local_cluster(2) as inv:          # Inventory with 2 running nodes
            node = inv.head                    # private_ip, ssh_port, ssh_user, host_key, home
            key = inv.ssh_private_key          # path of the cluster's private key

Every node is stopped and its directory removed on exit, even when the test fails.
Also: `pinned_ssh` (a Paramiko client that trusts only the node's recorded host key) and
`sshd_pids_under` (the process-table check that nothing was left running).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import os
from pathlib import Path
from typing import Iterator

import paramiko

from skyc.stacks import local_node
from skyc.stacks.base import Inventory, NodeInfo
from skyc.stacks.keys import cluster_key, remove_cluster_key

_seq = itertools.count()


@contextlib.contextmanager
def local_cluster(n: int = 1, home: Path | str | None = None, cluster: str | None = None) -> Iterator[Inventory]:
    """Start `n` real sshd nodes with a fresh cluster key; yield their Inventory; clean up.

    `home` overrides SKYC_HOME for the duration (the autouse fixture already sets one per test).
    """
    old_home = os.environ.get("SKYC_HOME")
    if home is not None:
        os.environ["SKYC_HOME"] = str(home)
    cluster = cluster or f"t{os.getpid()}-{next(_seq)}"
    names = ["head"] + [f"worker{i}" for i in range(1, n)]
    try:
        key_path, public_key = cluster_key(cluster)
        nodes = []
        try:
            for rank, name in enumerate(names):
                addr = local_node.allocate_address(cluster, name)
                facts = local_node.start_node(cluster, name, addr, public_key, rank=rank, num_nodes=n)
                nodes.append(NodeInfo(**local_node.node_info(facts, rank)))
            yield Inventory(stack=cluster, provider="local", ssh_private_key=str(key_path), nodes=nodes)
        finally:
            for name in names:
                local_node.remove_node(cluster, name)
            remove_cluster_key(cluster)
    finally:
        if home is not None:
            if old_home is None:
                os.environ.pop("SKYC_HOME", None)
            else:
                os.environ["SKYC_HOME"] = old_home


def pinned_ssh(node: NodeInfo, key: str) -> paramiko.SSHClient:
    """Connect to `node` with the cluster key, accepting only its recorded host key."""
    client = paramiko.SSHClient()
    kt, kb = node.host_key.split()[:2]
    client.get_host_keys().add(f"[{node.private_ip}]:{node.ssh_port}", kt,
                               paramiko.PKey.from_type_string(kt, base64.b64decode(kb)))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(node.private_ip, port=node.ssh_port, username=node.ssh_user, key_filename=key,
                   look_for_keys=False, allow_agent=False, timeout=10)
    return client


def procs_with(*needles: bytes) -> list[int]:
    """Pids whose command line (NUL-separated arguments) contains every one of `needles`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if all(n in cmd for n in needles):
                found.append(int(entry.name))
    return found


def sshd_pids_under(root: Path) -> list[int]:
    """sshd listeners whose config lives under `root`."""
    return procs_with(b"sshd", str(root).encode())
