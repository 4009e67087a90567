"""Hosts of SSH-config-syntax files (`~/.slurm/config`, `~/.ssh/config`) as `Gateway` models.

Fabric resolves the alias (HostName, Port, User, IdentityFile, ProxyJump chains whose hops may
be aliases of the same file, ProxyCommand); host keys come from a known_hosts file and are
pinned, so nothing is trusted on first use later. Only this file is read, never the user's
other SSH configs.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from skyc.errors import SpecError
from skyc.sshconfig import known_host
from skyc.stacks.base import Gateway

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
_KEY_PREFERENCE = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")


def resolve(alias: str, config_file: str | Path, *, known_hosts: str | Path | None = None) -> Gateway:
    """Host `alias` of `config_file` with its jump hosts. Host keys are looked up in `known_hosts`
    (default: the file's `UserKnownHostsFile`, else ~/.ssh/known_hosts); `host_key` stays None
    where none is recorded, and the runtime then refuses to connect, saying so."""
    from fabric import Config, Connection

    path = Path(config_file).expanduser()
    if not path.is_file():
        raise SpecError(f"SSH config {path} does not exist")

    def connection(host: str, **kw):
        # A fresh Config each: Fabric stores a connection's IdentityFile in the config it was given.
        config = Config(lazy=True, runtime_ssh_path=str(path))
        config.load_ssh_config()
        return Connection(host, config=config, **kw)

    first = connection(alias)
    patterns = first.config.base_ssh_config.get_hostnames() - {"*"}
    if not any(fnmatch.fnmatchcase(alias, p) for p in patterns if not p.startswith("!")):
        raise SpecError(f"SSH config {path} has no `Host {alias}` entry")
    return _gateway(first, connection, known_hosts)


def _gateway(conn, connection, known_hosts: str | Path | None) -> Gateway:
    from fabric import Connection

    files = known_hosts or (conn.ssh_config.get("userknownhostsfile") or DEFAULT_KNOWN_HOSTS).split()[0]
    keys = conn.connect_kwargs.get("key_filename") or []
    via = conn.gateway
    jump = (conn.ssh_config.get("proxyjump") or "").strip()
    if jump.lower() == "none":
        via = None
    elif "," in jump:
        # Fabric 3.2 dials the last hop of a list first; OpenSSH goes through the first hop first.
        via = None
        for hop in jump.split(","):
            via = connection(hop.strip(), **({"gateway": via} if via else {}))
    return Gateway(
        address=conn.host,
        port=int(conn.port),
        user=conn.user,
        key=str(Path(keys[0]).expanduser()) if keys else None,
        host_key=pinned_key(Path(files).expanduser(), conn.ssh_config.get("hostkeyalias") or conn.host, int(conn.port)),
        gateway=_gateway(via, connection, known_hosts) if isinstance(via, Connection) else None,
        proxy_command=via if isinstance(via, str) else None,
    )


def pinned_key(known_hosts: Path, host: str, port: int = 22) -> str | None:
    """The host's key recorded in `known_hosts` ("type base64"; ed25519 preferred), or None."""
    import paramiko

    if not known_hosts.is_file():
        return None
    found = paramiko.HostKeys(str(known_hosts)).lookup(known_host(host, port))
    if not found:
        return None
    kind = next((k for k in _KEY_PREFERENCE if k in found), next(iter(found)))
    return f"{kind} {found[kind].get_base64()}"
