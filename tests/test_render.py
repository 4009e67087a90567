"""Offline rendering: golden resource lists per provider, the local provider's dynamic
resources, preview availability, and import hygiene."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from skyc.stacks import render, ssh_pool
from skyc.stacks.base import StackSpec

GOLDEN = Path(__file__).parent / "golden" / "stacks"
UPDATE = os.environ.get("SKYC_UPDATE_GOLDEN") == "1"

# One representative task per provider.
CASES = {
    "aws": StackSpec(stack="train", provider="aws", region="us-east-1", zone="use1-az1", instance_type="p4d.24xlarge",
                     accelerator_name="A100", accelerator_count=8, num_nodes=2, use_spot=True, ports=["8888"],
                     disk_size=512, disk_tier="high", labels={"team": "ml"}, options={"hourly_price": 9.8318}),
    "gcp": StackSpec(stack="train", provider="gcp", region="us-central1", zone="us-central1-a", instance_type="n1-standard-8",
                     accelerator_name="T4", accelerator_count=1, ports=["8888"], labels={"team": "ml"}),
    "azure": StackSpec(stack="train", provider="azure", region="eastus", instance_type="Standard_NC4as_T4_v3",
                       accelerator_name="T4", accelerator_count=1, use_spot=True, labels={"team": "ml"}),
    "kubernetes": StackSpec(stack="train", provider="kubernetes", region="kind-dev", cpus=8, memory=32,
                            accelerator_name="H100", accelerator_count=1, num_nodes=2),
    "ssh": StackSpec(stack="train", provider="ssh", region="ssh-lab", num_nodes=2),
    "local": StackSpec(stack="train", provider="local", num_nodes=2),
    "lambda": StackSpec(stack="train", provider="lambda", region="us-east-1", instance_type="gpu_8x_a100",
                        accelerator_name="A100", accelerator_count=8, num_nodes=2, ports=["8888"], labels={"team": "ml"}),
    "runpod": StackSpec(stack="train", provider="runpod", region="US", zone="US-TX-3", instance_type="1x_H100-SXM_SECURE",
                        accelerator_name="H100-SXM", accelerator_count=1, use_spot=True, ports=["8888"], disk_size=100),
    "nebius": StackSpec(stack="train", provider="nebius", region="eu-north1", instance_type="gpu-h100-sxm_8gpu-128vcpu-1600gb",
                        accelerator_name="H100", accelerator_count=8, num_nodes=2, use_spot=True, network_tier="best",
                        ports=["8888"], disk_tier="high", labels={"team": "ml"}),
    "kubernetes-coreweave": StackSpec(stack="train", provider="kubernetes", region="coreweave-us-east-04", cpus=96,
                                      memory=960, accelerator_name="H100", accelerator_count=8, num_nodes=2,
                                      network_tier="best"),
}
SINGLE_NODE = ("ssh", "runpod")  # ssh: the pool has two hosts; runpod: one pod per cluster


def _pool() -> None:
    ssh_pool.pool_file().write_text(yaml.safe_dump(
        {"lab": {"user": "ops", "hosts": ["192.0.2.10", {"ip": "192.0.2.11", "port": 2222}]}}))


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_resources(name):
    _pool()
    got = json.dumps(render.render_resources(CASES[name]), indent=1, sort_keys=True) + "\n"
    path = GOLDEN / f"{name}.json"
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got)
        if not UPDATE:
            pytest.fail(f"golden file {path} was missing and has been written; re-run")
    assert got == path.read_text(), f"rendered resources differ from {path} (SKYC_UPDATE_GOLDEN=1 rewrites it)"


def test_local_provider_renders_dynamic_nodes_without_pickles():
    resources = render.render_resources(CASES["local"])
    assert [r["type"] for r in resources] == ["pulumi-python:dynamic:Resource"] * 2
    assert [r["inputs"]["node"] for r in resources] == ["head", "worker1"]
    assert all("__provider" not in r["inputs"] for r in resources)


def test_ssh_pool_renders_claims_offline():
    _pool()
    out = render.render(CASES["ssh"])
    nodes = [r["inputs"] for r in out["resources"]]
    assert [n["node"] for n in nodes] == ["head", "worker1"] and {n["pool"] for n in nodes} == {"lab"}
    assert [h["ip"] for h in nodes[0]["hosts"]] == ["192.0.2.10", "192.0.2.11"]


def test_every_provider_renders_64_nodes():
    _pool()
    for name, spec in CASES.items():
        if name in SINGLE_NODE:
            continue
        big = spec.model_copy(update={"num_nodes": 64})
        nodes = render.render(big)["outputs"]["inventory"]["nodes"]
        assert len(nodes) == 64, name


def test_preview_availability_explains_why_not(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    ok, reason = render.preview_available(CASES["aws"])
    assert not ok and "credentials" in reason
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi-resource-aws anywhere
    ok, reason = render.preview_available(CASES["aws"])
    assert not ok and ("plugin 'aws'" in reason or "Pulumi CLI" in reason)


def test_registry_and_checks_do_not_import_pulumi():
    code = (
        "import sys\n"
        "from skyc.stacks import registry, render\n"
        "for n in registry.names():\n"
        "    registry.get(n).check_credentials()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws', 'pulumi_gcp', 'pulumi_azure_native', 'pulumi_kubernetes', 'pulumi_nebius', 'paramiko'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy(), timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cloud_renders_are_kept_until_the_spec_or_config_changes(skyc_home, monkeypatch):
    from skyc.stacks import registry

    spec = CASES["gcp"]
    first = render.render(spec)
    provider = registry.get("gcp")
    calls = []
    real_program = type(provider).program
    monkeypatch.setattr(type(provider), "program", lambda self, s: calls.append(s) or real_program(self, s))

    assert render.render(spec) == first and calls == []  # served from the cache
    bigger = spec.model_copy(update={"num_nodes": 2})
    assert len(render.render_resources(bigger)) > len(first["resources"]) and len(calls) == 1
    (skyc_home / "config.yaml").write_text("gcp:\n  ssh_cidr: 10.0.0.0/8\n")
    restricted = render.render(spec)
    assert len(calls) == 2 and restricted["warnings"] == [] and first["warnings"]
    (ssh_rule,) = [r for r in restricted["resources"] if r["name"] == "firewall"]
    assert ssh_rule["inputs"]["sourceRanges"] == ["10.0.0.0/8"]
