"""Time offline rendering of each provider's stack program under Pulumi mocks.

Prints, per provider: in a fresh process, the import time of pulumi and the provider's SDK and
the first (cold) 1-node render, which still loads the SDK's lazy submodules; then, warm, the
render time for a 1-node and a 64-node spec (best of 3). Goal: 64 nodes <= 1 s after imports.

    .venv/bin/python bench/render.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPECS = {
    "aws": dict(region="us-east-1", instance_type="p4d.24xlarge", accelerator_name="A100", accelerator_count=8, use_spot=True, ports=["8888"]),
    "gcp": dict(region="us-central1", instance_type="n1-standard-8", accelerator_name="T4", accelerator_count=1, ports=["8888"]),
    "azure": dict(region="eastus", instance_type="Standard_NC4as_T4_v3", accelerator_name="T4", accelerator_count=1),
    "kubernetes": dict(region="kind-dev", cpus=8, memory=32, accelerator_name="H100", accelerator_count=1),
    "ssh": dict(region="ssh-bench"),
    "local": dict(),
}
SDK = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "azure": "pulumi_azure_native", "kubernetes": "pulumi_kubernetes"}


def cold_first_render(provider: str, home: str) -> tuple[float, float]:
    """(import seconds, first 1-node render seconds) in a fresh process: the SDK's modules
    load lazily, so the first render pays for most of the imports."""
    code = (
        "import time, importlib, sys; t = time.perf_counter()\n"
        f"for m in {(['pulumi', 'pulumi.dynamic'] + ([SDK[provider]] if provider in SDK else []))!r}: importlib.import_module(m)\n"
        "from skyc.stacks import render\n"
        "from skyc.stacks.base import StackSpec\n"
        "t1 = time.perf_counter()\n"
        f"render.render(StackSpec(stack='bench', provider={provider!r}, **{SPECS[provider]!r}), kept=False)\n"
        "print(t1 - t, time.perf_counter() - t1)\n"
    )
    env = {**os.environ, "SKYC_HOME": home, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    imp, first = out.stdout.split()
    return float(imp), float(first)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="skyc-bench-") as home:
        os.environ["SKYC_HOME"] = home
        import yaml

        hosts = [f"192.0.2.{i}" for i in range(1, 65)]
        (Path(home) / "ssh_node_pools.yaml").write_text(yaml.safe_dump({"bench": {"user": "ops", "hosts": hosts}}))

        from skyc.stacks import render
        from skyc.stacks.base import StackSpec

        rows = []
        for provider, kw in SPECS.items():
            imp = cold_first_render(provider, home)
            times = {}
            for n in (1, 64):
                spec = StackSpec(stack="bench", provider=provider, num_nodes=n, **kw)
                render.render(spec, kept=False)  # warm: imports, templates, catalog
                best = min(_timed(render.render, spec, kept=False) for _ in range(3))
                count = len(render.render_resources(spec))
                times[n] = (best, count)
            rows.append((provider, imp, times[1], times[64]))

    print(f"{'provider':<11} {'import s':>9} {'cold 1st s':>10} {'1 node s':>9} {'res':>5} {'64 nodes s':>11} {'res':>5}  goal<=1s")
    for provider, (imp, cold), (t1, c1), (t64, c64) in rows:
        print(f"{provider:<11} {imp:9.3f} {cold:10.3f} {t1:9.3f} {c1:5d} {t64:11.3f} {c64:5d}  {'ok' if t64 <= 1.0 else 'SLOW'}")
    print(json.dumps({p: {"import_s": round(i[0], 3), "cold_first_render_s": round(i[1], 3), "n1_s": round(a[0], 3),
                          "n64_s": round(b[0], 3)} for p, i, a, b in rows}))
    return 0


def _timed(fn, *args, **kwargs) -> float:
    t = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t


if __name__ == "__main__":
    sys.exit(main())
