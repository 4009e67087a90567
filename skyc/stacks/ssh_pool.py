"""SSH node pools: existing machines listed in `$SKYC_HOME/ssh_node_pools.yaml` (SkyPilot's
format), the claims that keep two clusters off one host, and the remote steps of claiming and
releasing a host. No Pulumi here: the `ssh` provider's dynamic resource calls these.

    my-pool:
      user: ubuntu                 # default for hosts below
      identity_file: ~/.ssh/id_ed25519
      port: 22                     # optional
      authorized_keys: ~/.ssh/authorized_keys   # optional (skyc): where the cluster key goes
      hosts:
        - 10.0.0.5
        - {ip: 10.0.0.6, user: admin, identity_file: ~/.ssh/other, port: 2222}
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from skyc import paths
from skyc.errors import NodeConnectionError, ProviderError, SpecError, SpecIssue

DEFAULT_AUTHORIZED_KEYS = "~/.ssh/authorized_keys"
REMOTE_STATE_DIR = "~/.skyc"


class PoolHost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ip: str
    user: str | None = None
    identity_file: str | None = None
    port: int | None = None
    authorized_keys: str | None = None
    password: str | None = None


class Pool(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hosts: list[str | PoolHost]
    user: str | None = None
    identity_file: str | None = None
    port: int = 22
    authorized_keys: str = DEFAULT_AUTHORIZED_KEYS
    password: str | None = None

    def resolved(self) -> list[dict[str, Any]]:
        """Hosts with the pool's defaults filled in (plain dicts: they travel as resource inputs)."""
        out = []
        for h in self.hosts:
            host = PoolHost(ip=h) if isinstance(h, str) else h
            identity = host.identity_file or self.identity_file
            out.append(
                {
                    "ip": host.ip,
                    "user": host.user or self.user or _local_user(),
                    "port": int(host.port or self.port),
                    "identity_file": str(Path(identity).expanduser()) if identity else None,
                    "authorized_keys": host.authorized_keys or self.authorized_keys,
                }
            )
        return out


def _local_user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def pool_file() -> Path:
    return paths.home() / "ssh_node_pools.yaml"


def load_pools() -> dict[str, Pool]:
    """Every pool in the pool file ({} when there is none)."""
    path = pool_file()
    if not path.exists():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise SpecError(f"cannot parse the SSH node pool file: {e}", file=str(path)) from None
    if not isinstance(data, dict):
        raise SpecError("the SSH node pool file must map pool names to pools", file=str(path))
    pools = {}
    for name, body in data.items():
        try:
            pool = Pool.model_validate(body)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(p) for p in (name, *err["loc"]))
            raise SpecError(SpecIssue(err["msg"], file=str(path), field=where)) from None
        if pool.password or any(isinstance(h, PoolHost) and h.password for h in pool.hosts):
            raise SpecError(SpecIssue("password login is not supported; use identity_file", file=str(path), field=f"{name}.password"))
        pools[str(name)] = pool
    return pools


def pool_name(region: str | None) -> str | None:
    """`ssh-<pool>` (SkyPilot's internal form) or `<pool>` -> `<pool>`."""
    if region is None:
        return None
    return region[4:] if region.startswith("ssh-") else region


# ---------------------------------------------------------------- claims


def claims_db() -> Path:
    return paths.home() / "ssh_pool_claims.db"


def _connect() -> sqlite3.Connection:
    path = claims_db()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS claims (host TEXT PRIMARY KEY, pool TEXT, cluster TEXT NOT NULL, "
        "node TEXT NOT NULL, claimed_at REAL, UNIQUE (cluster, node))"
    )
    return conn


def host_id(host: dict[str, Any]) -> str:
    return f"{host['user']}@{host['ip']}:{int(host['port'])}"


def claim(pool: str, host: dict[str, Any], cluster: str, node: str) -> bool:
    """Claim `host` for cluster/node; True if now ours (also when it already was)."""
    conn = _connect()
    try:
        conn.execute("BEGIN IMMEDIATE")  # serialises claimers across processes
        row = conn.execute("SELECT cluster, node FROM claims WHERE host = ?", (host_id(host),)).fetchone()
        if row is None:
            conn.execute("DELETE FROM claims WHERE cluster = ? AND node = ?", (cluster, node))
            conn.execute(
                "INSERT INTO claims (host, pool, cluster, node, claimed_at) VALUES (?, ?, ?, ?, ?)",
                (host_id(host), pool, cluster, node, time.time()),
            )
        conn.execute("COMMIT")
        return row is None or tuple(row) == (cluster, node)
    finally:
        conn.close()


def release(cluster: str, node: str) -> None:
    conn = _connect()
    try:
        conn.execute("DELETE FROM claims WHERE cluster = ? AND node = ?", (cluster, node))
    finally:
        conn.close()


