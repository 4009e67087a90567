"""`ssh NAME` for every cluster: Host entries in `$SKYC_HOME/ssh/config`, included from ~/.ssh/config.

Each cluster owns a marked block (head as NAME, workers as NAME-worker1, ...) with its address,
port, user, key, jump hosts (NAME-jump0, ...) and a per-cluster known_hosts file that pins the
host keys of nodes and jump hosts. The user's
~/.ssh/config gets one `Include` line for our file, once, with a comment saying what it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path
from typing import Iterator

from skyc import config, paths
from skyc.stacks.base import Gateway, Inventory, NodeInfo

_BEGIN = "# >>> skyc cluster {name}"
_END = "# <<< skyc cluster {name}"
INCLUDE_COMMENT = "# Added by skyc: Host entries for skyc clusters (`ssh <cluster>`)."


def config_path() -> Path:
    return paths.ssh_dir() / "config"


def known_hosts_path(cluster: str) -> Path:
    return paths.ssh_dir() / cluster / "known_hosts"


def user_ssh_config() -> Path:
    return Path.home() / ".ssh" / "config"


def enabled() -> bool:
    """The `ssh_config: false` setting turns off writing to ~/.ssh/config."""
    return config.get("ssh_config", True) is not False


def host_alias(cluster: str, rank: int) -> str:
    return cluster if rank == 0 else f"{cluster}-worker{rank}"


def known_host(address: str, port: int) -> str:
    """The name a host key is recorded under, as OpenSSH writes it."""
    return address if port == 22 else f"[{address}]:{port}"


def known_hosts_line(address: str, port: int, host_key: str | None) -> str:
    return f"{known_host(address, port)} {' '.join((host_key or '').split()[:2])}\n"


def jump_hosts(nodes: list[NodeInfo]) -> list[Gateway]:
    """Every distinct jump host of `nodes`, each after the hops it is reached through."""
    seen: dict[str, Gateway] = {}

    def add(gw: Gateway) -> None:
        if gw.gateway is not None:
            add(gw.gateway)
        seen.setdefault(gw.model_dump_json(), gw)

    for node in nodes:
        if node.gateway is not None:
            add(node.gateway)
    return list(seen.values())


def known_hosts_text(nodes: list[NodeInfo]) -> str:
    """Pinned host keys of the nodes and of their jump hosts, in known_hosts format."""
    lines = [known_hosts_line(n.address, n.ssh_port, n.host_key) for n in nodes if n.host_key]
    lines += [known_hosts_line(g.address, g.port, g.host_key) for g in jump_hosts(nodes) if g.host_key]
    return "".join(lines)


def jump_host_entries(nodes: list[NodeInfo], prefix: str, known_hosts: Path, default_key: str | None,
                      options: tuple[str, ...] = ()) -> tuple[list[str], dict[str, str]]:
    """OpenSSH `Host` entries (aliases `<prefix>0`, `<prefix>1`, ...) for the jump hosts of `nodes`,
    host keys pinned from `known_hosts`, and the `ProxyJump` alias of each node by name."""
    aliases: dict[str, str] = {}
    lines: list[str] = []
    for i, gw in enumerate(jump_hosts(nodes)):
        alias = aliases[gw.model_dump_json()] = f"{prefix}{i}"
        lines += [f"Host {alias}", f"  HostName {gw.address}", f"  Port {gw.port}", f"  User {gw.user}"]
        key = gw.key or default_key
        if key:
            lines += [f"  IdentityFile {_q(key)}", "  IdentitiesOnly yes"]
        lines += [f"  UserKnownHostsFile {_q(str(known_hosts))}", "  StrictHostKeyChecking yes"]
        if gw.gateway is not None:
            lines.append(f"  ProxyJump {aliases[gw.gateway.model_dump_json()]}")
        elif gw.proxy_command:
            lines.append(f"  ProxyCommand {gw.proxy_command}")
        lines += [f"  {o}" for o in options] + [""]
    return lines, {n.name: aliases[n.gateway.model_dump_json()] for n in nodes if n.gateway is not None}


def _q(value: str) -> str:
    return f'"{value}"' if re.search(r"\s", value) else value


def host_block(inv: Inventory) -> str:
    """The marked block of Host entries for one cluster."""
    kh = known_hosts_path(inv.stack)
    jumps, via = jump_host_entries(inv.nodes, f"{inv.stack}-jump", kh, inv.ssh_private_key)
    lines = [_BEGIN.format(name=inv.stack), *jumps]
    for node in inv.nodes:
        lines += [
            f"Host {host_alias(inv.stack, node.rank)}",
            f"  HostName {node.address}",
            f"  Port {node.ssh_port}",
            f"  User {node.ssh_user}",
        ]
        if inv.ssh_private_key:
            lines += [f"  IdentityFile {_q(inv.ssh_private_key)}", "  IdentitiesOnly yes"]
        if node.host_key:
            lines += [f"  UserKnownHostsFile {_q(str(kh))}", "  StrictHostKeyChecking yes"]
        if node.proxy_command:
            lines.append(f"  ProxyCommand {node.proxy_command}")
        if node.name in via:
            lines.append(f"  ProxyJump {via[node.name]}")
        lines.append("")
    lines.append(_END.format(name=inv.stack))
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    paths.ssh_dir().mkdir(parents=True, exist_ok=True)
    with open(paths.ssh_dir() / ".config.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _write(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _without(text: str, cluster: str) -> str:
    pat = re.compile(rf"^{re.escape(_BEGIN.format(name=cluster))}\n.*?^{re.escape(_END.format(name=cluster))}\n?", re.S | re.M)
    return pat.sub("", text)


def add_cluster(inv: Inventory, *, include: bool = True) -> Path:
    """Write (or replace) the cluster's entries; add the Include line to ~/.ssh/config once."""
    with _locked():
        known = known_hosts_text(inv.nodes)
        if known:
            _write(known_hosts_path(inv.stack), known, 0o644)
        path = config_path()
        old = path.read_text() if path.exists() else ""
        _write(path, _without(old, inv.stack) + host_block(inv))
    if include and enabled():
        ensure_include()
    return path


def remove_cluster(cluster: str) -> None:
    """Drop the cluster's entries (on `down`); `stop` keeps them."""
    with _locked():
        path = config_path()
        if path.exists():
            _write(path, _without(path.read_text(), cluster))
        kh = known_hosts_path(cluster)
        kh.unlink(missing_ok=True)


def clusters() -> list[str]:
    path = config_path()
    if not path.exists():
        return []
    return re.findall(r"^# >>> skyc cluster (\S+)$", path.read_text(), re.M)


def ensure_include() -> bool:
    """Put `Include <our config>` at the top of ~/.ssh/config (so it applies to every Host).
    Returns True when the line was added now."""
    user = user_ssh_config()
    line = f"Include {_q(str(config_path()))}"
    text = user.read_text() if user.exists() else ""
    if line in text.splitlines():
        return False
    user.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = (user.stat().st_mode & 0o777) if user.exists() else 0o600
    _write(user, f"{INCLUDE_COMMENT}\n{line}\n\n{text}", mode)
    return True
