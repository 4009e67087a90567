"""Rendering with sliced provider SDKs registers exactly what the whole SDKs register.

Each form runs in its own process (a process never mixes them): every provider's program under
mocks, several specs each, and the two outputs must be equal byte for byte.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SPECS = {
    "aws": dict(provider="aws", region="us-east-1", instance_type="p4d.24xlarge", accelerator_name="A100",
                accelerator_count=8, use_spot=True, ports=["8888"], num_nodes=2, labels={"team": "ml"}),
    "aws-cpu": dict(provider="aws", region="eu-west-1", zone="euw1-az2", instance_type="m6i.2xlarge", disk_tier="high"),
    "gcp": dict(provider="gcp", region="us-central1", zone="us-central1-a", instance_type="n1-standard-8",
                accelerator_name="T4", accelerator_count=1, ports=["8888"], num_nodes=2),
    "gcp-tpu": dict(provider="gcp", region="us-central1", zone="us-central1-b", accelerator_name="tpu-v2-8",
                    accelerator_count=1, use_spot=True),
    "azure": dict(provider="azure", region="eastus", instance_type="Standard_NC4as_T4_v3", accelerator_name="T4",
                  accelerator_count=1, ports=["8080"]),
    "kubernetes": dict(provider="kubernetes", region="kind-dev", cpus=8, memory=32, accelerator_name="H100",
                       accelerator_count=1, num_nodes=2, ports=["8080"], image_id="docker:ubuntu:22.04"),
}

SCRIPT = textwrap.dedent("""
    import json, sys
    from skyc.stacks import render
    from skyc.stacks.base import StackSpec
    specs = json.loads(sys.argv[1])
    out = {name: render.render(StackSpec(stack="slice-test", **kw), kept=False) for name, kw in specs.items()}
    counts = {m: len(getattr(sys.modules[m], "__all__", []) or []) for m in
              ("pulumi_gcp.compute._inputs", "pulumi_aws.ec2._inputs") if m in sys.modules}
    print(json.dumps({"renders": out, "type_counts": counts}, sort_keys=True))
""")


def _render_all(tmp_path: Path, whole: bool) -> dict:
    import os

    env = dict(os.environ, SKYC_HOME=str(tmp_path / ("whole" if whole else "sliced")), PYTHONPATH=str(ROOT),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    if whole:
        env["SKYC_RENDER_WHOLE_SDK"] = "1"
    else:
        env.pop("SKYC_RENDER_WHOLE_SDK", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(SPECS)], capture_output=True, text=True,
                          env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_sliced_render_equals_whole_sdk_render(tmp_path):
    pytest.importorskip("pulumi_gcp", reason="needs the provider SDKs (skyc[all])")
    sliced, whole = _render_all(tmp_path, whole=False), _render_all(tmp_path, whole=True)
    assert set(sliced["renders"]) == set(SPECS)
    for name in SPECS:
        assert sliced["renders"][name]["resources"], name
        assert sliced["renders"][name] == whole["renders"][name], name
    # and the slices really are slices: a few dozen of the SDK's thousands of input types
    assert 0 < sliced["type_counts"]["pulumi_gcp.compute._inputs"] < 200 < whole["type_counts"][
        "pulumi_gcp.compute._inputs"]
    # the index and compiled definitions are kept: a second sliced process renders the same from them
    assert list((tmp_path / "cache" / "skyc" / "sdk-index").glob("pulumi_gcp-*/compute.pickle"))
    assert _render_all(tmp_path, whole=False)["renders"] == sliced["renders"]
