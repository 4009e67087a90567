"""Fabric connections that trust only host keys pinned in the inventory, and the jump hosts nodes
are reached through (one shared connection per jump host, itself pinned).

Nothing is read from `~/.ssh/config` or Fabric/Invoke config files: the inventory is the whole
truth about how to reach a node, so every connection made here is reproducible from it.
"""

from __future__ import annotations

import base64
import logging
import threading
from typing import Any

from skyc.errors import NodeConnectionError
from skyc.sshconfig import known_host
from skyc.stacks.base import Gateway

KEEPALIVE_S = 15
CONNECT_TIMEOUT_S = 10
# AES-GCM is several times faster than CTR+HMAC in Paramiko; keep the rest as fallbacks.
FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")

# Failures become NodeConnectionError; keep Paramiko's own log records off the terminal.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class Refused(NodeConnectionError):
    """Not transient (a host key that does not match, a key the server rejects): never retried."""


def gateway_label(gw: Gateway) -> str:
    return f"gateway {gw.label}"


def fabric_config():
    from fabric import Config
    from paramiko.config import SSHConfig

    from skyc.runtime.runner import Runner

    return Config(lazy=True, ssh_config=SSHConfig(), overrides={"runners": {"remote": Runner}})


def _fast_transport(sock, **kwargs):
    import paramiko

    t = paramiko.Transport(sock, **kwargs)
    opts = t.get_security_options()
    opts.ciphers = tuple(c for c in FAST_CIPHERS if c in opts.ciphers) + tuple(c for c in opts.ciphers if c not in FAST_CIPHERS)
    return t


def connect(label: str, address: str, port: int, user: str, key_path: str | None, host_key: str | None,
            gateway: Any = None, *, auth_hint: str = ""):
    """An open `fabric.Connection` to address:port that accepts only `host_key`.

    `gateway` is an open jump-host Connection (ProxyJump) or a command (ProxyCommand).
    Raises NodeConnectionError naming `label` (Refused when retrying cannot help)."""
    import paramiko
    from fabric import Connection

    if not host_key:
        raise Refused(f"{label} has no pinned host key in the inventory; refusing to trust on first use")
    try:
        key_type, key_b64 = host_key.split()[:2]
        pinned = paramiko.PKey.from_type_string(key_type, base64.b64decode(key_b64))
    except Exception as exc:  # noqa: BLE001 - any parse failure is the same user error
        raise Refused(f"{label}: unreadable pinned host key ({exc})") from None
    kwargs: dict[str, Any] = {
        "allow_agent": False,
        "look_for_keys": False,
        "banner_timeout": CONNECT_TIMEOUT_S,
        "auth_timeout": CONNECT_TIMEOUT_S,
        "transport_factory": _fast_transport,
    }
    if key_path:
        kwargs["key_filename"] = key_path
    conn = Connection(address, user=user, port=port, config=fabric_config(),
                      gateway=gateway if gateway is not None else False,
                      connect_timeout=CONNECT_TIMEOUT_S, connect_kwargs=kwargs)
    conn.client.get_host_keys().add(known_host(address, port), key_type, pinned)
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        _open(conn, label, key_path, key_b64, auth_hint)
    except BaseException:
        close(conn)
        raise
    return conn


def close(conn) -> None:
    """Close a Connection in any state: Fabric's close() skips a transport that is not active
    (one that never finished connecting, or died), which would leave it and its socket open."""
    conn.close()
    conn.client.close()


def _open(conn, label: str, key_path: str | None, key_b64: str, auth_hint: str) -> None:
    import paramiko

    try:
        conn.open()
    except paramiko.BadHostKeyException as exc:
        raise Refused(
            f"host key mismatch for {label}: it presented {exc.key.get_name()} {exc.key.get_base64()[:24]}..., "
            f"the inventory pins {key_b64[:24]}...; refusing to connect"
        ) from None
    except paramiko.AuthenticationException:
        raise Refused(f"{label} rejected the key {key_path}{auth_hint}") from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise NodeConnectionError(f"cannot connect to {label}: {exc or type(exc).__name__}") from None
    conn.transport.set_keepalive(KEEPALIVE_S)
    # Fabric opens gateway channels and sessions without a timeout (Paramiko's default is an hour).
    conn.transport.channel_timeout = CONNECT_TIMEOUT_S


class Gateways:
    """Open connections to jump hosts, one per distinct hop, shared by every node behind it."""

    def __init__(self, default_key: str | None):
        self._default_key = default_key
        self._conns: dict[str, Any] = {}
        self._lock = threading.RLock()

    def connection(self, gw: Gateway):
        """The open Connection to `gw` (reopened, with its own hops, when it was lost)."""
        ident = gw.model_dump_json()
        with self._lock:
            conn = self._conns.get(ident)
            if conn is not None and conn.is_connected:
                return conn
            if conn is not None:
                close(conn)
            via = self.connection(gw.gateway) if gw.gateway is not None else gw.proxy_command
            label = gateway_label(gw) + (f" (via {gateway_label(gw.gateway)})" if gw.gateway else "")
            conn = self._conns[ident] = connect(label, gw.address, gw.port, gw.user, gw.key or self._default_key,
                                                gw.host_key, via)
            return conn

    def close(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
        for conn in reversed(conns):  # inner hops first
            close(conn)
