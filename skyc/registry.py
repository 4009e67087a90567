"""The cluster registry: one SQLite file (`$SKYC_HOME/skyc.db`) that `skyc status` reads alone.

Rows are plain columns and JSON text, never pickles. Each cluster incarnation has its own
`cluster_hash`, so a name reused after `down` starts a new row and `cost-report` still shows
the terminated one. Writers take SQLite's write lock (`BEGIN IMMEDIATE`), so concurrent
`skyc` processes and the controller never interleave a read-modify-write.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterator

from skyc import paths
from skyc.errors import ClusterNotFoundError

INIT, UP, STOPPED, AUTOSTOPPING, TERMINATED = "INIT", "UP", "STOPPED", "AUTOSTOPPING", "TERMINATED"
LIVE_STATUSES = (INIT, UP, STOPPED, AUTOSTOPPING)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clusters (
    cluster_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    provider TEXT NOT NULL DEFAULT 'local',
    region TEXT,
    zone TEXT,
    resources_str TEXT NOT NULL DEFAULT '',
    num_nodes INTEGER NOT NULL DEFAULT 1,
    cpus REAL,
    memory REAL,
    accelerators TEXT NOT NULL DEFAULT '{}',
    hourly_price REAL NOT NULL DEFAULT 0,
    launched_at REAL NOT NULL,
    status_updated_at REAL NOT NULL,
    last_use TEXT NOT NULL DEFAULT '',
    autostop INTEGER NOT NULL DEFAULT -1,
    to_down INTEGER NOT NULL DEFAULT 0,
    wait_for TEXT NOT NULL DEFAULT 'jobs_and_ssh',
    stack TEXT NOT NULL,
    inventory TEXT,
    last_task TEXT,
    last_plan TEXT,
    terminated_at REAL
);
CREATE INDEX IF NOT EXISTS clusters_live ON clusters(name) WHERE terminated_at IS NULL;
CREATE TABLE IF NOT EXISTS usage (
    cluster_hash TEXT NOT NULL,
    start REAL NOT NULL,
    end REAL
);
CREATE INDEX IF NOT EXISTS usage_hash ON usage(cluster_hash);
"""


@dataclass
class Cluster:
    """One registry row."""

    name: str
    status: str
    stack: str
    cluster_hash: str = ""
    provider: str = "local"
    region: str | None = None
    zone: str | None = None
    resources_str: str = ""
    num_nodes: int = 1
    cpus: float | None = None
    memory: float | None = None
    accelerators: dict[str, float] = field(default_factory=dict)
    hourly_price: float = 0.0  # whole cluster, $/h
    launched_at: float = 0.0
    status_updated_at: float = 0.0
    last_use: str = ""
    autostop: int = -1  # idle minutes; -1 = none
    to_down: bool = False
    wait_for: str = "jobs_and_ssh"
    inventory: dict | None = None  # the Inventory as JSON, so exec/queue need no engine
    last_task: dict | None = None
    last_plan: dict | None = None
    terminated_at: float | None = None

    @property
    def infra(self) -> str:
        return "/".join(p for p in (self.provider, self.region, self.zone) if p)


_JSON_COLS = ("accelerators", "inventory", "last_task", "last_plan")
_COLS = [f.name for f in fields(Cluster)]


def _row_to_cluster(row: sqlite3.Row) -> Cluster:
    d = dict(row)
    for k in _JSON_COLS:
        d[k] = json.loads(d[k]) if d[k] else ({} if k == "accelerators" else None)
    d["to_down"] = bool(d["to_down"])
    return Cluster(**d)