def claims() -> list[dict[str, Any]]:
    conn = _connect()
    try:
        rows = conn.execute("SELECT host, pool, cluster, node, claimed_at FROM claims ORDER BY host").fetchall()
    finally:
        conn.close()
    return [dict(zip(("host", "pool", "cluster", "node", "claimed_at"), r)) for r in rows]


# ---------------------------------------------------------------- remote steps


def _ssh(host: dict[str, Any], timeout: float = 10.0):
    import paramiko

    client = paramiko.SSHClient()
    # Pool hosts are the user's own machines, not yet known: accept and record the key (the
    # inventory pins it for every later connection).
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(
            host["ip"],
            port=int(host["port"]),
            username=host["user"],
            key_filename=host.get("identity_file"),
            look_for_keys=not host.get("identity_file"),
            allow_agent=not host.get("identity_file"),
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
        )
    except (OSError, paramiko.SSHException) as e:
        client.close()
        raise NodeConnectionError(f"cannot reach pool host {host_id(host)}: {e}") from None
    return client


def _run(client, command: str, timeout: float = 30.0) -> tuple[int, str]:
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    out = stdout.read().decode(errors="replace")
    err = stderr.read().decode(errors="replace")
    return stdout.channel.recv_exit_status(), (out + err).strip()


def _shq(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def _remote_path(path: str) -> str:
    # Keep `~/` for the remote shell to expand, quote the rest.
    return '"$HOME"/' + _shq(path[2:]) if path.startswith("~/") else _shq(path)


def marker(cluster: str) -> str:
    return f"skyc-cluster={cluster}"


def prepare_host(host: dict[str, Any], cluster: str, public_key: str) -> dict[str, Any]:
    """Check prerequisites and authorise the cluster key on the host; return its facts."""
    client = _ssh(host)
    try:
        rc, out = _run(client, "command -v python3 >/dev/null && command -v rsync >/dev/null && echo ok")
        if rc != 0 or "ok" not in out:
            raise ProviderError(f"pool host {host_id(host)} lacks python3 or rsync: install both there (e.g. apt-get install python3 rsync)")
        key = " ".join(public_key.split()[:2]) + " " + marker(cluster)
        keys = _remote_path(host["authorized_keys"])
        script = (
            f"f={keys}; mkdir -p \"$(dirname \"$f\")\" && touch \"$f\" && chmod 600 \"$f\" && "
            f"(grep -qxF {_shq(key)} \"$f\" || printf '%s\\n' {_shq(key)} >> \"$f\")"
        )
        rc, out = _run(client, script)
        if rc != 0:
            raise ProviderError(f"cannot authorise the cluster key on pool host {host_id(host)}: {out}")
        server_key = client.get_transport().get_remote_server_key()
        return {
            "ip": host["ip"],
            "port": int(host["port"]),
            "user": host["user"],
            "host_key": f"{server_key.get_name()} {server_key.get_base64()}",
        }
    finally:
        client.close()


def release_host(host: dict[str, Any], cluster: str, clean: bool = True) -> None:
    """Remove the cluster key from the host and clean its skyc directory."""
    client = _ssh(host)
    try:
        keys = _remote_path(host["authorized_keys"])
        mark = marker(cluster).replace("/", r"\/").replace(".", r"\.")
        rc, out = _run(client, f"f={keys}; [ ! -f \"$f\" ] || sed -i '/ {mark}$/d' \"$f\"")
        if rc != 0:
            raise ProviderError(f"cannot remove the cluster key from pool host {host_id(host)}: {out}")
        if clean and not _is_this_client(client):
            _run(client, f"rm -rf {_remote_path(REMOTE_STATE_DIR + '/')}")
    finally:
        client.close()


def _is_this_client(client) -> bool:
    """Never wipe this machine's own state: a pool may list this very host and user."""
    rc, out = _run(client, "cd ~/.skyc 2>/dev/null && pwd -P")
    return rc == 0 and out.strip() == str(paths.home().resolve())


def claim_host(pool: str, hosts: list[dict[str, Any]], cluster: str, node: str, public_key: str) -> dict[str, Any]:
    """Claim the first free, reachable, ready host of the pool; return its facts."""
    problems = []
    for host in hosts:
        if not claim(pool, host, cluster, node):
            continue
        try:
            return {**prepare_host(host, cluster, public_key), "host": host}
        except (NodeConnectionError, ProviderError) as e:
            release(cluster, node)
            problems.append(str(e))
    detail = "; ".join(problems) if problems else "every host is claimed by another cluster"
    raise ProviderError(f"no free host in SSH node pool {pool!r} for {cluster}/{node}: {detail}")
