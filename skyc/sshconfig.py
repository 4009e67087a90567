"""`ssh NAME` for every cluster: Host entries in `$SKYC_HOME/ssh/config`, included from ~/.ssh/config.

Each cluster owns a marked block (head as NAME, workers as NAME-worker1, ...) with its address,
port, user, key and a per-cluster known_hosts file that pins the nodes' host keys. The user's
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
from skyc.stacks.base import Inventory, NodeInfo

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


def _known_hosts_line(node: NodeInfo) -> str:
    host = node.address if node.ssh_port == 22 else f"[{node.address}]:{node.ssh_port}"
    return f"{host} {' '.join((node.host_key or '').split()[:2])}\n"


def _q(value: str) -> str:
    return f'"{value}"' if re.search(r"\s", value) else value


def host_block(inv: Inventory) -> str:
    """The marked block of Host entries for one cluster."""
    kh = known_hosts_path(inv.stack)
    lines = [_BEGIN.format(name=inv.stack)]
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
        if any(n.host_key for n in inv.nodes):
            _write(known_hosts_path(inv.stack), "".join(_known_hosts_line(n) for n in inv.nodes if n.host_key), 0o644)
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
