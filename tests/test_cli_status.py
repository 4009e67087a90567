"""`skyc status` / `cost-report` read only the registry: correct and fast with many clusters."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from skyc import registry as reg
from tests.cli_helpers import cli_env, skyc


def _fill(n: int) -> None:
    store = reg.Registry()
    for i in range(n):
        status = (reg.UP, reg.STOPPED, reg.INIT)[i % 3]
        store.add(reg.Cluster(name=f"c{i:02d}", status=reg.INIT, stack=f"c{i:02d}", provider="aws", region="us-east-1",
                              resources_str="2x aws(p3.2xlarge, {'V100': 1})", num_nodes=2, hourly_price=6.12,
                              accelerators={"V100": 1}, autostop=10 if i % 2 else -1, to_down=i % 4 == 1))
        if status != reg.INIT:
            store.update(f"c{i:02d}", status=reg.UP)
        if status == reg.STOPPED:
            store.update(f"c{i:02d}", status=reg.STOPPED)
    store.close()


def test_status_with_50_clusters(skyc_home, tmp_path):
    _fill(50)
    env = cli_env(skyc_home, tmp_path)
    rows = json.loads(skyc(env, "status", "-o", "json").stdout)
    assert [r["name"] for r in rows] == [f"c{i:02d}" for i in range(50)]
    by = {r["name"]: r for r in rows}
    assert by["c00"]["status"] == "UP" and by["c01"]["status"] == "STOPPED" and by["c02"]["status"] == "INIT"
    assert by["c01"]["autostop"] == 10 and by["c01"]["to_down"] is True and by["c00"]["autostop"] == -1
    for key in ("launched_at", "resources_str", "nodes", "cloud", "region", "zone", "accelerators", "hourly_price",
                "cluster_hash", "status_updated_at"):
        assert key in by["c00"]
    assert by["c00"]["accelerators"] == {"V100": 1} and by["c00"]["nodes"] == 2
    table = skyc(env, "status").stdout
    assert table.count("\n") >= 51 and "10m (down)" in table
    assert [r["name"] for r in json.loads(skyc(env, "status", "c1*", "-o", "json").stdout)] == [f"c{i}" for i in range(10, 20)]
    named = skyc(env, "status", "c00", "nosuch").stdout
    assert "c00" in named and "c01" not in named and named.rstrip().endswith("Cluster(s) not found: nosuch.")
    assert skyc(env, "status", "nosuch").stdout.strip() == "Cluster(s) not found: nosuch."
    # Fast: the whole process, measured as the user feels it (printed, not asserted).
    t = time.perf_counter()
    skyc(env, "status")
    print(f"skyc status with 50 clusters: {time.perf_counter() - t:.3f}s")


def test_status_imports_no_heavy_modules(skyc_home, tmp_path):
    _fill(3)
    env = cli_env(skyc_home, tmp_path)
    code = ("import sys; from skyc.cli.main import main; main(['status']); "
            "bad=[m for m in ('pulumi','paramiko','fabric','rich','skyc.stacks.engine') if m in sys.modules]; "
            "print('HEAVY', bad)")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in r.stdout, r.stdout + r.stderr


def test_cost_report_includes_terminated(skyc_home, tmp_path):
    store = reg.Registry()
    store.add(reg.Cluster(name="gone", status=reg.UP, stack="gone", hourly_price=3600.0))
    time.sleep(0.2)
    store.remove("gone")
    store.add(reg.Cluster(name="live", status=reg.STOPPED, stack="live", hourly_price=1.0))
    env = cli_env(skyc_home, tmp_path)
    rows = {r["name"]: r for r in json.loads(skyc(env, "cost-report", "-o", "json").stdout)}
    assert rows["gone"]["status"] == "TERMINATED" and rows["gone"]["total_cost"] >= 0.2 * 0.9
    assert rows["live"]["total_cost"] == 0 and rows["live"]["usage_intervals"] == []
    assert "gone" not in skyc(env, "status").stdout
