"""Runtime tunnels: an HTTP server on a real local node, reached through local port forwards."""

from __future__ import annotations

import os
import signal
import socket
import time
import urllib.error
import urllib.request

import pytest

from skyc.runtime.cluster import ClusterRuntime
from skyc.stacks.base import NodeInfo
from tests.nodes import local_cluster

pytestmark = pytest.mark.timeout(120)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve_http(connector, node: NodeInfo, directory: str, port: int | None = None) -> tuple[int, int]:
    """Start `python3 -m http.server` on the node (bound to the node's own address); (pid, port)."""
    port = port or free_port(node.private_ip)
    res = connector.run(
        f"cd {directory} && (python3 -m http.server {port} --bind {node.private_ip} "
        ">/dev/null 2>&1 </dev/null & echo $!)"
    )
    pid = int(res.text.strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((node.private_ip, port), timeout=1).close()
            return pid, port
        except OSError:
            time.sleep(0.05)
    os.kill(pid, signal.SIGTERM)
    raise AssertionError("the HTTP server on the node did not start")


def fetch(tunnel, path: str = "/hello.txt") -> str:
    host, port = tunnel.address
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=10) as r:
        return r.read().decode()


def test_http_server_on_a_node_through_tunnels():
    with local_cluster(1) as inv, ClusterRuntime(inv) as rt:
        node = inv.head
        rt.head.put(b"hello from the node\n", "www/hello.txt")
        port = free_port(node.private_ip)
        first = rt.pool.tunnel(0, port, remote_host=node.private_ip)
        assert first.local_port != port
        # Nothing listens on the node yet: that one connection is closed, the tunnel stays.
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            fetch(first)
        pid, _ = serve_http(rt.head, node, "www", port)
        try:
            assert fetch(first) == "hello from the node\n"
            second = rt.head.tunnel(port, remote_host=node.private_ip)
            assert fetch(second) == fetch(first) == "hello from the node\n"
            with rt.head.tunnel(port, remote_host=node.private_ip) as third:
                assert fetch(third) == fetch(second) == "hello from the node\n"
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(third.address, timeout=2)

            # The node's SSH connection drops: the next forwarded connection reconnects.
            rt.head.transport().sock.shutdown(socket.SHUT_RDWR)
            assert fetch(second) == fetch(first) == "hello from the node\n"
        finally:
            os.kill(pid, signal.SIGTERM)
        assert not first.closed and not second.closed
    # Closing the runtime closed its tunnels and freed their ports.
    assert first.closed and second.closed
    for t in (first, second):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(t.address, timeout=2)


def test_tunnel_to_an_unreachable_node_fails_naming_it():
    from skyc.errors import NodeConnectionError

    with local_cluster(1) as inv:
        gone = inv.model_copy(update={"nodes": [inv.head.model_copy(update={"ssh_port": free_port(inv.head.private_ip)})]})
        with ClusterRuntime(gone) as rt, pytest.raises(NodeConnectionError, match="cannot connect to node head"):
            rt.pool.tunnel(0, 80)
