#!/usr/bin/env python3
"""skyc on-node agent: job table, FIFO scheduler, per-job driver, log tail, idle tracking.

Installed on a cluster's head node as ~/.skyc/agent/skyc_agent.py and run over SSH as
`python3 ~/.skyc/agent/skyc_agent.py <command> ...`; every command prints JSON except `tail`,
which streams raw log bytes. Standard library only, so it runs on any node image.

Layout under ~/.skyc on the head:
  cluster.json        the cluster's nodes (rank order) and identity, written by the client
  cluster_key         private key the head uses to reach workers (0600); known_hosts pins them
  jobs.db             job table and meta (SQLite)
  jobs/<id>/run.log   setup + run output of a job (per-rank prefixes when multi-node)
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import math
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time

VERSION = "1"  # bumped by hand only for layout changes; the client stamps installs by content hash

INIT, PENDING, SETTING_UP, RUNNING = "INIT", "PENDING", "SETTING_UP", "RUNNING"
SUCCEEDED, FAILED, FAILED_SETUP, FAILED_DRIVER, CANCELLED = (
    "SUCCEEDED",
    "FAILED",
    "FAILED_SETUP",
    "FAILED_DRIVER",
    "CANCELLED",
)
ACTIVE = (INIT, PENDING, SETTING_UP, RUNNING)
TERMINAL = (SUCCEEDED, FAILED, FAILED_SETUP, FAILED_DRIVER, CANCELLED)
REDACTED = "<redacted>"
CPUS_PER_JOB = 0.5
INIT_TIMEOUT = 60.0
CHUNK = 1 << 20


# ---------------------------------------------------------------- layout


def skyc_dir() -> str:
    return os.path.join(os.path.expanduser("~"), ".skyc")


def job_dir(job_id: int) -> str:
    return os.path.join(skyc_dir(), "jobs", str(job_id))


def log_path(job_id: int) -> str:
    return os.path.join(job_dir(job_id), "run.log")


def load_cluster() -> dict:
    with open(os.path.join(skyc_dir(), "cluster.json")) as f:
        return json.load(f)


# ---------------------------------------------------------------- job table


SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT,
    username TEXT,
    status TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    start_at REAL,
    end_at REAL,
    num_nodes INTEGER NOT NULL,
    cpus REAL NOT NULL,
    accelerators TEXT NOT NULL,
    spec TEXT NOT NULL,
    driver_pid INTEGER,
    exit_code INTEGER,
    message TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


def connect() -> sqlite3.Connection:
    os.makedirs(skyc_dir(), exist_ok=True)
    db = sqlite3.connect(os.path.join(skyc_dir(), "jobs.db"), timeout=30, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    return db


def get_meta(db: sqlite3.Connection, key: str, default=None):
    row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return json.loads(row["value"]) if row else default


def set_meta(db: sqlite3.Connection, key: str, value) -> None:
    db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))


def set_status(db: sqlite3.Connection, job_id: int, status: str, **fields) -> bool:
    """Move a job to `status` unless it is already terminal (a cancel always wins)."""
    cols = ["status=?"] + [f"{k}=?" for k in fields]
    cur = db.execute(
        f"UPDATE jobs SET {', '.join(cols)} WHERE job_id=? AND status NOT IN ({','.join('?' * len(TERMINAL))})",
        (status, *fields.values(), job_id, *TERMINAL),
    )
    return cur.rowcount == 1


def job_row(db: sqlite3.Connection, job_id: int | None) -> sqlite3.Row | None:
    if job_id is None:
        return db.execute("SELECT * FROM jobs ORDER BY job_id DESC LIMIT 1").fetchone()
    return db.execute("SELECT * FROM jobs WHERE job_id=?", (job_id,)).fetchone()


def resources_str(num_nodes: int, cpus: float, accelerators: dict) -> str:
    acc = ", ".join(f"{k}:{v:g}" for k, v in accelerators.items())
    per = f"cpus={cpus:g}" + (f", {acc}" if acc else "")
    return f"{num_nodes}x[{per}]"


def row_json(row: sqlite3.Row) -> dict:
    acc = json.loads(row["accelerators"])
    return {
        "job_id": row["job_id"],
        "job_name": row["name"],
        "username": row["username"],
        "status": row["status"],
        "submitted_at": row["submitted_at"],
        "start_at": row["start_at"],
        "end_at": row["end_at"],
        "resources": resources_str(row["num_nodes"], row["cpus"], acc),
        "num_nodes": row["num_nodes"],
        "log_path": log_path(row["job_id"]),
        "exit_code": row["exit_code"],
        "message": row["message"],
    }


# ---------------------------------------------------------------- processes


def pid_alive(pid: int | None, *needles: bytes) -> bool:
    """Whether `pid` runs and its command line contains every needle (guards against pid reuse)."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except (OSError, IndexError):
        return False
    return all(n in cmdline for n in needles)


