"""Connectors: run a command, put a file, get a file on one node; a pool with one connection per node.

The runtime never knows what kind of node it talks to. `SSHConnector` is the Paramiko
implementation: host keys pinned from the inventory (never trusted on first use), keep-alives,
reconnect with backoff when a connection drops, and every SSH failure turned into a
`NodeConnectionError` that names the node and the cause.
"""

from __future__ import annotations

import abc
import base64
import logging
import shlex
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable

from skyc.errors import NodeConnectionError
from skyc.stacks.base import Inventory, NodeInfo

KEEPALIVE_S = 15
CONNECT_TIMEOUT_S = 10
BACKOFF_S = (0.2, 0.5, 1.0, 2.0)
CHUNK = 1 << 20
# AES-GCM is several times faster than CTR+HMAC in Paramiko; keep the rest as fallbacks.
FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


# Failures become NodeConnectionError; keep Paramiko's own log records off the terminal.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


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
        """Run `command`, copying its stdout to `out` in big chunks; returns its exit code.
        Raises ConnectionDropped if the connection breaks before the command ends."""

    def put(self, data: bytes, remote_path: str, *, mode: int = 0o644) -> None:
        """Write `data` atomically at `remote_path` (parents created)."""
        q = shlex.quote(remote_path)
        tmp = shlex.quote(f"{remote_path}.tmp.{int(time.time() * 1e6)}")
        cmd = (
            f"umask 077; mkdir -p \"$(dirname {q})\" && cat > {tmp} && chmod {mode:o} {tmp} && mv -f {tmp} {q}"
        )
        res = self.run(cmd, stdin=data)
        if res.exit_code != 0:
            raise NodeConnectionError(
                f"cannot write {remote_path} on node {node_label(self.node)}: {res.stderr.decode(errors='replace').strip()}"
            )

    def get(self, remote_path: str) -> bytes:
        res = self.run(f"cat {shlex.quote(remote_path)}")
        if res.exit_code != 0:
            raise NodeConnectionError(
                f"cannot read {remote_path} on node {node_label(self.node)}: {res.stderr.decode(errors='replace').strip()}"
            )
        return res.stdout

    def rsync(self, src: str, dst: str, extra: list[str] = (), *, compress: bool = False) -> None:
        """Copy a local path to `dst` on the node with real rsync (optional capability)."""
        raise NotImplementedError(f"{type(self).__name__} cannot rsync")

    def close(self) -> None:  # noqa: B027 - optional
        pass