class Registry:
    """Store interface over the SQLite file; every method is one short transaction."""

    def __init__(self, path: str | None = None):
        self.path = str(path or paths.registry_db())
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            paths.home().mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # ---------------------------------------------------------------- reads

    def get(self, name: str) -> Cluster | None:
        row = self._conn().execute(
            "SELECT * FROM clusters WHERE name=? AND terminated_at IS NULL", (name,)
        ).fetchone()
        return _row_to_cluster(row) if row else None

    def require(self, name: str) -> Cluster:
        c = self.get(name)
        if c is None:
            raise ClusterNotFoundError(f"cluster {name!r} does not exist; `skyc status` lists clusters")
        return c

    def list(self, names: list[str] | None = None) -> list[Cluster]:
        rows = self._conn().execute(
            "SELECT * FROM clusters WHERE terminated_at IS NULL ORDER BY launched_at, name"
        ).fetchall()
        out = [_row_to_cluster(r) for r in rows]
        if names:
            import fnmatch

            out = [c for c in out if any(fnmatch.fnmatchcase(c.name, n) for n in names)]
        return out

    def history(self) -> list[Cluster]:
        """Every incarnation, terminated ones included (for cost-report)."""
        rows = self._conn().execute("SELECT * FROM clusters ORDER BY launched_at, name").fetchall()
        return [_row_to_cluster(r) for r in rows]

    def usage_intervals(self, cluster_hash: str) -> list[tuple[float, float | None]]:
        rows = self._conn().execute(
            "SELECT start, end FROM usage WHERE cluster_hash=? ORDER BY start", (cluster_hash,)
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def with_autostop(self) -> list[Cluster]:
        return [c for c in self.list() if c.autostop >= 0 and c.status == UP]

    # ---------------------------------------------------------------- writes

    def add(self, cluster: Cluster) -> Cluster:
        """Register a new incarnation of a cluster (INIT). Fails if the name is live."""
        now = time.time()
        cluster.cluster_hash = cluster.cluster_hash or secrets.token_hex(8)
        cluster.launched_at = cluster.launched_at or now
        cluster.status_updated_at = now
        d = asdict(cluster)
        for k in _JSON_COLS:
            d[k] = json.dumps(d[k]) if d[k] is not None else None
        d["to_down"] = int(d["to_down"])
        with self._write() as db:
            if db.execute("SELECT 1 FROM clusters WHERE name=? AND terminated_at IS NULL", (cluster.name,)).fetchone():
                raise ValueError(f"cluster {cluster.name} is already registered")
            db.execute(
                f"INSERT INTO clusters ({', '.join(_COLS)}) VALUES ({', '.join('?' for _ in _COLS)})",
                [d[c] for c in _COLS],
            )
            if cluster.status == UP:
                db.execute("INSERT INTO usage VALUES (?, ?, NULL)", (cluster.cluster_hash, now))
        return cluster

    def update(self, name: str, **changes: Any) -> Cluster:
        """Change columns of a live cluster; a status change also opens/closes a usage interval."""
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT * FROM clusters WHERE name=? AND terminated_at IS NULL", (name,)).fetchone()
            if row is None:
                raise ClusterNotFoundError(f"cluster {name!r} does not exist; `skyc status` lists clusters")
            old = _row_to_cluster(row)
            sets = dict(changes)
            for k in _JSON_COLS:
                if k in sets and sets[k] is not None:
                    sets[k] = json.dumps(sets[k])
            if "to_down" in sets:
                sets["to_down"] = int(sets["to_down"])
            if "status" in sets and sets["status"] != old.status:
                sets["status_updated_at"] = now
                self._track_usage(db, old.cluster_hash, old.status, sets["status"], now)
            if sets:
                db.execute(
                    f"UPDATE clusters SET {', '.join(f'{k}=?' for k in sets)} WHERE cluster_hash=?",
                    [*sets.values(), old.cluster_hash],
                )
        return self.require(name)

    def remove(self, name: str) -> None:
        """Mark the live cluster terminated (kept for cost-report)."""
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT cluster_hash, status FROM clusters WHERE name=? AND terminated_at IS NULL", (name,)).fetchone()
            if row is None:
                return
            self._track_usage(db, row[0], row[1], TERMINATED, now)
            db.execute(
                "UPDATE clusters SET terminated_at=?, status=?, status_updated_at=?, inventory=NULL WHERE cluster_hash=?",
                (now, TERMINATED, now, row[0]),
            )

    @staticmethod
    def _track_usage(db: sqlite3.Connection, cluster_hash: str, old: str, new: str, now: float) -> None:
        # Billing runs while nodes run: UP and AUTOSTOPPING count, INIT/STOPPED/TERMINATED do not.
        running = (UP, AUTOSTOPPING)
        if new in running and old not in running:
            db.execute("INSERT INTO usage VALUES (?, ?, NULL)", (cluster_hash, now))
        elif old in running and new not in running:
            db.execute("UPDATE usage SET end=? WHERE cluster_hash=? AND end IS NULL", (now, cluster_hash))


def open_registry() -> Registry:
    return Registry()


def hourly_prices(*, include_stopped: bool) -> dict[str, float]:
    """$/h per registered cluster by name (a stopped one at the price of running it, or left out)."""
    reg = Registry()
    try:
        return {c.name: float(c.hourly_price or 0.0) for c in reg.list() if include_stopped or c.status != STOPPED}
    finally:
        reg.close()
