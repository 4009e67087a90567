"""Connectors: run a command, put a file, get a file on one node; a pool with one connection per node.

The runtime never knows what kind of node it talks to. `SSHConnector` is built on
`fabric.Connection`: host keys pinned from the inventory (never trusted on first use, jump hosts
included), keep-alives, reconnect with backoff when a connection drops, gateways (ProxyJump or
ProxyCommand), local port forwards, and every SSH failure turned into a `NodeConnectionError`
that names the node and the cause.
"""

from __future__ import annotations

import abc
import io
import posixpath
import threading
import time
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable

from skyc.errors import NodeConnectionError
from skyc.runtime import pinned
from skyc.runtime.pinned import Gateways, Refused, connect, gateway_label
from skyc.stacks.base import Inventory, NodeInfo

BACKOFF_S = (0.2, 0.5, 1.0, 2.0)


class ConnectionDropped(NodeConnectionError):
    """The connection went away while a command was running (the caller may resume)."""


@dataclass
class CommandResult:
    exit_code: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace")


def node_label(node: NodeInfo) -> str:
    return f"{node.name} ({node.address}:{node.ssh_port})"


class Connector(abc.ABC):
    """Four operations on one node; paths are relative to the node's home unless absolute."""

    node: NodeInfo

    @abc.abstractmethod
    def run(self, command: str, *, stdin: bytes | None = None, timeout: float | None = None) -> CommandResult: ...

    @abc.abstractmethod
    def stream(self, command: str, out: BinaryIO, *, on_data: Callable[[int], None] | None = None) -> int:
        """Run `command`, copying its stdout to `out` as it comes; returns its exit code.
        Raises ConnectionDropped if the connection breaks before the command ends."""

    @abc.abstractmethod
    def put(self, data: bytes, remote_path: str, *, mode: int = 0o644) -> None:
        """Write `data` atomically at `remote_path` (parents created); never readable beyond `mode`."""

    @abc.abstractmethod
    def get(self, remote_path: str) -> bytes: ...

    def rsync(self, src: str, dst: str, extra: list[str] = (), *, compress: bool = False) -> None:
        """Copy a local path to `dst` on the node with real rsync (optional capability)."""
        raise NotImplementedError(f"{type(self).__name__} cannot rsync")

    def close(self) -> None:  # noqa: B027 - optional
        pass