def driver_alive(job_id: int, pid: int | None) -> bool:
    return pid_alive(pid, b"skyc_agent", b"driver\0" + str(job_id).encode() + b"\0")


def drop_secrets(job_id: int) -> None:
    """A job that ends before its driver read its secrets must not leave them on disk."""
    try:
        os.unlink(os.path.join(job_dir(job_id), "secrets.json"))
    except OSError:
        pass


def reconcile(db: sqlite3.Connection) -> None:
    """Fail jobs whose driver died, or that never left INIT."""
    now = time.time()
    for row in db.execute("SELECT * FROM jobs WHERE status IN (?,?,?,?)", ACTIVE).fetchall():
        if row["driver_pid"] and not driver_alive(row["job_id"], row["driver_pid"]):
            if set_status(db, row["job_id"], FAILED_DRIVER, end_at=now, message="job driver exited unexpectedly"):
                kill_job(db, row, load_cluster())  # its ranks are orphans now: stop them everywhere
            drop_secrets(row["job_id"])
        elif row["status"] == INIT and now - row["submitted_at"] > INIT_TIMEOUT:
            set_status(db, row["job_id"], FAILED_DRIVER, end_at=now, message="job stuck in INIT")
            drop_secrets(row["job_id"])


# ---------------------------------------------------------------- scheduler


def job_nodes(cluster: dict, num_nodes: int) -> list[dict]:
    return cluster["nodes"][:num_nodes]


def fits(demand: dict, free: dict) -> bool:
    """Whether a job's per-node demand ({rank: (cpus, {acc: n})}) fits the free capacity."""
    for rank, (cpus, accs) in demand.items():
        f_cpus, f_accs = free[rank]
        if cpus > f_cpus + 1e-9:
            return False
        for name, n in accs.items():
            if n > f_accs.get(name, 0.0) + 1e-9:
                return False
    return True


def plan_schedule(nodes: list[dict], holding: list[dict], pending: list[dict]) -> list[int]:
    """Pure FIFO-with-head-of-line-blocking scheduling: which pending jobs start now.

    nodes: [{cpus, accelerators}] in rank order; holding/pending: [{job_id, num_nodes, cpus,
    accelerators}] (pending sorted by job id). A job takes its first `num_nodes` nodes and reserves
    `cpus` CPUs plus its accelerators on each of them."""
    free = {i: [float(n.get("cpus") or 1.0), dict(n.get("accelerators") or {})] for i, n in enumerate(nodes)}

    def take(job: dict) -> None:
        for rank in range(job["num_nodes"]):
            free[rank][0] -= job["cpus"]
            for name, count in job["accelerators"].items():
                free[rank][1][name] = free[rank][1].get(name, 0.0) - count

    for job in holding:
        take(job)
    started = []
    for job in pending:
        if job["num_nodes"] > len(nodes):
            continue  # never fits; submit rejects these, this guards old rows
        demand = {r: (job["cpus"], job["accelerators"]) for r in range(job["num_nodes"])}
        if not fits(demand, {r: tuple(v) for r, v in free.items()}):
            break  # head-of-line blocking, as SkyPilot's FIFO queue
        take(job)
        started.append(job["job_id"])
    return started


def _sched_job(row: sqlite3.Row) -> dict:
    return {
        "job_id": row["job_id"],
        "num_nodes": row["num_nodes"],
        "cpus": row["cpus"],
        "accelerators": json.loads(row["accelerators"]),
    }


