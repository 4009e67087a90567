"""The cluster lifecycle through the real `skyc` CLI on local infra (real Pulumi, sshd, rsync, SQLite)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli_helpers import SKYC, cli_env, procs_using, skyc, stop_controller

pytestmark = pytest.mark.timeout(400)

HELLO = """\
name: hello
resources:
  infra: local
workdir: .
setup: echo "setup-ran"
run: |
  echo "hello from rank $SKYPILOT_NODE_RANK"
  cat data.txt
"""


@pytest.fixture
def env(skyc_home: Path, tmp_path: Path):
    user_home = tmp_path / "home"
    user_home.mkdir()
    e = cli_env(skyc_home, user_home, SKYC_CONTROLLER_INTERVAL="2")
    yield e
    for c in json.loads(skyc(e, "status", "-o", "json").stdout or "[]"):
        skyc(e, "down", "-y", "--purge", c["name"])
    stop_controller(e)
    assert procs_using(skyc_home) == []


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    d = tmp_path / "task"
    d.mkdir()
    (d / "hello.yaml").write_text(HELLO)
    (d / "data.txt").write_text("data-from-workdir\n")
    return d


def _status(env) -> dict:
    return {c["name"]: c for c in json.loads(skyc(env, "status", "-o", "json").stdout)}


def test_whole_lifecycle(env, task_dir, skyc_home):
    r = skyc(env, "launch", "-y", "-c", "life", "hello.yaml", cwd=str(task_dir))
    assert r.returncode == 0, r.stderr
    assert "setup-ran" in r.stdout and "hello from rank 0" in r.stdout and "data-from-workdir" in r.stdout
    st = _status(env)["life"]
    assert st["status"] == "UP" and st["cloud"] == "local" and st["nodes"] == 1 and st["autostop"] == -1

    # ssh NAME through the written config (ssh reads the passwd home, so point -F at the test HOME's file)
    user_cfg = Path(env["HOME"]) / ".ssh" / "config"
    assert f"Include {skyc_home / 'ssh' / 'config'}" in user_cfg.read_text()
    ssh = subprocess.run(["ssh", "-F", str(user_cfg), "-o", "BatchMode=yes", "life", "echo ok"],
                         capture_output=True, text=True, timeout=30)
    assert ssh.returncode == 0 and ssh.stdout.strip() == "ok", ssh.stderr

    r = skyc(env, "exec", "life", "echo second-job")
    assert r.returncode == 0 and "second-job" in r.stdout and "setup-ran" not in r.stdout
    q = json.loads(skyc(env, "queue", "life", "-o", "json").stdout)["life"]
    assert [(j["job_id"], j["status"]) for j in sorted(q, key=lambda j: j["job_id"])] == [(1, "SUCCEEDED"), (2, "SUCCEEDED")]
    assert json.loads(skyc(env, "queue", "-o", "json").stdout) == {"life": q}  # no name: every UP cluster
    r = skyc(env, "logs", "life", "--status")
    assert r.returncode == 0 and "Job 2: SUCCEEDED" in r.stdout
    r = skyc(env, "logs", "life", "1", "--no-follow")
    assert "hello from rank 0" in r.stdout

    r = skyc(env, "exec", "life", "echo about-to-fail; exit 7")
    assert r.returncode == 100 and "about-to-fail" in r.stdout
    r = skyc(env, "logs", "life", "--status")
    assert r.returncode == 100 and "FAILED" in r.stdout
    assert skyc(env, "logs", "life", "99", "--status").returncode == 102

    r = skyc(env, "exec", "-d", "life", "sleep 300")
    assert r.returncode == 0
    r = skyc(env, "cancel", "life", "4")
    assert r.returncode == 0 and "4" in r.stdout
    r = skyc(env, "logs", "life", "4", "--status")
    assert r.returncode == 103 and "CANCELLED" in r.stdout

    # stop: sshd gone, node directories and SSH entries kept
    node_dir = skyc_home / "local" / "life" / "head"
    r = skyc(env, "stop", "-y", "life")
    assert r.returncode == 0, r.stderr
    assert _status(env)["life"]["status"] == "STOPPED"
    assert node_dir.is_dir() and not [p for p, cmd in procs_using(node_dir) if "sshd" in cmd]
    assert "Host life" in (skyc_home / "ssh" / "config").read_text()
    assert skyc(env, "exec", "life", "echo no").returncode == 1

    r = skyc(env, "start", "life")
    assert r.returncode == 0, r.stderr
    assert _status(env)["life"]["status"] == "UP"
    r = skyc(env, "exec", "life", "cat ~/sky_workdir/data.txt")
    assert r.returncode == 0 and "data-from-workdir" in r.stdout

    # autostop -i 1 --down: the background controller tears the cluster down once idle
    r = skyc(env, "autostop", "life", "-i", "1", "--down")
    assert r.returncode == 0, r.stderr
    st = _status(env)["life"]
    assert st["autostop"] == 1 and st["to_down"] is True
    assert "Controller: running" in skyc(env, "status").stdout
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and "life" in _status(env):
        time.sleep(3)
    assert "life" not in _status(env), (skyc_home / "controller" / "controller.log").read_text()[-2000:]
    assert "Host life" not in (skyc_home / "ssh" / "config").read_text()
    report = {c["name"]: c for c in json.loads(skyc(env, "cost-report", "-o", "json").stdout)}
    assert report["life"]["status"] == "TERMINATED" and report["life"]["duration"] > 60


def test_ctrl_c_during_launch_then_down_leaves_nothing(env, task_dir, skyc_home):
    proc = subprocess.Popen([*SKYC, "launch", "-y", "-c", "intr", "hello.yaml"], env=env, cwd=str(task_dir),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Interrupt once the engine has started work on the stack.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (skyc_home / "pulumi" / "pending" / "intr.json").exists():
        time.sleep(0.05)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "skyc down intr" in err
    assert _status(env)["intr"]["status"] == "INIT"
    r = skyc(env, "down", "-y", "intr")
    assert r.returncode == 0, r.stderr
    assert "intr" not in _status(env)
    assert not (skyc_home / "local" / "intr").exists() or not any((skyc_home / "local" / "intr").iterdir())
    assert procs_using(skyc_home) == []


def test_bad_input_is_one_clear_line(env, task_dir):
    r = skyc(env, "launch", "-y", "-c", "bad name!", "echo hi")
    assert r.returncode == 1 and "invalid cluster name" in r.stderr and "Traceback" not in r.stderr
    r = skyc(env, "exec", "nosuch", "echo hi")
    assert r.returncode == 1 and "does not exist" in r.stderr
    r = skyc(env, "launch", "-y", "-c", "x1", "missing.yaml", cwd=str(task_dir))
    assert r.returncode == 2 and "not found" in r.stderr
    r = skyc(env, "autostop", "x", "-i", "3", "--cancel")
    assert r.returncode == 2
    assert skyc(env, "down", "-y", "nosuch").returncode == 1
    for cmd in ("stop", "down"):  # an unknown name fails before any question is asked
        r = skyc(env, cmd, "nosuch")
        assert r.returncode == 1 and "no cluster named 'nosuch'" in r.stderr and "?" not in r.stdout
    (task_dir / "nowork.yaml").write_text("resources:\n  infra: local\nworkdir: ./nope\nrun: ls\n")
    r = skyc(env, "launch", "-y", "-c", "x2", "nowork.yaml", cwd=str(task_dir))
    assert r.returncode == 1 and "workdir: ./nope does not exist" in r.stderr
    assert _status(env) == {}  # refused at plan time: nothing was provisioned


def test_launch_over_policy_creates_nothing(env, task_dir, skyc_home):
    (skyc_home / "policy.yaml").write_text("max_nodes: 1\n")
    r = skyc(env, "launch", "-y", "-c", "toobig", "--num-nodes", "2", "--infra", "local", "echo hi")
    assert r.returncode == 1, r.stderr
    assert "violates policy" in r.stderr and "max_nodes" in r.stderr and "Traceback" not in r.stderr
    assert _status(env) == {}
    assert not (skyc_home / "state").exists() or "toobig" not in " ".join(
        p.name for p in (skyc_home / "state").rglob("*"))


def test_launch_fails_over_to_the_next_placement(env, tmp_path, skyc_home):
    """The preferred placement (an SSH pool whose only host refuses connections) fails for real
    in the engine; launch blocks it, says why, and provisions the next one."""
    key = tmp_path / "pool_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (skyc_home / "ssh_node_pools.yaml").write_text(
        f"dead:\n  user: nobody\n  identity_file: {key}\n  hosts:\n    - {{ip: 127.0.0.1, port: 1}}\n")
    task = tmp_path / "failover.yaml"
    task.write_text("resources:\n  ordered:\n    - infra: ssh/dead\n    - infra: local\nrun: echo ran-after-failover\n")
    r = skyc(env, "launch", "-y", "-c", "fo", str(task))
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "Provisioning on ssh/dead failed" in out and "cannot reach pool host nobody@127.0.0.1:1" in out
    assert "Trying the next placement" in out and "ran-after-failover" in r.stdout
    assert _status(env)["fo"]["infra"].startswith("local")
    from skyc.stacks import ssh_pool  # reads this test's SKYC_HOME

    assert ssh_pool.claims() == []  # the failed placement holds no host


def test_relaunch_fast_and_git_workdirs(env, task_dir):
    assert skyc(env, "launch", "-y", "-c", "again", "hello.yaml", cwd=str(task_dir)).returncode == 0
    changed = HELLO.replace('echo "setup-ran"', 'echo "setup-changed"')
    (task_dir / "changed.yaml").write_text(changed)
    r = skyc(env, "launch", "-y", "-c", "again", "--fast", "changed.yaml", cwd=str(task_dir))
    assert r.returncode == 0 and "hello from rank 0" in r.stdout and "setup-changed" not in r.stdout
    r = skyc(env, "launch", "-y", "-c", "again", "changed.yaml", cwd=str(task_dir))
    assert r.returncode == 0 and "setup-changed" in r.stdout  # the setup's hash changed: it runs again
    # A git workdir from the task file, then from --git-url/--git-ref; SkyPilot's GIT_* envs are set.
    src = task_dir / "src"
    subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True)
    (src / "f.txt").write_text("from-git\n")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t", "-C", str(src)]
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "one"], check=True)
    (task_dir / "git.yaml").write_text(f"workdir:\n  url: file://{src}\nrun: cat f.txt; echo url=$GIT_URL\n")
    r = skyc(env, "launch", "-y", "-c", "again", "git.yaml", cwd=str(task_dir))
    assert r.returncode == 0 and "from-git" in r.stdout and f"url=file://{src}" in r.stdout, r.stderr
    r = skyc(env, "exec", "again", "--git-url", f"file://{src}", "--git-ref", "main", "echo branch=$GIT_BRANCH")
    assert r.returncode == 0 and "branch=main" in r.stdout, r.stderr
    r = skyc(env, "exec", "again", "--cpus", "64", "echo still-ran")
    assert r.returncode == 0 and "still-ran" in r.stdout and "--cpus ignored by exec" in r.stderr