class SSHConnector(Connector):
    """A Fabric connection to one node, reopened with backoff when it drops."""

    def __init__(self, node: NodeInfo, key_path: str | None, ssh_options: Callable[[], Any] | None = None,
                 gateways: Gateways | None = None):
        self.node = node
        self.key_path = key_path
        self._ssh_options = ssh_options  # -> sync.SSHOptions of the inventory, for rsync
        self._own_gateways = gateways is None and node.gateway is not None
        self._gateways = Gateways(key_path) if self._own_gateways else gateways
        self._conn = None
        self._lock = threading.Lock()
        self._tunnels: list = []

    # -- connection

    def _label(self) -> str:
        via = f" via {gateway_label(self.node.gateway)}" if self.node.gateway else ""
        return f"node {node_label(self.node)}{via}"

    def _connect(self):
        node = self.node
        via = self._gateways.connection(node.gateway) if node.gateway is not None else node.proxy_command
        return connect(self._label(), node.address, node.ssh_port, node.ssh_user, self.key_path, node.host_key, via,
                       auth_hint="; is the stack up to date?")

    def connection(self):
        """The open `fabric.Connection`, reconnecting (with backoff) if the connection was lost."""
        with self._lock:
            if self._conn is not None:
                if self._conn.is_connected:
                    return self._conn
                self._drop()
            last: NodeConnectionError | None = None
            for delay in (0.0, *BACKOFF_S):
                time.sleep(delay)
                try:
                    self._conn = self._connect()
                    return self._conn
                except Refused:
                    raise
                except NodeConnectionError as exc:
                    last = exc
            assert last is not None
            raise last

    def transport(self):
        """The live Paramiko transport under the connection (reconnecting if needed)."""
        return self.connection().transport

    def reset(self) -> None:
        """Drop the current connection; the next call reconnects."""
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            pinned.close(conn)

    def _active(self) -> bool:
        conn = self._conn
        return bool(conn is not None and conn.is_connected)

    # -- operations

    def _run(self, command: str, *, stdin: bytes | None = None, timeout: float | None = None, out=None):
        """`Connection.run` with our runner; failures become NodeConnectionError. A command that
        could not start (a half-dead connection) is retried once on a new connection."""
        import paramiko
        from invoke.exceptions import CommandTimedOut, ThreadException

        from skyc.runtime.runner import ENCODING

        streams = {"hide": "stderr", "out_stream": out} if out is not None else {"hide": True}
        for attempt in range(2):
            conn = self.connection()
            try:
                return conn.run(command, warn=True, in_stream=io.BytesIO(stdin or b""), encoding=ENCODING,
                                timeout=timeout, **streams)
            except CommandTimedOut:
                raise NodeConnectionError(f"command timed out after {timeout}s on {self._label()}") from None
            except ThreadException as exc:
                cause = exc.exceptions[0].value
                if isinstance(cause, (paramiko.SSHException, OSError, EOFError)) and not self._active():
                    raise ConnectionDropped(f"connection to {self._label()} dropped: {cause}") from None
                raise cause from None  # e.g. the local side of a stream went away
            except (paramiko.SSHException, OSError, EOFError) as exc:
                if attempt:
                    raise NodeConnectionError(f"{self._label()}: cannot start a command ({exc})") from None
                self.reset()
        raise AssertionError("unreachable")

    def run(self, command: str, *, stdin: bytes | None = None, timeout: float | None = None) -> CommandResult:
        from skyc.runtime.runner import ENCODING

        res = self._run(command, stdin=stdin, timeout=timeout)
        if res.exited == -1 and not self._active():
            raise ConnectionDropped(f"connection to {self._label()} dropped during a command")
        return CommandResult(res.exited, res.stdout.encode(ENCODING), res.stderr.encode(ENCODING))

    def stream(self, command: str, out: BinaryIO, *, on_data: Callable[[int], None] | None = None) -> int:
        from skyc.runtime.runner import ByteSink

        code = self._run(command, out=ByteSink(out, on_data)).exited
        if code == -1:  # no exit status: the connection or the remote process died mid-stream
            raise ConnectionDropped(f"connection to {self._label()} dropped while streaming")
        return code

    def _sftp(self):
        import paramiko

        try:
            return self.connection().sftp()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise NodeConnectionError(f"{self._label()}: cannot open SFTP (is its sftp subsystem enabled?): {exc}") from None

    def put(self, data: bytes, remote_path: str, *, mode: int = 0o644) -> None:
        # SFTP on the open connection: a few milliseconds per file, where a command costs a shell.
        import paramiko

        sftp = self._sftp()
        tmp = f"{remote_path}.tmp.{time.time_ns()}"
        try:
            try:
                f = sftp.open(tmp, "wb")
            except FileNotFoundError:
                _makedirs(sftp, posixpath.dirname(remote_path))
                f = sftp.open(tmp, "wb")
            with f:
                f.chmod(mode)  # before any byte is written
                f.write(data)
            sftp.posix_rename(tmp, remote_path)
        except (OSError, paramiko.SSHException) as exc:
            raise NodeConnectionError(f"cannot write {remote_path} on {self._label()}: {exc}") from None

    def get(self, remote_path: str) -> bytes:
        import paramiko

        buf = io.BytesIO()
        self._sftp()
        try:
            self.connection().get(remote_path, local=buf)
        except (OSError, paramiko.SSHException) as exc:
            raise NodeConnectionError(f"cannot read {remote_path} on {self._label()}: {exc}") from None
        return buf.getvalue()

    def rsync(self, src: str, dst: str, extra: list[str] = (), *, compress: bool = False) -> None:
        from skyc.runtime import sync

        if self._ssh_options is None:
            raise NotImplementedError("this connector was created without an inventory's ssh options")
        sync.rsync(self._ssh_options(), self.node, src, dst, list(extra), compress=compress)

    def tunnel(self, remote_port: int, *, remote_host: str = "localhost", local_port: int = 0,
               local_host: str = "127.0.0.1"):
        """Forward `local_host:local_port` here to `remote_host:remote_port` as this node sees it
        (`ssh -L`); closed with the connector. See `skyc.runtime.tunnel.Tunnel`."""
        from skyc.runtime.tunnel import Tunnel

        t = Tunnel(self, remote_port, remote_host=remote_host, local_port=local_port, local_host=local_host)
        with self._lock:
            self._tunnels = [x for x in self._tunnels if not x.closed] + [t]
        return t

    def close(self) -> None:
        with self._lock:
            tunnels, self._tunnels = self._tunnels, []
        for t in tunnels:
            t.close()
        self.reset()
        if self._own_gateways:
            self._gateways.close()


