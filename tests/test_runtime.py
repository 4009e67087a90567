"""The runtime on real local nodes (sshd on loopback addresses): sync, setup, run, queue, logs, cancel."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from skyc.errors import NodeConnectionError, ProviderError, SpecError
from skyc.runtime import jobs, sync
from skyc.runtime.cluster import ClusterRuntime, JobSpec, exit_code_for
from skyc.stacks import local_node
from tests.nodes import local_cluster, procs_with

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster2(tmp_path_factory):
    with local_cluster(2, home=tmp_path_factory.mktemp("rt-home")) as inv:
        yield inv


@pytest.fixture
def rt(cluster2):
    runtime = ClusterRuntime(cluster2)
    yield runtime
    try:
        runtime.cancel(all=True)
    finally:
        runtime.close()


def spec(run, **kw) -> JobSpec:
    return JobSpec(name=kw.pop("name", "t"), run=run, setup=kw.pop("setup", None), **{"envs": {}, "secrets": {}, **kw})


def wait(rt, job_id, states=("SUCCEEDED", "FAILED", "FAILED_SETUP", "FAILED_DRIVER", "CANCELLED"), timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = rt.job_status(job_id)
        if status in states:
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} stuck in {status}")


def logs_of(rt, job_id, **kw) -> tuple[str | None, str]:
    buf = io.BytesIO()
    status = rt.follow_logs(job_id, out=buf, **kw)
    return status, buf.getvalue().decode()


def test_two_nodes_run_env_workdir_and_setup_once(rt, cluster2, tmp_path):
    head, worker = cluster2.nodes
    wd = tmp_path / "wd"
    (wd / "sub").mkdir(parents=True)
    (wd / "keep.txt").write_text("k")
    (wd / "sub" / "deep.txt").write_text("d")
    (wd / "secret.key").write_text("no")
    (wd / ".gitignore").write_text("keep.txt\n")  # ignored: .skyignore takes precedence
    (wd / ".skyignore").write_text("secret.key\n")
    rt.sync_workdir(str(wd))
    for node in cluster2.nodes:
        remote = Path(node.home) / "sky_workdir"
        assert (remote / "keep.txt").read_text() == "k" and (remote / "sub" / "deep.txt").exists()
        assert not (remote / "secret.key").exists()

    run = 'echo "rank=$SKYPILOT_NODE_RANK n=$SKYPILOT_NUM_NODES ips=$(echo "$SKYPILOT_NODE_IPS" | paste -sd,) pwd=$(basename $PWD) $(cat keep.txt)"'
    setup = 'echo "setup-A on $SKYPILOT_SETUP_NODE_RANK"'
    j1 = rt.submit(spec(run, setup=setup, num_nodes=2))
    status, text = logs_of(rt, j1)
    assert status == "SUCCEEDED", text
    ips = f"{head.private_ip},{worker.private_ip}"
    assert f"(rank 0, {head.private_ip}) rank=0 n=2 ips={ips} pwd=sky_workdir k" in text
    assert f"(rank 1, {worker.private_ip}) rank=1 n=2 ips={ips} pwd=sky_workdir k" in text
    assert text.count("setup-A on") == 2 and "setup-A on 1" in text

    j2 = rt.submit(spec(run, setup=setup, num_nodes=2))
    status, text = logs_of(rt, j2)
    assert status == "SUCCEEDED" and "setup-A" not in text and text.count("rank=") == 2

    j3 = rt.submit(spec("echo after", setup=setup.replace("setup-A", "setup-B"), num_nodes=1))
    status, text = logs_of(rt, j3)
    assert status == "SUCCEEDED" and text.count("setup-B on") == 2  # setup runs on every cluster node


def test_queue_waits_and_cancel_kills_processes_on_both_nodes(rt, cluster2):
    cpus = cluster2.head.cpus  # reserve every CPU of both nodes
    j1 = rt.submit(spec("sleep 41.377", num_nodes=2, cpus=cpus))
    j2 = rt.submit(spec("echo next", num_nodes=1))
    assert wait(rt, j1, ("RUNNING",)) == "RUNNING"
    deadline = time.time() + 10
    while len(procs_with(b"sleep\x0041.377")) < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert len(procs_with(b"sleep\x0041.377")) == 2  # one per node
    assert rt.job_status(j2) == "PENDING"
    assert rt.cancel([j1]) == [j1]
    assert procs_with(b"sleep\x0041.377") == []
    assert procs_with(f"jobs/{j1}/run".encode()) == []  # nor their shells
    assert rt.job_status(j1) == "CANCELLED"
    assert logs_of(rt, j2) == ("SUCCEEDED", "next\n")
    rows = {r["job_id"]: r for r in rt.queue()}
    assert rows[j1]["status"] == "CANCELLED" and rows[j1]["resources"].startswith("2x")
    assert exit_code_for(rt.job_status(j1)) == 103


def test_log_follow_survives_a_killed_connection(rt):
    n = 4000
    jid = rt.submit(spec(f"for i in $(seq 1 {n}); do echo line-$i; [ $((i % 200)) = 0 ] && sleep 0.25; done; true"))
    out = io.BytesIO()
    result = {}
    follower = threading.Thread(target=lambda: result.setdefault("status", rt.follow_logs(jid, out=out)))
    follower.start()
    killed = 0
    deadline = time.time() + 20
    while killed < 2 and time.time() < deadline:
        if out.tell() > 0:
            for pid in procs_with(b"skyc_agent.py\x00tail"):
                try:
                    ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
                    if b"sshd" in Path(f"/proc/{ppid}/cmdline").read_bytes():
                        os.kill(ppid, signal.SIGKILL)  # the server side of our SSH connection
                        killed += 1
                        time.sleep(0.3)
                except (OSError, ValueError):
                    pass
        time.sleep(0.05)
    follower.join(30)
    assert killed == 2, "could not find the log stream's sshd session to kill"
    assert result["status"] == "SUCCEEDED"
    assert out.getvalue().decode().splitlines() == [f"line-{i}" for i in range(1, n + 1)]


def test_failed_run_unknown_job_and_secrets(rt, cluster2):
    token = "tok-8c1f0e2a55"
    jid = rt.submit(spec('[ "${TOKEN:0:4}${#TOKEN}" = tok-14 ] && echo has-secret; exit 3', secrets={"TOKEN": token}, envs={"PLAIN": "p"}))
    status, text = logs_of(rt, jid)
    assert status == "FAILED" and exit_code_for(status) == 100
    assert text == "has-secret\n"
    row = next(r for r in rt.queue() if r["job_id"] == jid)
    assert row["exit_code"] == 3
    assert rt.job_status(10_000) is None and exit_code_for(rt.job_status(10_000)) == 102
    assert logs_of(rt, 10_000) == (None, "")
    assert rt.follow_logs(jid, follow=False, tail=1, out=io.BytesIO()) == "FAILED"
    for node in cluster2.nodes:
        for f in (Path(node.home) / ".skyc").rglob("*"):
            if f.is_file():
                assert token.encode() not in f.read_bytes(), f"secret in clear in {f}"


def test_exec_skips_setup_and_job_on_fewer_nodes(rt, cluster2):
    jid = rt.submit(spec("echo $SKYPILOT_NUM_NODES $SKYPILOT_NODE_RANK", setup="echo never-run-setup", run_setup=False))
    assert logs_of(rt, jid) == ("SUCCEEDED", "1 0\n")


def test_file_mounts_and_bad_sources(rt, cluster2, tmp_path):
    f = tmp_path / "one.txt"
    f.write_text("one")
    d = tmp_path / "dir"
    (d / "x").mkdir(parents=True)
    (d / "x" / "y.txt").write_text("y")
    rt.sync_file_mounts({"~/mounts/one.txt": str(f), "~/mounts/dir": str(d)})
    for node in cluster2.nodes:
        assert (Path(node.home) / "mounts" / "one.txt").read_text() == "one"
        assert (Path(node.home) / "mounts" / "dir" / "x" / "y.txt").read_text() == "y"
    rt.pool.get(1).rsync(str(f), "direct.txt")  # the connector's own rsync
    assert (Path(cluster2.nodes[1].home) / "direct.txt").read_text() == "one"
    rt.pool.get(0).put(b"payload", ".cfg/put.bin", mode=0o600)
    assert rt.pool.get(0).get(".cfg/put.bin") == b"payload"
    assert (Path(cluster2.nodes[0].home) / ".cfg" / "put.bin").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ProviderError, match="not supported on infra local"):
        rt.sync_file_mounts({"/data": "s3://bucket/path"})
    with pytest.raises(SpecError, match="does not exist"):
        rt.sync_file_mounts({"/data": str(tmp_path / "missing")})
    with pytest.raises(SpecError, match="workdir .* does not exist"):
        rt.sync_workdir(str(tmp_path / "nowhere"))


def test_git_workdir_from_a_local_repo(rt, cluster2, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t", "-C", str(src)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True)
    (src / "f.txt").write_text("v1")
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "one"], check=True)
    subprocess.run(git + ["tag", "v1"], check=True)
    (src / "f.txt").write_text("v2")
    subprocess.run(git + ["commit", "-qam", "two"], check=True)
    bare = tmp_path / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(bare)], check=True)
    rt.sync_workdir({"url": f"file://{bare}", "ref": "v1"})
    for node in cluster2.nodes:
        assert (Path(node.home) / "sky_workdir" / "f.txt").read_text() == "v1"
    rt.sync_workdir({"url": f"file://{bare}", "ref": "main"})
    for node in cluster2.nodes:
        assert (Path(node.home) / "sky_workdir" / "f.txt").read_text() == "v2"


def _bare_repo(tmp_path: Path, text: str) -> Path:
    src = tmp_path / "src"
    subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True)
    (src / "f.txt").write_text(text)
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t", "-C", str(src)]
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "one"], check=True)
    bare = tmp_path / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(bare)], check=True)
    return bare


def test_private_git_workdir_over_ssh_with_the_tasks_key(rt, cluster2, tmp_path):
    """The git host is another real sshd node that only the key in GIT_SSH_KEY may use."""
    with local_cluster(1, cluster="githost") as host_inv:
        host = host_inv.head
        bare = _bare_repo(Path(host.home), "private")
        url = f"ssh://{host.ssh_user}@{host.private_ip}:{host.ssh_port}{bare}"
        with pytest.raises(sync.SyncError, match="failed on node head: .*(Permission denied|Could not read)"):
            rt.sync_workdir({"url": url})  # no key: the host refuses
        key = Path(host_inv.ssh_private_key).read_text()
        rt.sync_workdir({"url": url}, secrets={"GIT_SSH_KEY": key})
        for node in cluster2.nodes:
            assert (Path(node.home) / "sky_workdir" / "f.txt").read_text() == "private"
            assert not (Path(node.home) / sync.GIT_SSH_KEY_FILE).exists()  # the key does not stay behind


def test_git_token_goes_as_a_header_from_a_file(rt, cluster2, tmp_path):
    """An HTTP git host sees the token in an Authorization header; no file keeps it afterwards."""
    import base64
    import http.server
    import threading

    seen: list[str | None] = []

    class Host(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(sync.SyncError, match="failed on node"):
            rt.sync_workdir({"url": f"http://127.0.0.1:{server.server_port}/repo.git"},
                            secrets={"GIT_TOKEN": "tok-123"})
    finally:
        server.shutdown()
    expected = "Basic " + base64.b64encode(b"x-access-token:tok-123").decode()
    assert seen and set(seen) == {expected}  # every node, every request
    for node in cluster2.nodes:
        assert not (Path(node.home) / sync.GIT_AUTH_CONFIG).exists()


def test_agent_install_is_skipped_when_current(rt, cluster2):
    rt.install_agent()
    assert jobs.install(rt.head, cluster2) is False
    res = rt.head.run("stat -c %a .skyc/cluster_key")
    assert res.text.strip() == "600"


def test_ssh_failures_name_the_node(cluster2):
    head, worker = cluster2.nodes
    wrong_key = cluster2.model_copy(update={"nodes": [head.model_copy(update={"host_key": worker.host_key})]})
    with ClusterRuntime(wrong_key) as bad, pytest.raises(NodeConnectionError, match="host key mismatch for node head"):
        bad.queue()
    closed = cluster2.model_copy(update={"nodes": [head.model_copy(update={"ssh_port": 1})]})
    with ClusterRuntime(closed) as bad, pytest.raises(NodeConnectionError, match=r"cannot connect to node head .*:1\)"):
        bad.queue()
    unpinned = cluster2.model_copy(update={"nodes": [head.model_copy(update={"host_key": None})]})
    with ClusterRuntime(unpinned) as bad, pytest.raises(NodeConnectionError, match="no pinned host key"):
        bad.queue()


def test_node_dying_mid_job_fails_the_driver(tmp_path):
    with local_cluster(2) as inv, ClusterRuntime(inv) as rt:
        jid = rt.submit(spec("sleep 43.211", num_nodes=2))
        wait(rt, jid, ("RUNNING",))
        deadline = time.time() + 10
        while len(procs_with(b"sleep\x0043.211")) < 2 and time.time() < deadline:
            time.sleep(0.05)
        local_node.stop_node(inv.stack, "worker1")  # power the worker off
        assert wait(rt, jid) == "FAILED_DRIVER"
        row = next(r for r in rt.queue() if r["job_id"] == jid)
        assert "worker1" in row["message"] and inv.nodes[1].private_ip in row["message"]
        assert procs_with(b"sleep\x0043.211") == []  # the head's rank was stopped too
        _, text = logs_of(rt, jid)
        assert "worker1" in text


def test_idle_counts_other_ssh_sessions_and_reconnects(rt, cluster2):
    import socket

    rt.install_agent()
    other = ClusterRuntime(cluster2)
    try:
        other.queue()  # a second, open SSH connection to the head
        assert rt.idle_seconds() == 0.0
        time.sleep(0.2)
        assert rt.idle_seconds(wait_for="jobs") > 0.1
    finally:
        other.close()
    time.sleep(0.3)  # the server notices the closed connection
    assert rt.idle_seconds() > 0.0
    rt.set_autostop(10, True, "jobs")
    assert rt.get_autostop() == {"idle_minutes": 10, "down": True, "wait_for": "jobs"}
    # a dropped connection is reopened on the next call
    rt.head.transport().sock.shutdown(socket.SHUT_RDWR)
    assert isinstance(rt.queue(), list)


def test_workdir_is_additive_unless_mirrored(rt, cluster2, tmp_path):
    wd = tmp_path / "w"
    wd.mkdir()
    (wd / "old.txt").write_text("o")
    rt.sync_workdir(str(wd))
    (wd / "old.txt").unlink()
    (wd / "new.txt").write_text("n")
    rt.sync_workdir(str(wd))
    remote = Path(cluster2.nodes[1].home) / "sky_workdir"
    assert (remote / "old.txt").exists() and (remote / "new.txt").exists()
    rt.sync_workdir(str(wd), mirror=True)
    assert not (remote / "old.txt").exists() and (remote / "new.txt").exists()


def test_one_failing_rank_stops_the_others(rt):
    t = time.time()
    jid = rt.submit(spec('if [ "$SKYPILOT_NODE_RANK" = 1 ]; then echo bye; exit 5; fi; sleep 44.519', num_nodes=2))
    status, text = logs_of(rt, jid)
    assert status == "FAILED" and time.time() - t < 20
    assert "bye" in text
    assert next(r for r in rt.queue() if r["job_id"] == jid)["exit_code"] == 5
    assert procs_with(b"sleep\x0044.519") == []


def test_proxy_command_is_honoured(cluster2, tmp_path):
    head = cluster2.head
    marker = tmp_path / "proxied"
    # a real proxy: nc-like relay through bash's /dev/tcp would need bash features; use python
    relay = (
        f"sh -c 'touch {marker}; exec python3 -c \"import socket,sys,threading;"
        f"s=socket.create_connection((\\\"{head.private_ip}\\\",{head.ssh_port}));"
        "threading.Thread(target=lambda:[sys.stdout.buffer.write(d) or sys.stdout.buffer.flush() for d in iter(lambda:s.recv(65536),b\\\"\\\")],daemon=True).start();"
        "[s.sendall(d) for d in iter(lambda:sys.stdin.buffer.read1(65536),b\\\"\\\")]\"'"
    )
    proxied = cluster2.model_copy(update={"nodes": [head.model_copy(update={"proxy_command": relay})]})
    with ClusterRuntime(proxied) as rt:
        assert rt.head.run("echo via-proxy").text == "via-proxy\n"
    assert marker.exists()
