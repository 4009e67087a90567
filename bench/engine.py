"""Wall time of `up` and `destroy` on the local provider (real Pulumi engine, real sshd).

    .venv/bin/python bench/engine.py [--repeat 3] [--nodes 1,2,8]

Prints a table of medians; uses its own temporary SKYC_HOME and removes it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _startup_costs() -> dict[str, float]:
    """What every operation pays before Pulumi does any work."""
    from skyc.stacks import pulumi_cli

    resolved = pulumi_cli.resolve()
    env = {**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"}
    cli = statistics.median(
        _timed(lambda: subprocess.run([str(resolved.pulumi), "version"], capture_output=True, env=env)) for _ in range(3)
    )
    spawn = statistics.median(
        _timed(lambda: subprocess.run([sys.executable, "-c", "import pulumi.automation, skyc.stacks.worker"], check=True))
        for _ in range(3)
    )
    return {"pulumi CLI start (`pulumi version`)": cli, "worker spawn + import pulumi.automation": spawn}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--nodes", default="1,2,8")
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="skyc-bench-")
    os.environ["SKYC_HOME"] = home
    from skyc.stacks.base import StackSpec
    from skyc.stacks.engine import Engine

    engine = Engine()
    rows = []
    try:
        for n in [int(x) for x in args.nodes.split(",")]:
            ups, noops, destroys = [], [], []
            for i in range(args.repeat):
                spec = StackSpec(stack=f"bench{n}-{i}", provider="local", num_nodes=n)
                ups.append(_timed(lambda: engine.up(spec)))
                noops.append(_timed(lambda: engine.up(spec)))
                destroys.append(_timed(lambda: engine.destroy(spec.stack)))
            rows.append((n, statistics.median(ups), statistics.median(noops), statistics.median(destroys)))
        reads = {}
        spec = StackSpec(stack="reads", provider="local")
        engine.up(spec)
        reads["inventory()"] = statistics.median(_timed(lambda: engine.inventory("reads")) for _ in range(5))
        reads["version()"] = statistics.median(_timed(lambda: engine.version("reads")) for _ in range(5))
        reads["history()"] = statistics.median(_timed(lambda: engine.history("reads")) for _ in range(3))
        reads["preview() no-op"] = statistics.median(_timed(lambda: engine.preview(spec)) for _ in range(3))
        reads["refresh()"] = statistics.median(_timed(lambda: engine.refresh("reads")) for _ in range(3))
        engine.destroy("reads")
        costs = _startup_costs()
    finally:
        for stack in engine.stacks():
            engine.destroy(stack)
        shutil.rmtree(home, ignore_errors=True)

    print(f"local provider, median of {args.repeat} (seconds)")
    print(f"{'nodes':>5}  {'up':>7}  {'no-op up':>8}  {'destroy':>7}")
    for n, up, noop, destroy in rows:
        print(f"{n:>5}  {up:>7.2f}  {noop:>8.2f}  {destroy:>7.2f}")
    print()
    print("other operations (1 node)")
    for k, v in reads.items():
        print(f"  {k:<42} {v:7.3f}")
    print("fixed costs per operation")
    for k, v in costs.items():
        print(f"  {k:<42} {v:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