def _makedirs(sftp, path: str) -> None:
    missing = []
    while path not in ("", ".", "/"):
        try:
            sftp.stat(path)
            break
        except FileNotFoundError:
            missing.append(path)
            path = posixpath.dirname(path)
    for p in reversed(missing):
        sftp.mkdir(p, mode=0o700)


class ConnectionPool:
    """One reusable connector per node of an inventory (jump hosts shared between them)."""

    def __init__(self, inventory: Inventory, factory: Callable[..., Connector] = SSHConnector):
        self.inventory = inventory
        self._factory = factory
        self._conns: dict[str, Connector] = {}
        self._lock = threading.Lock()
        self._ssh = None
        self._gateways = Gateways(inventory.ssh_private_key)

    def ssh_options(self):
        """The inventory's ssh command line (pinned known_hosts, multiplexing), made once."""
        from skyc.runtime.sync import SSHOptions

        with self._lock:
            if self._ssh is None:
                self._ssh = SSHOptions(self.inventory)
            return self._ssh

    def get(self, node: NodeInfo | int = 0) -> Connector:
        if isinstance(node, int):
            node = self.inventory.nodes[node]
        with self._lock:
            conn = self._conns.get(node.name)
            if conn is None:
                conn = self._conns[node.name] = self._factory(
                    node, self.inventory.ssh_private_key, self.ssh_options, self._gateways
                )
            return conn

    def head(self) -> Connector:
        return self.get(self.inventory.head)

    def tunnel(self, node: NodeInfo | int, remote_port: int, **kwargs):
        """A local port forwarded to `remote_port` on `node` (see `SSHConnector.tunnel`)."""
        return self.get(node).tunnel(remote_port, **kwargs)

    def run_all(self, command: str, nodes: list[NodeInfo] | None = None) -> list[CommandResult]:
        """Run `command` on every node at once; results in rank order."""
        return self._each(nodes, "run", command)

    def put_all(self, data: bytes, remote_path: str, *, mode: int = 0o644, nodes: list[NodeInfo] | None = None) -> None:
        """Write the same file on every node at once."""
        self._each(nodes, "put", data, remote_path, mode=mode)

    def _each(self, nodes: list[NodeInfo] | None, method: str, *args, **kwargs) -> list:
        """Fabric's ThreadingGroup over our connectors (which keep pinning, reconnects and errors
        naming the node); the first failure by rank is raised."""
        from fabric import ThreadingGroup
        from fabric.exceptions import GroupException

        conns = [self.get(n) for n in (nodes if nodes is not None else self.inventory.nodes)]
        try:
            results = getattr(ThreadingGroup.from_connections(conns), method)(*args, **kwargs)
        except GroupException as exc:
            results = exc.result
            raise next(results[c] for c in conns if isinstance(results[c], BaseException)) from None
        return [results[c] for c in conns]

    def close(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
            ssh, self._ssh = self._ssh, None
        for c in conns:
            c.close()
        self._gateways.close()
        if ssh is not None:
            ssh.close()  # stops the rsync multiplexing masters

