"""Benchmark: load and validate 1,000 task files of mixed size; median/p95 per file and peak memory.

Run: .venv/bin/python bench/spec.py [--files N]
Prints figures; asserts nothing. The price catalog's accelerator names are loaded once before timing
(first use costs a catalog scan; that one-off is printed separately).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

SMALL = """name: small-{i}
resources:
  infra: local
run: echo hi {i}
"""

TYPICAL = """name: train-{i}
workdir: .
num_nodes: {nodes}
resources:
  accelerators: {acc}
  cpus: {cpus}+
  memory: 32GB+
  disk_size: 512
  ports: [8080, "8081-8085"]
  labels: {{team: ml}}
  autostop: 2h
envs:
  MODEL: llama-{i}
  EPOCHS: 3
secrets:
  HF_TOKEN: null
file_mounts:
  /data/$MODEL: s3://bucket/$MODEL
  /ckpt:
    name: ckpt-{i}
    mode: MOUNT_CACHED
setup: |
  pip install -r requirements.txt
run: |
  python train.py --model $MODEL --epochs $EPOCHS
"""

LARGE = """name: big-{i}
resources:
  accelerators: {{A100: 8, H100: 8}}
  use_spot: true
  job_recovery: {{strategy: FAILOVER, max_restarts_on_errors: 3}}
  any_of:
    - infra: aws/us-east-1
    - infra: gcp/us-central1
    - infra: azure
  labels: {{team: research, project: p{i}}}
envs:
{envs}
service:
  readiness_probe: {{path: /health, initial_delay_seconds: 60}}
  replica_policy: {{min_replicas: 1, max_replicas: 4, target_qps_per_replica: 2.5}}
  ports: 8000
config:
  kubernetes: {{provision_timeout: 600}}
run: python serve.py
---
name: eval-{i}
resources: {{accelerators: "nvidia:40GB+:1"}}
run: python eval.py
"""

INVALID = """name: broken-{i}
resources:
  acclerators: A100:8
  cpus: -1
envs: {{NEED: null}}
run: echo
"""


def write_files(root: Path, n: int, rng: random.Random) -> list[tuple[str, Path]]:
    files = []
    for i in range(n):
        r = rng.random()
        if r < 0.25:
            kind, text = "small", SMALL.format(i=i)
        elif r < 0.80:
            kind, text = "typical", TYPICAL.format(i=i, nodes=rng.randint(1, 8), cpus=rng.choice([4, 8, 16]),
                                                    acc=rng.choice(["A100:8", "{H100: 8}", "L4", "T4:1"]))
        elif r < 0.95:
            envs = "\n".join(f"  VAR_{k}: value-{k}" for k in range(40))
            kind, text = "large", LARGE.format(i=i, envs=envs)
        else:
            kind, text = "invalid", INVALID.format(i=i)
        p = root / f"task-{i:04d}.yaml"
        p.write_text(text)
        files.append((kind, p))
    return files


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["SKYC_HOME"] = home
        t0 = time.perf_counter()
        from skyc.compiler import spec
        from skyc.compiler.accelerators import catalog_accelerators
        from skyc.errors import SpecError
        t_import = time.perf_counter() - t0
        t0 = time.perf_counter()
        catalog_accelerators()
        t_catalog = time.perf_counter() - t0

        root = Path(home) / "tasks"
        root.mkdir()
        files = write_files(root, args.files, random.Random(7))
        spec.load_tasks(files[0][1])  # warm-up of lazy pydantic/YAML paths
        times: dict[str, list[float]] = {}
        t_all = time.perf_counter()
        for kind, path in files:
            t0 = time.perf_counter()
            try:
                spec.load_tasks(path)
            except SpecError:
                pass
            times.setdefault(kind, []).append(time.perf_counter() - t0)
        total = time.perf_counter() - t_all
        # Memory in a separate pass: tracemalloc slows allocation-heavy code several-fold.
        tracemalloc.start()
        for _, path in files:
            try:
                spec.load_tasks(path)
            except SpecError:
                pass
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    all_times = [t for ts in times.values() for t in ts]
    print(f"skyc spec benchmark: {len(files)} task files (python {sys.version.split()[0]})")
    print(f"  import skyc.compiler.spec      {t_import * 1e3:8.1f} ms")
    print(f"  accelerator catalog (once)     {t_catalog * 1e3:8.1f} ms")
    print(f"  {'kind':<10} {'files':>6} {'median ms':>10} {'p95 ms':>8}")
    for kind in ("small", "typical", "large", "invalid"):
        ts = sorted(times.get(kind, []))
        if ts:
            print(f"  {kind:<10} {len(ts):>6} {statistics.median(ts) * 1e3:>10.3f} {ts[int(len(ts) * 0.95)] * 1e3:>8.3f}")
    print(f"  all        {len(all_times):>6} {statistics.median(all_times) * 1e3:>10.3f}    total {total:.2f} s")
    print(f"  peak traced memory during the run {peak / 1024 / 1024:6.2f} MiB")
    print("  goal: under 2 ms per typical task after import")
    return 0


if __name__ == "__main__":
    sys.exit(main())
