"""Runtime figures on a live local cluster (real sshd, real rsync, the real agent).

    .venv/bin/python bench/runtime.py [--files 10000] [--log-mb 200] [--repeat 5]

Measures: submit -> first log line; log streaming throughput of a job that prints --log-mb MB;
an HTTP server on the node reached through a runtime tunnel (request latency, download rate);
workdir sync of --files small files (first and no-change second sync) next to plain rsync of the
same tree with the same key in the same run. Uses its own temporary SKYC_HOME and removes it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class FirstByte:
    """A sink that remembers when the first byte arrived and counts the rest."""

    def __init__(self):
        self.first: float | None = None
        self.n = 0

    def write(self, data: bytes) -> None:
        if self.first is None and data:
            self.first = time.perf_counter()
        self.n += len(data)


def start_cluster(name: str, n: int = 1):
    from skyc.stacks import local_node
    from skyc.stacks.base import Inventory, NodeInfo
    from skyc.stacks.keys import cluster_key

    key, pub = cluster_key(name)
    nodes = []
    for rank in range(n):
        node = "head" if rank == 0 else f"worker{rank}"
        addr = local_node.allocate_address(name, node)
        facts = local_node.start_node(name, node, addr, pub, rank=rank, num_nodes=n)
        nodes.append(NodeInfo(**local_node.node_info(facts, rank)))
    return Inventory(stack=name, provider="local", ssh_private_key=str(key), nodes=nodes)


def bench_first_line(rt, repeat: int) -> tuple[float, float]:
    from skyc.runtime.cluster import JobSpec

    t = time.perf_counter()
    rt.install_agent()
    install = time.perf_counter() - t
    samples = []
    for _ in range(repeat):
        sink = FirstByte()
        t = time.perf_counter()
        jid = rt.submit(JobSpec(name="first", run="echo first-line", setup=None))
        rt.follow_logs(jid, out=sink)
        samples.append(sink.first - t)
    return statistics.median(samples), install


def bench_log_throughput(rt, mb: int) -> tuple[float, float]:
    """(MB/s following the job live, MB/s re-streaming the finished log)."""
    from skyc.runtime.cluster import JobSpec

    size = mb * 1_000_000
    run = f"yes {'x' * 99} | head -c {size}"
    sink = FirstByte()
    t = time.perf_counter()
    jid = rt.submit(JobSpec(name="bulk", run=run, setup=None))
    status = rt.follow_logs(jid, out=sink)
    live = time.perf_counter() - t
    assert status == "SUCCEEDED" and sink.n == size, (status, sink.n)
    sink = FirstByte()
    t = time.perf_counter()
    rt.follow_logs(jid, out=sink, follow=False)
    replay = time.perf_counter() - t
    assert sink.n == size
    return mb / live, mb / replay


def make_tree(root: Path, files: int) -> None:
    per_dir = 100
    for i in range(files):
        d = root / f"d{i // per_dir:03d}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_text(f"file {i}\n" * 4)


def bench_sync(rt, inv, files: int) -> dict[str, float]:
    from skyc.runtime.sync import SSHOptions

    tree = Path(tempfile.mkdtemp(prefix="skyc-bench-tree-"))
    try:
        make_tree(tree, files)
        subprocess.run(["find", str(tree)], capture_output=True)  # warm the page cache for both
        node = inv.head
        opts = SSHOptions(inv)
        plain_ssh = [
            "ssh", "-i", inv.ssh_private_key, "-p", str(node.ssh_port),
            "-o", f"UserKnownHostsFile={opts.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
        ]  # fmt: skip
        plain = [
            "rsync", "-a", "-e", " ".join(shlex.quote(a) for a in plain_ssh),
            f"{tree}/", f"{node.ssh_user}@{node.private_ip}:plain_workdir/",
        ]  # fmt: skip
        out = {}

        def timed(fn) -> float:
            t = time.perf_counter()
            fn()
            return time.perf_counter() - t

        out["plain rsync, first"] = timed(lambda: subprocess.run(plain, check=True))
        out["skyc sync_workdir, first"] = timed(lambda: rt.sync_workdir(str(tree)))
        out["plain rsync, no change"] = timed(lambda: subprocess.run(plain, check=True))
        out["skyc sync_workdir, no change"] = timed(lambda: rt.sync_workdir(str(tree)))
        return out
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def bench_tunnel(rt, inv, repeat: int, mb: int = 20) -> tuple[float, float]:
    """(seconds per HTTP GET through a runtime tunnel, median; MB/s of a download through it)."""
    import socket
    import urllib.request

    node = inv.head
    with socket.socket() as s:
        s.bind((node.private_ip, 0))
        port = s.getsockname()[1]
    rt.head.run(f"mkdir -p www && echo ok > www/ok.txt && head -c {mb * 1_000_000} /dev/zero > www/big.bin")
    pid = int(rt.head.run(f"cd www && (python3 -m http.server {port} --bind {node.private_ip} "
                          ">/dev/null 2>&1 </dev/null & echo $!)").text)
    try:
        for _ in range(100):
            try:
                socket.create_connection((node.private_ip, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        with rt.head.tunnel(port, remote_host=node.private_ip) as t:
            url = f"http://{t.local_host}:{t.local_port}"
            samples = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                urllib.request.urlopen(f"{url}/ok.txt", timeout=30).read()
                samples.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            n = len(urllib.request.urlopen(f"{url}/big.bin", timeout=120).read())
            rate = n / 1e6 / (time.perf_counter() - t0)
        return statistics.median(samples), rate
    finally:
        os.kill(pid, 15)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--log-mb", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    home = tempfile.mkdtemp(prefix="skyc-bench-")
    os.environ["SKYC_HOME"] = home
    from skyc.runtime.cluster import ClusterRuntime
    from skyc.stacks import local_node

    name = "bench-rt"
    try:
        inv = start_cluster(name)
        with ClusterRuntime(inv) as rt:
            first, install = bench_first_line(rt, args.repeat)
            live, replay = bench_log_throughput(rt, args.log_mb)
            sync = bench_sync(rt, inv, args.files)
            get, tunnel_rate = bench_tunnel(rt, inv, args.repeat)
    finally:
        local_node.sweep_cluster(name)
        shutil.rmtree(home, ignore_errors=True)

    rows = [
        ("agent install (first, one round trip)", f"{install:.3f} s", ""),
        (f"submit -> first log line (median of {args.repeat})", f"{first:.3f} s", "goal < 1 s"),
        (f"log follow, live job printing {args.log_mb} MB", f"{live:.0f} MB/s", "goal >= 50 MB/s"),
        (f"log stream of the finished {args.log_mb} MB log", f"{replay:.0f} MB/s", "goal >= 50 MB/s"),
    ]
    rows += [
        (f"HTTP GET through a tunnel (median of {args.repeat})", f"{get:.3f} s", ""),
        ("download through a tunnel", f"{tunnel_rate:.0f} MB/s", ""),
    ]
    for label, secs in sync.items():
        rows.append((f"{label} ({args.files} files)", f"{secs:.3f} s", ""))
    for kind in ("first", "no change"):
        ratio = sync[f"skyc sync_workdir, {kind}"] / sync[f"plain rsync, {kind}"]
        rows.append((f"sync / plain rsync, {kind}", f"{ratio:.2f}x", "goal <= 1.2x"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>12}  note")
    for label, value, note in rows:
        print(f"{label:<{width}}  {value:>12}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