class FileLock:
    def __init__(self, name: str):
        self.path = os.path.join(skyc_dir(), name)

    def __enter__(self):
        os.makedirs(skyc_dir(), exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def schedule(db: sqlite3.Connection) -> list[int]:
    """Start every pending job that fits, in FIFO order; returns their ids."""
    with FileLock("schedule.lock"):
        reconcile(db)
        cluster = load_cluster()
        rows = db.execute("SELECT * FROM jobs WHERE status IN (?,?,?,?) ORDER BY job_id", ACTIVE).fetchall()
        holding = [_sched_job(r) for r in rows if r["driver_pid"]]
        pending = [_sched_job(r) for r in rows if not r["driver_pid"] and r["status"] == PENDING]
        started = plan_schedule(cluster["nodes"], holding, pending)
        for job_id in started:
            pid = spawn_driver(job_id)
            db.execute("UPDATE jobs SET driver_pid=? WHERE job_id=?", (pid, job_id))
        return started


def spawn_driver(job_id: int) -> int:
    """Start the job's driver detached: own session, no tie to the SSH session that asked."""
    os.makedirs(job_dir(job_id), exist_ok=True)
    out = open(os.path.join(job_dir(job_id), "driver.log"), "ab")
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "driver", str(job_id)],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=out,
        start_new_session=True,
        close_fds=True,
    )
    out.close()
    return proc.pid


# ---------------------------------------------------------------- environment


INFO_KEYS = ("cluster_name", "cloud", "region", "zone")


def job_cluster(spec: dict, cluster: dict) -> dict:
    """The cluster's identity as the job sees it: the client's values win over cluster.json."""
    given = spec.get("cluster") or {}
    return {k: given.get(k) if given.get(k) is not None else cluster.get(k) for k in INFO_KEYS}


def cluster_info(spec: dict, cluster: dict) -> str:
    return json.dumps(job_cluster(spec, cluster))


def gpus_per_node(accelerators: dict) -> int:
    """ceil of the per-node GPU count; 0 for CPU-only and non-GPU accelerators (TPU)."""
    total = sum(v for k, v in accelerators.items() if not k.lower().startswith("tpu"))
    return int(math.ceil(total))


def task_id(spec: dict, cluster: dict, job_id: int) -> str:
    return f"{spec['task_ts']}_{job_cluster(spec, cluster)['cluster_name']}_{job_id}"


def run_env(spec: dict, cluster: dict, job_id: int, rank: int, secrets: dict) -> dict:
    """Environment of the `run` script on one rank (SkyPilot's names and formats)."""
    nodes = job_nodes(cluster, spec["num_nodes"])
    env = {
        # user envs of these two names shadow the system value, as in SkyPilot
        "SKYPILOT_NODE_IPS": "\n".join(n["ip"] for n in nodes),
        "SKYPILOT_NUM_NODES": str(len(nodes)),
    }
    env.update(spec.get("envs") or {})
    env.update(secrets)
    env.update(nodes[rank].get("env") or {})
    env.update(
        {
            "SKYPILOT_NODE_RANK": str(rank),
            "SKYPILOT_NUM_GPUS_PER_NODE": str(gpus_per_node(spec.get("accelerators") or {})),
            "SKYPILOT_TASK_ID": task_id(spec, cluster, job_id),
            "SKYPILOT_CLUSTER_INFO": cluster_info(spec, cluster),
            "SKYPILOT_INTERNAL_JOB_ID": str(job_id),
            "SKYPILOT_USER": spec.get("username") or "",
        }
    )
    return env


def setup_env(spec: dict, cluster: dict, job_id: int, rank: int, secrets: dict) -> dict:
    """Environment of the `setup` script on one cluster node (every node of the cluster)."""
    accs = spec.get("accelerators") or {}
    first = next(iter(accs.values()), 0)
    env = dict(spec.get("envs") or {})
    env.update(secrets)
    env.update(
        {
            "SKYPILOT_SETUP_NODE_RANK": str(rank),
            "SKYPILOT_SETUP_NODE_IPS": "\n".join(n["ip"] for n in cluster["nodes"]),
            "SKYPILOT_NUM_NODES": str(spec["num_nodes"]),
            "SKYPILOT_SETUP_NUM_GPUS_PER_NODE": str(int(math.ceil(first))),
            "SKYPILOT_TASK_ID": task_id(spec, cluster, job_id),
            "SKYPILOT_CLUSTER_INFO": cluster_info(spec, cluster),
            "SKYPILOT_USER": spec.get("username") or "",
        }
    )
    return env


