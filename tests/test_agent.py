"""The on-node agent alone: pure scheduling/env functions, and its CLI run for real on a head-only
cluster (rank 0 runs on the head itself, so no SSH is needed)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skyc.runtime.agent import AGENT_FILE, agent_version
from skyc.runtime.agent import skyc_agent as agent
from skyc.runtime.cluster import exit_code_for
from skyc.runtime.jobs import task_timestamp
from tests.nodes import procs_with

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------- pure functions


def job(job_id, num_nodes=1, cpus=0.5, acc=None):
    return {"job_id": job_id, "num_nodes": num_nodes, "cpus": cpus, "accelerators": acc or {}}


def test_schedule_fifo_head_of_line_blocks():
    nodes = [{"cpus": 2, "accelerators": {}}]
    # job 1 takes every CPU; 2 must wait, and 3 (small) may not jump the queue
    assert agent.plan_schedule(nodes, [], [job(1, cpus=2), job(2), job(3)]) == [1]
    assert agent.plan_schedule(nodes, [job(1, cpus=2)], [job(2), job(3)]) == []
    assert agent.plan_schedule(nodes, [], [job(2), job(3)]) == [2, 3]
    assert agent.plan_schedule(nodes, [], [job(i) for i in range(1, 7)]) == [1, 2, 3, 4]  # 4 x 0.5 CPU


def test_schedule_gpu_accounting_per_node_and_fractional():
    nodes = [{"cpus": 8, "accelerators": {"A100": 2}}, {"cpus": 8, "accelerators": {"A100": 2}}]
    assert agent.plan_schedule(nodes, [], [job(1, 2, acc={"A100": 2}), job(2, acc={"A100": 0.5})]) == [1]
    assert agent.plan_schedule(nodes, [], [job(1, acc={"A100": 1.5}), job(2, acc={"A100": 0.5}), job(3, acc={"A100": 0.5})]) == [1, 2]
    assert agent.plan_schedule(nodes, [], [job(1, acc={"H100": 1})]) == []  # no such accelerator
    # a 1-node job uses the head only: a 2-node job still fits on worker capacity? no: it needs the head too
    assert agent.plan_schedule(nodes, [job(1, acc={"A100": 2})], [job(2, 2, acc={"A100": 1})]) == []


CLUSTER = {
    "cluster_name": "c1",
    "cloud": "Local",
    "region": None,
    "zone": None,
    "nodes": [
        {"rank": 0, "name": "head", "ip": "127.0.3.1", "port": 2222, "env": {"CUDA_VISIBLE_DEVICES": "0,1"}},
        {"rank": 1, "name": "worker1", "ip": "127.0.3.2", "port": 2222, "env": {}},
        {"rank": 2, "name": "worker2", "ip": "127.0.3.3", "port": 2222, "env": {}},
    ],
}


def spec(**kw):
    base = {"num_nodes": 2, "envs": {"A": "1"}, "accelerators": {"A100": 0.5}, "task_ts": "sky-2024-01-02-03-04-05-000006", "username": "alice"}
    base.update(kw)
    return base


def test_run_env_matches_skypilot_formats():
    env = agent.run_env(spec(), CLUSTER, 7, 1, {"TOKEN": "t"})
    assert env["SKYPILOT_NODE_RANK"] == "1"
    assert env["SKYPILOT_NODE_IPS"] == "127.0.3.1\n127.0.3.2"  # job's nodes only, rank order
    assert env["SKYPILOT_NUM_NODES"] == "2"
    assert env["SKYPILOT_NUM_GPUS_PER_NODE"] == "1"  # ceil(0.5)
    assert env["SKYPILOT_TASK_ID"] == "sky-2024-01-02-03-04-05-000006_c1_7"
    assert env["SKYPILOT_CLUSTER_INFO"] == '{"cluster_name": "c1", "cloud": "Local", "region": null, "zone": null}'
    assert env["SKYPILOT_INTERNAL_JOB_ID"] == "7"
    assert env["SKYPILOT_USER"] == "alice"
    assert env["A"] == "1" and env["TOKEN"] == "t"
    assert "CUDA_VISIBLE_DEVICES" not in env  # node 1 has no split
    assert agent.run_env(spec(), CLUSTER, 7, 0, {})["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_run_env_shadowing_rules():
    user = {"SKYPILOT_NODE_IPS": "mine", "SKYPILOT_NUM_NODES": "9", "SKYPILOT_NODE_RANK": "5"}
    env = agent.run_env(spec(envs=user), CLUSTER, 1, 0, {})
    assert env["SKYPILOT_NODE_IPS"] == "mine" and env["SKYPILOT_NUM_NODES"] == "9"
    assert env["SKYPILOT_NODE_RANK"] == "0"  # rank cannot be shadowed
    # secrets win over envs of the same name
    assert agent.run_env(spec(envs={"K": "env"}), CLUSTER, 1, 0, {"K": "secret"})["K"] == "secret"


def test_gpu_count_and_setup_env():
    assert agent.gpus_per_node({}) == 0
    assert agent.gpus_per_node({"tpu-v4-8": 1}) == 0
    assert agent.gpus_per_node({"H100": 8}) == 8
    env = agent.setup_env(spec(num_nodes=1, cluster={"cluster_name": "given", "cloud": "AWS", "region": "us-east-1", "zone": None}), CLUSTER, 3, 2, {})
    assert env["SKYPILOT_SETUP_NODE_RANK"] == "2"
    assert env["SKYPILOT_SETUP_NODE_IPS"] == "127.0.3.1\n127.0.3.2\n127.0.3.3"  # whole cluster
    assert env["SKYPILOT_NUM_NODES"] == "1"
    assert env["SKYPILOT_SETUP_NUM_GPUS_PER_NODE"] == "1"
    assert json.loads(env["SKYPILOT_CLUSTER_INFO"]) == {"cluster_name": "given", "cloud": "AWS", "region": "us-east-1", "zone": None}
    assert env["SKYPILOT_TASK_ID"].endswith("_given_3")
    assert "SKYPILOT_NODE_RANK" not in env


def test_script_exports_survive_bash_quoting(tmp_path):
    tricky = {"Q": "it's \"quoted\" $HOME `id` \\ ;", "NL": "a\nb", "EMPTY": ""}
    script = agent.make_script('printf "%s|" "$Q" "$NL" "$EMPTY" "$PWD"', tricky, str(tmp_path / "pg"))
    path = tmp_path / "s.sh"
    path.write_text(script)
    res = subprocess.run(["bash", str(path)], capture_output=True, text=True, env={**os.environ, "HOME": str(tmp_path)})
    assert res.stdout == f"{tricky['Q']}|a\nb||{tmp_path}/sky_workdir|"
    assert not path.exists()  # the script holds secrets: it deletes itself
    assert not (tmp_path / "pg").exists()  # the group id file goes when the rank ends
    script = agent.make_script("cat pg", {}, str(tmp_path / "pg"))
    path.write_text(script)
    (tmp_path / "sky_workdir").mkdir(exist_ok=True)
    (tmp_path / "sky_workdir" / "pg").symlink_to(tmp_path / "pg")
    res = subprocess.run(["bash", str(path)], capture_output=True, text=True, env={**os.environ, "HOME": str(tmp_path)})
    assert res.stdout.strip().isdigit()  # ... and it held the script's process group while running


def test_offset_of_last_lines(tmp_path):
    p = tmp_path / "log"
    p.write_bytes(b"one\ntwo\nthree\n")
    assert p.read_bytes()[agent.offset_of_last_lines(str(p), 2) :] == b"two\nthree\n"
    assert agent.offset_of_last_lines(str(p), 10) == 0
    assert agent.offset_of_last_lines(str(p), 0) == p.stat().st_size
    p.write_bytes(b"x" * 100000 + b"\nlast-no-newline")
    assert p.read_bytes()[agent.offset_of_last_lines(str(p), 1) :] == b"last-no-newline"


def test_exit_codes_and_task_timestamp():
    assert [exit_code_for(s) for s in ("SUCCEEDED", "FAILED", "FAILED_SETUP", "FAILED_DRIVER", "RUNNING", "PENDING", None, "CANCELLED")] == [0, 100, 100, 100, 101, 101, 102, 103]
    import datetime

    assert task_timestamp(datetime.datetime(2024, 5, 6, 7, 8, 9, 123)) == "sky-2024-05-06-07-08-09-000123"


def test_agent_is_stdlib_only():
    allowed = set(sys.stdlib_module_names)
    tree = __import__("ast").parse(AGENT_FILE.read_text())
    mods = set()
    for node in __import__("ast").walk(tree):
        if node.__class__.__name__ == "Import":
            mods |= {a.name.split(".")[0] for a in node.names}
        elif node.__class__.__name__ == "ImportFrom" and node.module:
            mods.add(node.module.split(".")[0])
    assert mods - allowed - {"__future__"} == set()
    assert len(agent_version()) == 16


# ---------------------------------------------------------------- the agent CLI on a head-only cluster


class Head:
    """A head-only cluster in a temp HOME; agent commands run as subprocesses, as over SSH."""

    def __init__(self, home: Path, cpus: float = 2):
        self.home = home
        (home / ".skyc").mkdir(parents=True)
        doc = {"cluster_name": "solo", "cloud": "Local", "nodes": [{"rank": 0, "name": "head", "ip": "127.0.0.1", "port": 22, "user": "u", "cpus": cpus, "accelerators": {}, "env": {}}]}
        (home / ".skyc" / "cluster.json").write_text(json.dumps(doc))

    def run(self, *args, stdin=None, check=True):
        res = subprocess.run(
            ["python3", str(AGENT_FILE), *map(str, args)],
            input=stdin,
            capture_output=True,
            env={**os.environ, "HOME": str(self.home)},
            timeout=30,
        )
        if check:
            assert res.returncode == 0, res.stderr
        return res

    def call(self, *args, stdin=None):
        return json.loads(self.run(*args, stdin=stdin).stdout)

    def submit(self, run, **kw):
        return self.call("submit", stdin=json.dumps({"run": run, "envs": {}, **kw}).encode())["job_id"]

    def wait(self, job_id, states=agent.TERMINAL, timeout=20.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            row = self.call("status", "--job-id", job_id)
            if row["status"] in states:
                return row
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} stuck in {row['status']}")

    def log(self, job_id) -> bytes:
        return (self.home / ".skyc" / "jobs" / str(job_id) / "run.log").read_bytes()


@pytest.fixture
def head(tmp_path):
    h = Head(tmp_path / "head")
    yield h
    h.run("cancel", "--all", check=False)


def test_fifo_queue_exclusive_job_blocks_the_next(head):
    first = head.submit("sleep 30.417", cpus=2)
    second = head.submit("echo second")
    assert head.wait(first, ("RUNNING",))["status"] == "RUNNING"
    time.sleep(0.3)
    assert head.call("status", "--job-id", second)["status"] == "PENDING"
    assert head.call("cancel", first) == [first]
    assert not procs_with(b"sleep\x0030.417")  # cancel returns only when the processes are gone
    assert head.wait(second)["status"] == "SUCCEEDED"  # the next job starts when one ends
    assert head.log(second) == b"second\n"
    queue = head.call("queue")
    assert [(j["job_id"], j["status"]) for j in queue] == [(second, "SUCCEEDED"), (first, "CANCELLED")]


def test_failing_run_records_exit_code(head):
    jid = head.submit("echo before; exit 7")
    row = head.wait(jid)
    assert (row["status"], row["exit_code"]) == ("FAILED", 7)
    assert head.log(jid) == b"before\n"


def test_secrets_are_redacted_in_the_job_table(head):
    # the run checks the value without spelling it (the run script itself is stored)
    jid = head.submit('[ "${TOKEN:0:5}${#TOKEN}" = s3cr312 ] && echo secret-ok', secrets={"TOKEN": "s3cr3t-value"})
    assert head.wait(jid)["status"] == "SUCCEEDED"
    assert head.log(jid) == b"secret-ok\n"
    for f in (head.home / ".skyc").rglob("*"):
        if f.is_file():
            assert b"s3cr3t-value" not in f.read_bytes(), f
    row = sqlite3.connect(head.home / ".skyc" / "jobs.db").execute("SELECT spec FROM jobs").fetchone()
    assert json.loads(row[0])["secrets"] == {"TOKEN": "<redacted>"}


def test_setup_runs_once_and_again_when_changed(head):
    j1 = head.submit("echo run1", setup="echo setup-a")
    head.wait(j1)
    j2 = head.submit("echo run2", setup="echo setup-a")
    head.wait(j2)
    j3 = head.submit("echo run3", setup="echo setup-a", envs={"V": "2"})  # envs are part of the hash
    head.wait(j3)
    j4 = head.submit("echo run4", setup="echo setup-a", envs={"V": "2"}, run_setup=False)
    head.wait(j4)
    assert head.log(j1) == b"setup-a\nrun1\n"
    assert head.log(j2) == b"run2\n"
    assert head.log(j3) == b"setup-a\nrun3\n"
    assert head.log(j4) == b"run4\n"


def test_failed_setup_keeps_its_log(head):
    jid = head.submit("echo never", setup="echo installing; exit 3")
    row = head.wait(jid)
    assert row["status"] == "FAILED_SETUP"
    assert b"installing\n" in head.log(jid) and b"never" not in head.log(jid)
    # a failed setup is not recorded as done: the next job runs it again
    j2 = head.submit("echo ok", setup="echo installing; exit 3")
    assert head.wait(j2)["status"] == "FAILED_SETUP"


def test_dead_driver_marks_failed_driver(head):
    jid = head.submit("sleep 30.733")
    row = head.wait(jid, ("RUNNING",))
    db = sqlite3.connect(head.home / ".skyc" / "jobs.db")
    pid = db.execute("SELECT driver_pid FROM jobs WHERE job_id=?", (jid,)).fetchone()[0]
    os.kill(pid, signal.SIGKILL)
    row = head.wait(jid)
    assert row["status"] == "FAILED_DRIVER" and "driver" in row["message"]
    assert not procs_with(b"sleep\x0030.733")  # the rank the driver left behind was stopped


def test_tail_lines_offset_and_unknown_job(head):
    jid = head.submit("seq 1 5")
    head.wait(jid)
    assert head.run("tail", "--job-id", jid, "--lines", "2").stdout == b"4\n5\n"
    res = head.run("tail", "--job-id", jid, "--offset", "4", "--header")
    assert res.stdout == b"%019d\n" % 4 + b"3\n4\n5\n"
    assert head.run("tail", "--job-id", 99, check=False).returncode == 102
    assert head.call("status", "--job-id", 99) is None


def test_idle_and_autostop(head):
    assert head.call("autostop", "get") is None
    conf = head.call("autostop", "set", "--idle-minutes", 5, "--down", "--wait-for", "jobs")
    assert conf == {"idle_minutes": 5, "down": True, "wait_for": "jobs"}
    assert head.call("autostop", "get") == conf
    time.sleep(0.3)
    assert head.call("idle")["idle_seconds"] >= 0.3
    jid = head.submit("sleep 2.05")
    head.wait(jid, ("RUNNING",))
    assert head.call("idle")["idle_seconds"] == 0.0
    head.wait(jid)
    idle = head.call("idle")["idle_seconds"]
    assert 0 <= idle < 2  # the clock restarted when the job was last seen running


def test_cancelled_pending_job_leaves_no_secrets(head):
    blocker = head.submit("sleep 30.919", cpus=2)
    pending = head.submit("echo x", secrets={"K": "v"})
    secrets = head.home / ".skyc" / "jobs" / str(pending) / "secrets.json"
    assert secrets.exists() and secrets.stat().st_mode & 0o777 == 0o600
    assert head.call("cancel", pending, blocker) == [pending, blocker]
    assert not secrets.exists()
    assert not procs_with(b"sleep\x0030.919")