class SSHConnector(Connector):
    """Paramiko connection to one node, reopened with backoff when it drops."""

    def __init__(self, node: NodeInfo, key_path: str | None, ssh_options: Callable[[], Any] | None = None):
        self.node = node
        self.key_path = key_path
        self._ssh_options = ssh_options  # -> sync.SSHOptions of the inventory, for rsync
        self._client = None
        self._lock = threading.Lock()

    # -- connection

    def _host_key_name(self) -> str:
        host = self.node.address
        return host if self.node.ssh_port == 22 else f"[{host}]:{self.node.ssh_port}"

    def _connect(self):
        import paramiko


        node = self.node
        if not node.host_key:
            raise NodeConnectionError(
                f"node {node_label(node)} has no pinned host key in the inventory; refusing to trust on first use"
            )
        try:
            key_type, key_b64 = node.host_key.split()[:2]
            pinned = paramiko.PKey.from_type_string(key_type, base64.b64decode(key_b64))
        except Exception as exc:  # noqa: BLE001 - any parse failure is the same user error
            raise NodeConnectionError(f"node {node_label(node)}: unreadable pinned host key ({exc})") from None
        client = paramiko.SSHClient()
        client.get_host_keys().add(self._host_key_name(), key_type, pinned)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            sock = paramiko.ProxyCommand(node.proxy_command) if node.proxy_command else None
            client.connect(
                node.address,
                sock=sock,
                port=node.ssh_port,
                username=node.ssh_user,
                key_filename=self.key_path,
                timeout=CONNECT_TIMEOUT_S,
                banner_timeout=CONNECT_TIMEOUT_S,
                auth_timeout=CONNECT_TIMEOUT_S,
                allow_agent=False,
                look_for_keys=False,
                transport_factory=_fast_transport,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise NodeConnectionError(
                f"host key mismatch for node {node_label(node)}: it presented {exc.key.get_name()} "
                f"{exc.key.get_base64()[:24]}..., the inventory pins {key_b64[:24]}...; refusing to connect"
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            raise NodeConnectionError(
                f"node {node_label(node)} rejected the cluster key {self.key_path}; is the stack up to date?"
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            raise NodeConnectionError(f"cannot connect to node {node_label(node)}: {exc or type(exc).__name__}") from None
        client.get_transport().set_keepalive(KEEPALIVE_S)
        return client

    def transport(self):
        """The live transport, reconnecting (with backoff) if the connection was lost."""
        with self._lock:
            if self._client is not None:
                t = self._client.get_transport()
                if t is not None and t.is_active():
                    return t
                self._client.close()
                self._client = None
            last: NodeConnectionError | None = None
            for delay in (0.0, *BACKOFF_S):
                time.sleep(delay)
                try:
                    self._client = self._connect()
                    return self._client.get_transport()
                except NodeConnectionError as exc:
                    last = exc
                    if "host key" in str(exc) or "rejected the cluster key" in str(exc):
                        raise  # not transient
            assert last is not None
            raise last

    def _open(self, command: str, window: int | None = None):
        import paramiko

        for attempt in range(2):
            t = self.transport()
            try:
                chan = t.open_session(window_size=window, timeout=CONNECT_TIMEOUT_S)
                chan.exec_command(command)
                return chan
            except (paramiko.SSHException, OSError, EOFError) as exc:
                if attempt:
                    raise NodeConnectionError(f"node {node_label(self.node)}: cannot start a command ({exc})") from None
                self.reset()  # a half-dead connection: reopen once

    def reset(self) -> None:
        """Drop the current connection; the next call reconnects."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- operations

    def run(self, command: str, *, stdin: bytes | None = None, timeout: float | None = None) -> CommandResult:
        chan = self._open(command)
        try:
            if timeout is not None:
                chan.settimeout(timeout)
            if stdin is not None:
                chan.sendall(stdin)
            chan.shutdown_write()
            out = bytearray()
            err = bytearray()
            while True:
                data = chan.recv(CHUNK)
                if not data:
                    break
                out += data
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(CHUNK)
            while True:
                data = chan.recv_stderr(CHUNK)
                if not data:
                    break
                err += data
            code = chan.recv_exit_status()
        except socket.timeout:
            raise NodeConnectionError(f"command timed out after {timeout}s on node {node_label(self.node)}") from None
        except OSError as exc:
            raise ConnectionDropped(f"connection to node {node_label(self.node)} dropped: {exc}") from None
        finally:
            chan.close()
        if code == -1 and not self._active():
            raise ConnectionDropped(f"connection to node {node_label(self.node)} dropped during a command")
        return CommandResult(code, bytes(out), bytes(err))

    def stream(self, command: str, out: BinaryIO, *, on_data: Callable[[int], None] | None = None) -> int:
        chan = self._open(command)
        try:
            chan.shutdown_write()
            while True:
                data = chan.recv(CHUNK)
                if not data:
                    break
                out.write(data)
                if on_data:
                    on_data(len(data))
            code = chan.recv_exit_status()
        except OSError as exc:
            raise ConnectionDropped(f"connection to node {node_label(self.node)} dropped: {exc}") from None
        finally:
            chan.close()
        if code == -1:  # no exit status: the connection or the remote process died mid-stream
            raise ConnectionDropped(f"connection to node {node_label(self.node)} dropped while streaming")
        return code

    def rsync(self, src: str, dst: str, extra: list[str] = (), *, compress: bool = False) -> None:
        from skyc.runtime import sync

        if self._ssh_options is None:
            raise NotImplementedError("this connector was created without an inventory's ssh options")
        sync.rsync(self._ssh_options(), self.node, src, dst, list(extra), compress=compress)

    def _active(self) -> bool:
        c = self._client
        t = c.get_transport() if c is not None else None
        return bool(t and t.is_active())

    def close(self) -> None:
        self.reset()


def _fast_transport(sock, **kwargs):
    import paramiko

    t = paramiko.Transport(sock, **kwargs)
    opts = t.get_security_options()
    opts.ciphers = tuple(c for c in FAST_CIPHERS if c in opts.ciphers) + tuple(c for c in opts.ciphers if c not in FAST_CIPHERS)
    return t


class ConnectionPool:
    """One reusable connector per node of an inventory."""

    def __init__(self, inventory: Inventory, factory: Callable[..., Connector] = SSHConnector):
        self.inventory = inventory
        self._factory = factory
        self._conns: dict[str, Connector] = {}
        self._lock = threading.Lock()
        self._ssh = None

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
                conn = self._conns[node.name] = self._factory(node, self.inventory.ssh_private_key, self.ssh_options)
            return conn

    def head(self) -> Connector:
        return self.get(self.inventory.head)

    def close(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
            ssh, self._ssh = self._ssh, None
        for c in conns:
            c.close()
        if ssh is not None:
            ssh.close()  # stops the rsync multiplexing masters
