"""IaC workflow figures on a real local stack: plan-with-diff time, history time, state growth.

Runs N updates (num_nodes 1 <-> 2) on one local cluster, then times:
  - `diff_against_state` (offline render vs state), cold (new process) and warm;
  - the engine's real preview, for comparison;
  - `skyc state history` (reads the file backend) vs `Engine.history` (Pulumi CLI);
and reports the file-backend size after every update, plain JSON and with PULUMI_DIY_BACKEND_GZIP.

    .venv/bin/python bench/iac.py [--updates 20] [--no-gzip]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _time(fn, repeat: int = 5) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return min(runs), statistics.median(runs)


def run(updates: int, gzip: bool) -> dict:
    home = Path(tempfile.mkdtemp(prefix="skyc-bench-iac-"))
    os.environ["SKYC_HOME"] = str(home)
    if gzip:
        os.environ["PULUMI_DIY_BACKEND_GZIP"] = "true"
    else:
        os.environ.pop("PULUMI_DIY_BACKEND_GZIP", None)
    from skyc.compiler import diff
    from skyc.stacks import audit
    from skyc.stacks.base import StackSpec
    from skyc.stacks.engine import Engine

    eng = Engine()
    state = home / "state"
    sizes = []
    try:
        for i in range(updates):
            eng.up(StackSpec(stack="bench", provider="local", num_nodes=1 + i % 2))
            sizes.append(_dir_size(state))
        assert eng.version("bench") == updates
        new = StackSpec(stack="bench", provider="local", num_nodes=2 if updates % 2 else 1)
        figures: dict = {"sizes": sizes}
        if not gzip:
            code = (
                "import time; t=time.perf_counter();"
                "from skyc.compiler import diff; from skyc.stacks.base import StackSpec;"
                f"d=diff.diff_against_state(StackSpec(stack='bench', provider='local', num_nodes={new.num_nodes}));"
                "assert d.has_changes; print(time.perf_counter()-t)"
            )
            cold = [float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                         cwd=ROOT).stdout) for _ in range(3)]
            figures["plan_cold"] = (min(cold), statistics.median(cold))
            figures["plan_warm"] = _time(lambda: diff.diff_against_state(new, eng))
            figures["preview"] = _time(lambda: diff.diff_against_state(new, eng, preview=True), repeat=2)
            cli = [sys.executable, "-m", "skyc.cli.main", "state", "history", "bench"]
            figures["history_cli"] = _time(lambda: subprocess.run(cli, check=True, capture_output=True, cwd=ROOT), 3)
            figures["history_lib"] = _time(lambda: audit.history("bench", eng))
            figures["history_engine"] = _time(lambda: eng.history("bench"), 3)
            assert len(audit.history("bench", eng)) == updates
        return figures
    finally:
        eng.destroy("bench")
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=20)
    ap.add_argument("--no-gzip", action="store_true", help="skip the gzip state-size run")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    plain = run(args.updates, gzip=False)
    print(f"IaC workflow on a local stack after {args.updates} updates (min / median seconds)")
    print(f"{'operation':<52}{'min':>9}{'median':>9}")
    rows = [
        ("plan with diff vs state, new process (goal <= 1 s)", plain["plan_cold"]),
        ("plan with diff vs state, warm (in process)", plain["plan_warm"]),
        ("engine preview diff (for comparison)", plain["preview"]),
        ("`skyc state history` CLI (new process)", plain["history_cli"]),
        ("audit.history, file backend read", plain["history_lib"]),
        ("Engine.history via Pulumi CLI (for comparison)", plain["history_engine"]),
    ]
    for name, (lo, med) in rows:
        print(f"{name:<52}{lo:>9.3f}{med:>9.3f}")
    variants = [("plain JSON", plain["sizes"])]
    if not args.no_gzip:
        variants.append(("PULUMI_DIY_BACKEND_GZIP", run(args.updates, gzip=True)["sizes"]))
    print()
    print(f"{'file-backend state':<28}{'after 1':>10}{'after N':>10}{'per update':>12}")
    for name, sizes in variants:
        growth = (sizes[-1] - sizes[0]) / max(1, len(sizes) - 1)
        print(f"{name:<28}{sizes[0] / 1024:>8.1f}KB{sizes[-1] / 1024:>8.1f}KB{growth / 1024:>10.1f}KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
