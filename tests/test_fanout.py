"""Running on every node at once (ThreadingGroup over the pooled connectors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skyc.errors import NodeConnectionError
from skyc.runtime.connection import ConnectionPool
from skyc.stacks import local_node
from tests.nodes import local_cluster

pytestmark = pytest.mark.timeout(120)


def test_run_and_put_on_every_node_and_a_dead_node_named():
    with local_cluster(3) as inv:
        pool = ConnectionPool(inv)
        try:
            results = pool.run_all('echo "$HOME"')
            assert [r.text.strip() for r in results] == [n.home for n in inv.nodes]
            pool.put_all(b"\x00\xffsecret", "cfg/s.bin", mode=0o600)
            for n in inv.nodes:
                f = Path(n.home) / "cfg" / "s.bin"
                assert f.read_bytes() == b"\x00\xffsecret" and f.stat().st_mode & 0o777 == 0o600
            assert pool.get(2).get("cfg/s.bin") == b"\x00\xffsecret"
            with pytest.raises(NodeConnectionError, match="cannot read nope.txt on node worker1"):
                pool.get(1).get("nope.txt")

            local_node.stop_node(inv.stack, "worker1")
            with pytest.raises(NodeConnectionError, match="node worker1"):
                pool.run_all("true")
            assert [r.exit_code for r in pool.run_all("exit 3", nodes=[inv.nodes[0], inv.nodes[2]])] == [3, 3]
        finally:
            pool.close()
