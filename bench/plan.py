"""Benchmark: `skyc plan` as a whole process (cold and warm catalog cache) and the optimizer
call alone on the full bundled catalog. Prints figures; asserts nothing.

Goals: whole process under 0.5 s (placement only, `--no-render`), optimizer under 50 ms.
Run: .venv/bin/python bench/plan.py [--runs N]
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

CASES: dict[str, str] = {
    "A100:8": "resources:\n  accelerators: A100:8\n",
    "H100:8 spot": "resources:\n  accelerators: H100:8\n  use_spot: true\n",
    "any_of H100:8/A100-80GB:8": "resources:\n  any_of:\n    - accelerators: H100:8\n    - accelerators: A100-80GB:8\n",
    "cpus 8+ memory 32+": "resources:\n  cpus: 8+\n  memory: 32+\n",
    "L4:1 on aws/us-east-1": "resources:\n  accelerators: L4:1\n  infra: aws/us-east-1\n",
    "4 nodes of A10G:1": "num_nodes: 4\nresources:\n  accelerators: A10G:1\n",
}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def optimizer_times(runs: int, files: dict[str, Path]) -> dict[str, tuple[float, str]]:
    from skyc.compiler import enabled as infra
    from skyc.compiler.catalog import load_catalog
    from skyc.compiler.optimizer import optimize
    from skyc.compiler.spec import load_tasks

    statuses = infra.check(offline=True)
    on = infra.enabled_set(statuses)
    catalog = load_catalog().with_capacity(infra.capacity_offers(statuses))
    out = {}
    for name, path in files.items():
        (task,) = load_tasks(path)
        optimize(task.resources, task.num_nodes, catalog, on)  # first call fills lazy per-accelerator joins
        samples = []
        for _ in range(runs):
            t = time.perf_counter()
            result = optimize(task.resources, task.num_nodes, catalog, on)
            samples.append(time.perf_counter() - t)
        b = result.best
        out[name] = (statistics.median(samples), f"{b.describe()} ${b.hourly_cost:.2f}/h, {len(result.ranked)} ranked")
    return out


def choices(files: dict[str, Path]) -> list[tuple[str, str, str]]:
    """Per case: skyc's offline choice, and the cheapest offer in the whole bundled catalog that
    fits the task (on a cloud skyc cannot provision, when that is cheaper)."""
    from skyc.compiler import enabled as infra
    from skyc.compiler.catalog import load_catalog
    from skyc.compiler.optimizer import NOT_PROVISIONABLE, optimize
    from skyc.compiler.spec import load_tasks

    statuses = infra.check(offline=True)
    catalog = load_catalog().with_capacity(infra.capacity_offers(statuses))
    rows = []
    for name, path in files.items():
        (task,) = load_tasks(path)
        result = optimize(task.resources, task.num_nodes, catalog, infra.enabled_set(statuses))
        b = result.best
        skipped = [p for p in result.rejected if p.reason.endswith(NOT_PROVISIONABLE)]
        anywhere = min([b, *skipped], key=lambda p: p.sort_key())
        note = "" if anywhere is b else f" ({anywhere.cloud}: not provisionable)"
        rows.append((name, f"{b.where} {b.instance_type} ${b.hourly_cost:.2f}/h",
                     f"{anywhere.where} {anywhere.instance_type} ${anywhere.hourly_cost:.2f}/h{note}"))
    return rows


def process_time(args: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "skyc", *args], env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t
    if proc.returncode not in (0, 2):
        raise SystemExit(f"skyc {' '.join(args)} failed:\n{proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-render-only", action="store_true", help="skip the (slow) rendering runs")
    opts = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="skyc-bench-plan-"))
    try:
        home = tmp / "home"
        os.environ["SKYC_HOME"] = str(home)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(SKYC_HOME=str(home), PYTHONPYCACHEPREFIX=str(tmp / "pyc"), HOME=str(tmp / "userhome"),
                   KUBECONFIG=str(tmp / "none"))
        files = {}
        for i, (name, body) in enumerate(CASES.items()):
            files[name] = tmp / f"case{i}.yaml"
            files[name].write_text(f"name: case{i}\n{body}run: echo hi\n")

        print("skyc's offline choice per case, next to the cheapest fitting offer in the whole bundled catalog:")
        for name, chosen, anywhere in choices(files):
            print(f"  {name:<28} skyc: {chosen}\n  {'':<28} catalog: {anywhere}")

        print(f"\noptimizer call alone, full bundled catalog, every provider enabled (median of {opts.runs}):")
        for name, (seconds, what) in optimizer_times(opts.runs, files).items():
            print(f"  {name:<28} {_ms(seconds)}   {what}")

        # compile bytecode once, as an installed package has it (not counted as the cold cache)
        process_time(["plan", str(next(iter(files.values()))), "-c", "bench", "--offline", "--no-render"], env)
        print("\n`skyc plan CASE --offline --no-render` whole process (placement, cost, alternatives):")
        print(f"  {'case':<28} {'cold cache':>11} {'warm (median)':>15}")
        for name, path in files.items():
            args = ["plan", str(path), "-c", "bench", "--offline", "--no-render"]
            shutil.rmtree(home / "cache", ignore_errors=True)
            cold = process_time(args, env)
            warm = statistics.median(process_time(args, env) for _ in range(opts.runs))
            print(f"  {name:<28} {_ms(cold)} {_ms(warm)}")
        if not opts.no_render_only:
            print("\n`skyc plan CASE --offline` whole process, with the stack's resources rendered under Pulumi mocks"
                  " and the diff against state\n(first render imports the cloud's Pulumi SDK; later plans of the same"
                  " stack spec reuse the kept rendering):")
            print(f"  {'case':<28} {'first render':>12} {'kept (median)':>15}")
            for name, path in files.items():
                args = ["plan", str(path), "-c", "bench", "--offline"]
                shutil.rmtree(home / "cache" / "render", ignore_errors=True)
                cold = process_time(args, env)
                warm = statistics.median(process_time(args, env) for _ in range(opts.runs))
                print(f"  {name:<28} {_ms(cold):>12} {_ms(warm):>15}")
        base = statistics.median(process_time(["--help"], env) for _ in range(3))
        print(f"\nfor reference, `skyc --help`: {_ms(base)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