def make_script(user_script: str, env: dict, pgid_file: str) -> str:
    """A self-deleting bash script (it holds secrets) that records its process group first."""
    exports = "".join(f"export {k}={shlex.quote(str(v))}\n" for k, v in env.items())
    return (
        'rm -f -- "$0"\n'
        f"echo $$ > {pgid_file}\n"
        # a finished rank's group id must not outlive it: a later sweep could hit a reused id
        f"trap 'rm -f {pgid_file}' EXIT\n"
        "export PYTHONUNBUFFERED=1\n"
        "mkdir -p ~/sky_workdir && cd ~/sky_workdir\n"
        f"{exports}"
        f"{user_script}\n"
    )


def setup_hash(spec: dict, secrets: dict) -> str:
    blob = json.dumps([spec.get("setup"), spec.get("envs") or {}, secrets], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


# ---------------------------------------------------------------- ssh to workers


def ssh_base(node: dict) -> list[str]:
    d = skyc_dir()
    return [
        "ssh",
        "-i", os.path.join(d, "cluster_key"),
        "-p", str(node["port"]),
        "-o", f"UserKnownHostsFile={os.path.join(d, 'known_hosts')}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=10",
        "-o", "ServerAliveInterval=5",
        "-o", "ServerAliveCountMax=3",
        "-o", "LogLevel=ERROR",
        f"{node['user']}@{node['ip']}",
    ]  # fmt: skip


def node_reachable(node: dict) -> bool:
    try:
        return subprocess.run(ssh_base(node) + ["true"], capture_output=True, timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def kill_command(job_id: int, tag: str, wait: bool) -> str:
    """Shell that kills the process group recorded in `<tag>.pgid` (TERM, then KILL)."""
    f = f"~/.skyc/jobs/{job_id}/{tag}.pgid"
    waiter = f"for i in $(seq 50); do [ -s {f} ] && break; sleep 0.1; done; " if wait else ""
    return (
        f"{waiter}[ -s {f} ] || exit 0; g=$(cat {f}); kill -TERM -- -$g 2>/dev/null || exit 0; "
        f"for i in $(seq 20); do kill -0 -- -$g 2>/dev/null || exit 0; sleep 0.1; done; kill -KILL -- -$g 2>/dev/null; exit 0"
    )


# ---------------------------------------------------------------- driver


class LogSink:
    """The job's run.log; ranks write whole chunks (single node) or prefixed lines (multi-node)."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self.lock:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]

    def pump(self, stream, prefix: bytes) -> None:
        fd = stream.fileno()
        pending = b""
        while True:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            if not prefix:
                self.write(chunk)
                continue
            pending += chunk
            if b"\n" in pending:
                done, pending = pending.rsplit(b"\n", 1)
                self.write(b"".join(prefix + line + b"\n" for line in done.split(b"\n")))
        if pending:
            self.write(prefix + pending + b"\n")


class RankProc:
    """One rank's script running on the head (local) or on a worker (over ssh)."""

    def __init__(self, job_id: int, tag: str, node: dict, user_script: str, env: dict, local: bool):
        self.job_id, self.tag, self.node, self.local = job_id, tag, node, local
        jd = job_dir(job_id)
        body = make_script(user_script, env, f"~/.skyc/jobs/{job_id}/{tag}.pgid")
        if local:
            path = os.path.join(jd, f"{tag}.sh")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, body.encode())
            os.close(fd)
            self.proc = subprocess.Popen(
                ["bash", path],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=os.path.expanduser("~"),
            )
        else:
            remote = (
                f"umask 077; mkdir -p ~/.skyc/jobs/{job_id} && cat > ~/.skyc/jobs/{job_id}/{tag}.sh && "
                f"exec setsid -w bash ~/.skyc/jobs/{job_id}/{tag}.sh < /dev/null"
            )
            self.proc = subprocess.Popen(
                ssh_base(node) + [remote], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            try:
                self.proc.stdin.write(body.encode())
                self.proc.stdin.close()
            except BrokenPipeError:
                pass

    def kill(self) -> None:
        if self.local:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                for _ in range(20):
                    os.killpg(self.proc.pid, 0)
                    time.sleep(0.1)
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        else:
            subprocess.run(
                ssh_base(self.node) + [kill_command(self.job_id, self.tag, wait=True)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
            )


class Driver:
    """Runs one job: setup on every cluster node when it changed, then run on the job's nodes."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.db = connect()
        self.cluster = load_cluster()
        row = job_row(self.db, job_id)
        self.spec = json.loads(row["spec"])
        self.secrets = self._take_secrets()
        self.sink = LogSink(log_path(job_id))
        self.procs: list[RankProc] = []
        self.cancelled = False

    def _take_secrets(self) -> dict:
        """Read the job's secrets file and delete it: secrets never stay on disk in clear."""
        path = os.path.join(job_dir(self.job_id), "secrets.json")
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        os.unlink(path)
        return data

    def on_cancel(self, *_):
        self.cancelled = True
        self.kill_all()

    def kill_all(self) -> None:
        threads = [threading.Thread(target=p.kill) for p in self.procs if p.proc.poll() is None]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def run_on(self, nodes: list[dict], tag: str, make_env, user_script: str) -> tuple[int, str | None]:
        """Run a script on `nodes` (rank = position); returns (first non-zero exit or 0, lost node)."""
        head_ip = self.cluster["nodes"][0]["ip"]
        multi = len(nodes) > 1
        self.procs = []
        pumps = []
        for rank, node in enumerate(nodes):
            local = node["ip"] == head_ip and node.get("port") == self.cluster["nodes"][0].get("port")
            rp = RankProc(self.job_id, f"{tag}{rank}", node, user_script, make_env(rank), local)
            self.procs.append(rp)
            label = "rank" if tag == "run" else f"{tag} rank"
            prefix = f"({label} {rank}, {node['ip']}) ".encode() if multi else b""
            t = threading.Thread(target=self.sink.pump, args=(rp.proc.stdout, prefix), daemon=True)
            t.start()
            pumps.append(t)
        codes: dict[int, int] = {}
        failed_rank = None
        while len(codes) < len(self.procs):
            for rank, rp in enumerate(self.procs):
                if rank in codes:
                    continue
                code = rp.proc.poll()
                if code is None:
                    continue
                codes[rank] = code
                if code != 0 and failed_rank is None:
                    failed_rank = rank
                    self.kill_all()  # one rank failed: stop the others, as SkyPilot does
            time.sleep(0.05)
        for t in pumps:
            t.join()
        if failed_rank is None:
            return 0, None
        code = codes[failed_rank]
        node = nodes[failed_rank]
        lost = None
        if not self.procs[failed_rank].local and code == 255 and not self.cancelled and not node_reachable(node):
            lost = f"node {node.get('name', node['ip'])} ({node['ip']}) became unreachable"
        return code, lost

    def setup_needed(self) -> bool:
        return bool(self.spec.get("run_setup", True) and (self.spec.get("setup") or "").strip())

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.on_cancel)
        spec, cluster, db = self.spec, self.cluster, self.db
        try:
            if self.setup_needed():
                with FileLock("setup.lock"):  # two jobs never run setup at once
                    digest = setup_hash(spec, self.secrets)
                    if get_meta(db, "setup_hash") != digest:
                        if not set_status(db, self.job_id, SETTING_UP):
                            return
                        code, lost = self.run_on(
                            cluster["nodes"],
                            "setup",
                            lambda r: setup_env(spec, cluster, self.job_id, r, self.secrets),
                            spec["setup"],
                        )
                        if code != 0:
                            self.finish(FAILED_DRIVER if lost else FAILED_SETUP, code, lost or "setup failed")
                            return
                        set_meta(db, "setup_hash", digest)
            if not set_status(db, self.job_id, RUNNING, start_at=time.time()):
                return
            nodes = job_nodes(cluster, spec["num_nodes"])
            code, lost = self.run_on(
                nodes, "run", lambda r: run_env(spec, cluster, self.job_id, r, self.secrets), spec.get("run") or ""
            )
            if lost:
                self.finish(FAILED_DRIVER, code, lost)
            else:
                self.finish(SUCCEEDED if code == 0 else FAILED, code, None)
        except Exception as exc:  # record, never leave the job non-terminal
            self.finish(FAILED_DRIVER, None, f"driver error: {exc}")
            raise
        finally:
            self.kill_all()
            try:
                schedule(db)  # the next pending job starts when this one ends
            except Exception:
                pass

    def finish(self, status: str, code: int | None, message: str | None) -> None:
        if message and status != FAILED:
            self.sink.write(f"ERROR: {message}\n".encode())
        set_status(self.db, self.job_id, status, end_at=time.time(), exit_code=code, message=message)


# ---------------------------------------------------------------- commands


def out(obj) -> int:
    sys.stdout.write(json.dumps(obj) + "\n")
    return 0


def cmd_submit(args) -> int:
    """Read a job spec (JSON, with secrets) from stdin, queue it and schedule."""
    spec = json.load(sys.stdin)
    secrets = spec.pop("secrets", None) or {}
    cluster = load_cluster()
    num_nodes = int(spec.get("num_nodes") or 1)
    if num_nodes > len(cluster["nodes"]):
        return out({"error": f"the job asks for {num_nodes} nodes; the cluster has {len(cluster['nodes'])}"})
    spec["num_nodes"] = num_nodes
    spec.setdefault("task_ts", time.strftime("sky-%Y-%m-%d-%H-%M-%S-000000", time.gmtime()))
    stored = dict(spec, secrets={k: REDACTED for k in secrets})
    accs = spec.get("accelerators") or {}
    cpus = float(spec.get("cpus") if spec.get("cpus") is not None else CPUS_PER_JOB)
    db = connect()
    now = time.time()
    cur = db.execute(
        "INSERT INTO jobs(name, username, status, submitted_at, num_nodes, cpus, accelerators, spec) VALUES (?,?,?,?,?,?,?,?)",
        (spec.get("name"), spec.get("username"), INIT, now, num_nodes, cpus, json.dumps(accs), json.dumps(stored)),
    )
    job_id = cur.lastrowid
    os.makedirs(job_dir(job_id), exist_ok=True)
    old = os.umask(0o077)
    try:
        if secrets:
            with open(os.path.join(job_dir(job_id), "secrets.json"), "w") as f:
                json.dump(secrets, f)
    finally:
        os.umask(old)
    open(log_path(job_id), "ab").close()  # followers can open it at once
    set_meta(db, "last_active", now)
    set_status(db, job_id, PENDING)
    schedule(db)
    return out({"job_id": job_id, "log_path": log_path(job_id)})


def cmd_queue(args) -> int:
    db = connect()
    reconcile(db)
    rows = db.execute("SELECT * FROM jobs ORDER BY job_id DESC").fetchall()
    jobs = [row_json(r) for r in rows]
    if not args.all:
        jobs = [j for j in jobs if j["status"] in ACTIVE] + [j for j in jobs if j["status"] in TERMINAL][:1000]
    return out(jobs)


def cmd_status(args) -> int:
    db = connect()
    reconcile(db)
    row = job_row(db, args.job_id)
    return out(row_json(row) if row else None)


def kill_job(db: sqlite3.Connection, row: sqlite3.Row, cluster: dict) -> None:
    """Stop a job's driver and every process group it started on any node."""
    job_id = row["job_id"]
    pid = row["driver_pid"]
    if not pid:
        return  # never started: nothing runs anywhere
    if driver_alive(job_id, pid):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.time() + 15
        while driver_alive(job_id, pid) and time.time() < deadline:
            time.sleep(0.05)
        if driver_alive(job_id, pid):
            os.killpg(pid, signal.SIGKILL)
    # Sweep after the driver: it may have died before killing its ranks.
    nodes = cluster["nodes"]
    threads = []
    for rank, node in enumerate(nodes):
        tags = [f"setup{rank}"] + ([f"run{rank}"] if rank < row["num_nodes"] else [])
        if rank == 0:
            for tag in tags:
                _kill_local(job_id, tag)
            continue
        script = "; ".join("(" + kill_command(job_id, tag, wait=False) + ")" for tag in tags)
        threads.append(
            threading.Thread(
                target=subprocess.run,
                args=(ssh_base(node) + [script],),
                kwargs={"stdin": subprocess.DEVNULL, "capture_output": True, "timeout": 30},
            )
        )
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _kill_local(job_id: int, tag: str) -> None:
    try:
        with open(os.path.join(job_dir(job_id), f"{tag}.pgid")) as f:
            pgid = int(f.read().strip())
    except (OSError, ValueError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        for _ in range(20):
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def cmd_cancel(args) -> int:
    db = connect()
    reconcile(db)
    if args.all:
        rows = db.execute("SELECT * FROM jobs WHERE status IN (?,?,?,?)", ACTIVE).fetchall()
    elif args.job_ids:
        rows = [r for j in args.job_ids if (r := job_row(db, j)) is not None and r["status"] in ACTIVE]
    else:
        r = db.execute("SELECT * FROM jobs WHERE status IN (?,?,?,?) ORDER BY job_id DESC LIMIT 1", ACTIVE).fetchone()
        rows = [r] if r else []
    cluster = load_cluster()
    cancelled = []
    for row in rows:
        if set_status(db, row["job_id"], CANCELLED, end_at=time.time()):
            cancelled.append(row["job_id"])
            if not row["driver_pid"]:
                drop_secrets(row["job_id"])
    for row in rows:
        kill_job(db, row, cluster)
    schedule(db)
    return out(cancelled)


def cmd_tail(args) -> int:
    """Stream raw log bytes from --offset (or the last --lines lines); with --follow, until the job ends."""
    db = connect()
    row = job_row(db, args.job_id)
    if row is None:
        sys.stderr.write("no such job\n")
        return 102
    job_id = row["job_id"]
    path = log_path(job_id)
    offset = args.offset
    if offset is None:
        offset = offset_of_last_lines(path, args.lines) if args.lines is not None else 0
    sink = sys.stdout.buffer
    if args.header:  # the resolved start offset, so a reconnecting follower can resume exactly
        sink.write(b"%019d\n" % offset)
        sink.flush()
    while not os.path.exists(path):
        if not args.follow or job_row(db, job_id)["status"] in TERMINAL:
            return 0
        time.sleep(0.05)
    with open(path, "rb") as f:
        f.seek(offset)
        finishing = None
        while True:
            chunk = f.read(4 * CHUNK)
            if chunk:
                sink.write(chunk)
                sink.flush()
                continue
            if not args.follow:
                return 0
            row = job_row(db, job_id)
            if row["status"] in TERMINAL:
                # Drain what the driver still writes after the status flip, then stop.
                if not driver_alive(job_id, row["driver_pid"]):
                    if finishing is None:
                        finishing = True
                        continue
                    return 0
            time.sleep(0.05)


def offset_of_last_lines(path: str, lines: int) -> int:
    try:
        size = os.path.getsize(path)
    except OSError:
        return 0
    if lines <= 0:
        return size
    with open(path, "rb") as f:
        pos, found = size, 0
        # a trailing newline ends the last line; it does not start a new one
        f.seek(max(0, size - 1))
        if size and f.read(1) == b"\n":
            pos -= 1
        while pos > 0:
            step = min(65536, pos)
            f.seek(pos - step)
            block = f.read(step)
            idx = len(block)
            while True:
                idx = block.rfind(b"\n", 0, idx)
                if idx < 0:
                    break
                found += 1
                if found == lines:
                    return pos - step + idx + 1
            pos -= step
    return 0


def ssh_sessions(exclude: str | None) -> int:
    """ESTABLISHED TCP connections to the head's own sshd, minus the asking session."""
    cluster = load_cluster()
    head = cluster["nodes"][0]
    port = int(head.get("port") or 22)
    # Local nodes share one host (and port): only the head's own loopback address is its sshd.
    own_ip = head["ip"] if head["ip"].startswith("127.") else None
    skip = None
    if exclude:
        parts = exclude.split()
        if len(parts) == 4:
            skip = (parts[0], int(parts[1]))
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] != "01":  # ESTABLISHED
                        continue
                    lip, lport = _addr(cols[1])
                    rip, rport = _addr(cols[2])
                    if lport != port or (own_ip and lip != own_ip):
                        continue
                    if skip and (rip, rport) == skip:
                        continue
                    count += 1
        except OSError:
            continue
    return count


def _addr(hexaddr: str) -> tuple[str, int]:
    host, port = hexaddr.split(":")
    if len(host) == 8:
        ip = ".".join(str(b) for b in bytes.fromhex(host)[::-1])
    else:  # IPv6: keep the mapped IPv4 tail when present
        raw = bytes.fromhex(host)
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        ip = ".".join(str(b) for b in words[12:]) if words[:12] == b"\0" * 10 + b"\xff\xff" else words.hex()
    return ip, int(port, 16)


def cmd_idle(args) -> int:
    """Seconds since the cluster was last busy (jobs, and SSH sessions unless wait_for=jobs)."""
    db = connect()
    reconcile(db)
    now = time.time()
    auto = get_meta(db, "autostop", {}) or {}
    wait_for = args.wait_for or auto.get("wait_for") or "jobs_and_ssh"
    busy_jobs = db.execute("SELECT COUNT(*) FROM jobs WHERE status IN (?,?,?,?)", ACTIVE).fetchone()[0]
    sessions = ssh_sessions(os.environ.get("SSH_CONNECTION")) if wait_for == "jobs_and_ssh" else 0
    busy = wait_for != "none" and (busy_jobs > 0 or sessions > 0)
    if busy:
        set_meta(db, "last_active", now)
    last_end = db.execute("SELECT MAX(end_at) FROM jobs").fetchone()[0] or 0.0
    last = max(get_meta(db, "last_active") or get_meta(db, "installed_at") or now, last_end)
    return out({"idle_seconds": 0.0 if busy else max(0.0, now - last), "active_jobs": busy_jobs, "ssh_sessions": sessions})


def cmd_autostop(args) -> int:
    db = connect()
    if args.action == "set":
        conf = {"idle_minutes": args.idle_minutes, "down": args.down, "wait_for": args.wait_for or "jobs_and_ssh"}
        set_meta(db, "autostop", conf)
        set_meta(db, "last_active", time.time())  # changing autostop restarts the idle clock
        return out(conf)
    return out(get_meta(db, "autostop", None))


def cmd_init(args) -> int:
    """Called after install: create the table and start the idle clock."""
    db = connect()
    if get_meta(db, "installed_at") is None:
        set_meta(db, "installed_at", time.time())
    reconcile(db)
    schedule(db)
    return out({"version": VERSION})


def cmd_driver(args) -> int:
    Driver(args.job_id).run()
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="skyc_agent")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("submit").set_defaults(fn=cmd_submit)
    q = sub.add_parser("queue")
    q.add_argument("--all", action="store_true")
    q.set_defaults(fn=cmd_queue)
    s = sub.add_parser("status")
    s.add_argument("--job-id", type=int)
    s.set_defaults(fn=cmd_status)
    c = sub.add_parser("cancel")
    c.add_argument("job_ids", nargs="*", type=int)
    c.add_argument("--all", action="store_true")
    c.set_defaults(fn=cmd_cancel)
    t = sub.add_parser("tail")
    t.add_argument("--job-id", type=int)
    t.add_argument("--offset", type=int)
    t.add_argument("--lines", type=int)
    t.add_argument("--follow", action="store_true")
    t.add_argument("--header", action="store_true", help="print the start offset first (20 bytes)")
    t.set_defaults(fn=cmd_tail)
    i = sub.add_parser("idle")
    i.add_argument("--wait-for", choices=["jobs_and_ssh", "jobs", "none"])
    i.set_defaults(fn=cmd_idle)
    a = sub.add_parser("autostop")
    a.add_argument("action", choices=["set", "get"])
    a.add_argument("--idle-minutes", type=int, default=-1)
    a.add_argument("--down", action="store_true")
    a.add_argument("--wait-for", choices=["jobs_and_ssh", "jobs", "none"])
    a.set_defaults(fn=cmd_autostop)
    sub.add_parser("init").set_defaults(fn=cmd_init)
    d = sub.add_parser("driver")
    d.add_argument("job_id", type=int)
    d.set_defaults(fn=cmd_driver)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args) or 0
    except BrokenPipeError:  # a follower went away
        return 0


if __name__ == "__main__":
    sys.exit(main())
