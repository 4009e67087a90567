"""Benchmark: `skyc plan` as a whole process (cold and warm catalog cache) and the optimizer
call alone on the full bundled catalog; then skyc beside SkyPilot 0.14.1 on the same tasks and
catalog: SkyPilot's optimizer process against `skyc plan --offline` of a new cluster with every
resource of its stack rendered. Prints figures; asserts nothing.

Goals: whole process under 0.5 s (placement only, `--no-render`), optimizer under 50 ms; a new
cluster's rendered plan at least 5x faster than SkyPilot's optimizer process.
Run: .venv/bin/python bench/plan.py [--runs N] [--peer-only]
"""

from __future__ import annotations

import argparse
import os
import resource
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
    parser.add_argument("--peer-only", action="store_true", help="only the side by side with SkyPilot")
    opts = parser.parse_args()
    if opts.peer_only:
        side_by_side(opts.runs)
        return
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
    side_by_side(opts.runs)


# ---------------------------------------------------------------------------- beside SkyPilot


def _priced_clouds() -> list[str]:
    """Clouds skyc can place on from its catalogs (a provider with a catalog): SkyPilot gets the same."""
    from skyc.stacks import registry

    return [n for n in registry.names() if registry.get(n).catalog]


def _peer_home(py: Path, root: Path, clouds: list[str]) -> Path:
    """A HOME whose ~/.sky/catalogs holds skyc's catalog files, where this SkyPilot looks for them."""
    from skyc.compiler.catalog import store

    version = subprocess.run([str(py), "-c", "from sky.skylet import constants; print(constants.CATALOG_SCHEMA_VERSION)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    home = root / "peer-home"
    srcs = store.sources()
    for cloud in clouds:
        dst = home / ".sky" / "catalogs" / version / cloud / "vms.csv"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(srcs[cloud], dst)  # a fresh mtime: SkyPilot sees no reason to fetch a newer one
    common = store.BUNDLED_DIR / "common" / "accelerators.csv"
    dst = home / ".sky" / "catalogs" / version / "common" / "accelerators.csv"
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(common, dst)
    return home


def _timed_run(cmd: list[str], env: dict[str, str], ok=(0,)) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the process and its children, stdout). CPU time is the steadier
    figure on a busy machine; both are printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, proc.stdout


def _pair(samples: list[tuple[float, float, str]]) -> tuple[float, float]:
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def _wc(wall: float, cpu: float) -> str:
    return f"{wall * 1000:7.0f} / {cpu * 1000:5.0f} ms"


def side_by_side(runs: int) -> None:
    """skyc `plan --offline` of a new cluster (resources rendered) beside SkyPilot's optimizer, per task."""
    sys.path.insert(0, str(ROOT / "bench"))
    import skypilot_peer

    py = skypilot_peer.python()
    tmp = Path(tempfile.mkdtemp(prefix="skyc-bench-peer-"))
    try:
        clouds = _priced_clouds()
        files = {}
        for i, (name, body) in enumerate(CASES.items()):
            files[name] = tmp / f"case{i}.yaml"
            files[name].write_text(f"name: case{i}\n{body}run: echo hi\n")
        base_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
        skyc_env = dict(base_env, HOME=str(tmp / "userhome"), KUBECONFIG=str(tmp / "none"),
                        XDG_CACHE_HOME=str(tmp / "cache"))  # no kept SDK index either: a fresh install
        skyc_cmd = [sys.executable, "-m", "skyc", "plan", "--offline"]
        peer = [str(py), str(ROOT / "bench" / "skypilot_optimize.py")] if py is not None else None
        first_case = next(iter(files.values()))

        print(f"\nskyc beside SkyPilot {skypilot_peer.VERSION}, same tasks and catalog ({', '.join(clouds)} enabled); "
              f"wall / CPU time, median of {runs}:")
        # The very first plan after install: fresh SKYC_HOME and cache directory, nothing kept yet.
        wall, cpu, out = _timed_run([*skyc_cmd, str(first_case)], dict(skyc_env, SKYC_HOME=str(tmp / "first-home")))
        print(f"  first `skyc plan --offline` after install (no caches at all):  {_wc(wall, cpu)}"
              f"  ({out.count(chr(10) + '    + ')} resources rendered)")
        peer_env = None
        if peer is None:
            print("  SkyPilot peer unavailable: skyc figures only")
        else:
            peer_env = dict(base_env, HOME=str(_peer_home(py, tmp, clouds)), SKYPILOT_DISABLE_USAGE_COLLECTION="1")
            wall, cpu, _ = _timed_run([*peer, str(first_case), ",".join(clouds)], peer_env)
            print(f"  first SkyPilot optimizer process (fresh ~/.sky state):         {_wc(wall, cpu)}")
        env = dict(skyc_env, SKYC_HOME=str(tmp / "home"))
        print(f"  {'task':<27} {'SkyPilot optimizer':>21} {'skyc plan, new cluster':>23} {'ratio wall/CPU':>15}  res."
              f"  {'(skyc, first of this spec)':>26}")
        for name, path in files.items():
            # no -c: a generated name, a stack never seen before, on every run (the first run of a
            # spec renders it; later ones reuse that rendering under the new name)
            ours = [_timed_run([*skyc_cmd, str(path)], env) for _ in range(runs)]
            rendered = ours[-1][2].count("\n    + ")
            o_wall, o_cpu = _pair(ours)
            theirs_s, ratio = "-", "-"
            if peer is not None:
                t_wall, t_cpu = _pair([_timed_run([*peer, str(path), ",".join(clouds)], peer_env) for _ in range(runs)])
                theirs_s, ratio = _wc(t_wall, t_cpu), f"{t_wall / o_wall:5.1f}x/{t_cpu / o_cpu:4.1f}x"
            print(f"  {name:<27} {theirs_s:>21} {_wc(o_wall, o_cpu):>23} {ratio:>15}  {rendered:>4}"
                  f"  {_wc(ours[0][0], ours[0][1]):>26}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
