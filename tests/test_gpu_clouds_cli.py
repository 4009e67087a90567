"""The new clouds at the command line: `gpus list` marks the catalogs skyc cannot provision,
`check` names each provider's credential file, and `allowed_infra` and policy files take the
new names."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from skyc import paths
from skyc.cli.main import cli, main
from skyc.compiler import enabled as infra
from skyc.compiler import policy
from skyc.compiler.plan import build_plan
from skyc.compiler.spec import load_tasks
from skyc.errors import PolicyError


@pytest.fixture(autouse=True)
def no_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "home"


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, standalone_mode=False)


def test_gpus_list_marks_catalog_only_clouds():
    out = run("gpus", "list", "A100:8").stdout
    rows = {line.split()[0] for line in out.splitlines()[1:] if line.strip() and not line.startswith("*")}
    assert {"lambda", "gcp", "aws", "azure"} <= rows and {"vast*", "mithril*", "shadeform*", "cudo*"} <= rows
    assert "skyc cannot provision this cloud yet" in out
    summary = run("gpus", "list").stdout
    a100 = next(line for line in summary.splitlines() if line.startswith("A100 "))
    assert "lambda," in a100 and "vast*" in a100 and "lambda*" not in a100
    assert "skyc cannot provision" not in run("gpus", "list", "A100:8", "--infra", "lambda").stdout


def test_check_reports_each_new_provider(no_credentials):
    out = run("check").stdout
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "disabled" in lines["Lambda"] and "~/.lambda_cloud/lambda_keys" in lines["Lambda"]
    assert "disabled" in lines["RunPod"] and "~/.runpod/config.toml" in lines["RunPod"]
    assert "disabled" in lines["Nebius"] and "~/.nebius/credentials.json" in lines["Nebius"]
    (no_credentials / ".lambda_cloud").mkdir(parents=True)
    (no_credentials / ".lambda_cloud" / "lambda_keys").write_text("api_key = k\n")
    enabled = json.loads(run("check", "-o", "json").stdout)["default"]
    assert "lambda" in enabled and "runpod" not in enabled
    offline = json.loads(run("check", "--offline", "-o", "json").stdout)["default"]
    assert {"lambda", "runpod", "nebius", "aws", "gcp", "azure"} <= set(offline)


def test_allowed_infra_takes_the_new_names(tmp_path):
    paths.config_file().write_text(yaml.safe_dump({"allowed_infra": ["runpod", "nebius"]}))
    on = infra.enabled_set(infra.check(offline=True))
    assert on == {"runpod", "nebius"}
    f = tmp_path / "t.yaml"
    f.write_text("resources:\n  accelerators: H100:8\n")
    (t,) = build_plan(load_tasks(f), cluster="c", offline=True, render=False).tasks
    assert t.chosen.cloud in ("runpod", "nebius")
    paths.config_file().write_text(yaml.safe_dump({"allowed_infra": ["lamda"]}))
    with pytest.raises(Exception, match="did you mean 'lambda'"):
        infra.check(offline=True)


def test_policy_files_match_the_new_clouds(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("resources:\n  accelerators: A100:8\n")
    plan = build_plan(load_tasks(f), cluster="c", offline=True, render=False)
    assert plan.tasks[0].chosen.cloud == "lambda"
    allow = tmp_path / "allow.yaml"
    allow.write_text("allowed_infra: [lambda/*, nebius]\nmax_hourly_cost: 11\n")
    assert policy.check_plan(plan, policy_file=allow, running={}).passed
    deny = tmp_path / "deny.yaml"
    deny.write_text("denied_infra: [lambda]\n")
    with pytest.raises(PolicyError, match="denied_infra lambda"):
        policy.raise_for(policy.check_plan(plan, policy_file=deny, running={}))


def test_plan_text_lists_the_skipped_cheaper_offers(tmp_path, capsys):
    f = tmp_path / "t.yaml"
    f.write_text("resources:\n  accelerators: A100:8\n")
    assert main(["plan", str(f), "-c", "c", "--offline", "--no-render"]) in (0, 2)
    out = capsys.readouterr().out
    assert "lambda" in out.split("Chosen:", 1)[1].splitlines()[0]
    skipped = out.split("Cheaper, but skyc cannot provision these clouds yet:", 1)[1].split("Failover:")[0]
    assert "mithril" in skipped and "vast" in skipped and "lambda" not in skipped
