"""The Plan artifact, build_plan, golden renderings and the `skyc plan` command.

Regenerate the golden files with SKYC_REGEN_GOLDEN=1 after an intended change, and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from skyc.cli.main import cli, main
from skyc.compiler import enabled as infra
from skyc.compiler.catalog import capacity
from skyc.compiler.catalog.offers import Offer
from skyc.compiler.plan import Plan, build_plan, render
from skyc.compiler.spec import load_tasks
from skyc.errors import InfraNotEnabledError, PlanError, ResourcesUnavailableError

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).parent / "golden" / "plan"
REGEN = os.environ.get("SKYC_REGEN_GOLDEN") == "1"
LOCAL = Offer("local", "local", None, 0.0, 8.0, 32.0, 0.0, None, None, None, capacity=True)


@pytest.fixture(autouse=True)
def fixed_machine(monkeypatch, tmp_path):
    """Same local capacity and no cloud credentials on every machine that runs the tests."""
    monkeypatch.setattr(capacity, "local_offers", lambda: [LOCAL])
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "GOOGLE_APPLICATION_CREDENTIALS",
                "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)


def statuses(*names):
    return [infra.InfraStatus(n, n, n in names, "test") for n in ("local", "aws", "gcp", "azure", "kubernetes", "ssh")]


CLOUDS = statuses("local", "aws", "gcp", "azure")


def normalised(plan: Plan) -> dict:
    data = plan.to_json()
    data["created_at"] = "<created_at>"
    data["backend"] = "<backend>"
    data["skyc_version"] = "<version>"
    for t in data["tasks"]:
        for r in t["resources"]:
            r.pop("inputs")  # provider inputs have their own golden tests (tests/golden/stacks)
    return data


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN or not path.exists():
        path.write_text(text)
        if not REGEN:
            pytest.skip(f"wrote missing golden file {path.name}; rerun")
    assert text == path.read_text(), f"{name} differs; rerun with SKYC_REGEN_GOLDEN=1 if intended"


@pytest.mark.parametrize("example, rendered", [("train-a100", True), ("hello", True), ("h100-spot-anyof", False),
                                               ("pipeline", False), ("ordered", False)])
def test_golden_plans(example, rendered):
    plan = build_plan(load_tasks(EXAMPLES / f"{example}.yaml"), cluster="golden", statuses=CLOUDS, render=rendered)
    text = json.dumps(normalised(plan), indent=2, sort_keys=True) + "\n"
    check_golden(f"{example}.json", text.replace(str(ROOT), "<repo>"))  # the checkout's location varies
    plan.created_at = "<created_at>"
    check_golden(f"{example}.txt", render(plan, "text"))
    check_golden(f"{example}.md", render(plan, "markdown"))


def test_plan_content_for_a_gpu_task():
    plan = build_plan(load_tasks(EXAMPLES / "train-a100.yaml"), cluster="c1", statuses=CLOUDS)
    (t,) = plan.tasks
    assert (t.chosen.cloud, t.chosen.instance_type, t.chosen.accelerators) == ("gcp", "a2-highgpu-8g", {"A100": 8})
    assert t.stack.provider == "gcp" and t.stack.accelerator_name == "A100" and t.stack.accelerator_count == 8
    assert t.stack.stack == "c1" and t.action == "create" and t.base_version is None
    assert plan.hourly_cost == t.chosen.hourly_cost == pytest.approx(t.chosen.hourly_price)
    assert any(r.type == "gcp:compute/instance:Instance" for r in t.resources)
    assert t.fallbacks and all(f.hourly_cost >= t.chosen.hourly_cost for f in t.fallbacks)
    assert all(a.reason for a in t.alternatives)
    assert any("not enabled" in a.reason for a in t.alternatives)  # cheaper clouds without a provider


def test_secrets_are_redacted_in_the_snapshot(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("name: s\nsecrets:\n  TOKEN: hunter2\nrun: echo $TOKEN\n")
    plan = build_plan(load_tasks(f), cluster="s1", statuses=CLOUDS, render=False)
    assert "hunter2" not in plan.dumps()
    assert (plan.tasks[0].chosen.cloud, plan.hourly_cost) == ("local", 0.0)


def test_pipeline_total_and_cluster_names():
    plan = build_plan(load_tasks(EXAMPLES / "pipeline.yaml"), cluster="p", statuses=CLOUDS, render=False)
    assert [t.cluster for t in plan.tasks] == ["p-0", "p-1"]
    assert plan.hourly_cost == pytest.approx(sum(t.chosen.hourly_cost for t in plan.tasks))
    assert plan.hourly_cost > 0


def test_generated_cluster_name():
    plan = build_plan(load_tasks(EXAMPLES / "hello.yaml"), statuses=CLOUDS, render=False)
    name = plan.tasks[0].cluster
    assert name.startswith("skyc-") and len(name) == 9


def test_blocking_the_chosen_placement_moves_to_the_next():
    tasks = load_tasks(EXAMPLES / "l4-aws.yaml")
    first = build_plan(tasks, cluster="b", statuses=CLOUDS, render=False).tasks[0]
    second = build_plan(tasks, cluster="b", statuses=CLOUDS, render=False, blocked=[first.chosen]).tasks[0]
    assert (second.chosen.cloud, second.chosen.region, second.chosen.instance_type) != \
        (first.chosen.cloud, first.chosen.region, first.chosen.instance_type)
    assert second.chosen.hourly_cost >= first.chosen.hourly_cost
    assert (second.chosen.cloud, second.chosen.region, second.chosen.instance_type) == \
        (first.fallbacks[0].cloud, first.fallbacks[0].region, first.fallbacks[0].instance_type)


def test_pinned_cloud_not_enabled_says_how_to_enable():
    tasks = load_tasks(EXAMPLES / "l4-aws.yaml")
    with pytest.raises(InfraNotEnabledError, match=r"aws is not enabled.*aws: test"):
        build_plan(tasks, cluster="x", statuses=statuses("local", "gcp"), render=False)


def test_nothing_feasible_is_a_clear_error(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("resources:\n  accelerators: H100:16\n")
    with pytest.raises(ResourcesUnavailableError, match="no H100:16; largest is H100:8"):
        build_plan(load_tasks(f), cluster="x", statuses=CLOUDS, render=False)


def test_plan_roundtrip_and_load_errors(tmp_path):
    plan = build_plan(load_tasks(EXAMPLES / "h100-spot-anyof.yaml"), cluster="r", statuses=CLOUDS, render=False)
    path = tmp_path / "plan.json"
    plan.save(path)
    again = Plan.load(path)
    assert again == plan

    assert Plan.load(path) == plan  # what `skyc apply plan.json` reads
    cases = {
        "garbage.json": ("{not json", "not JSON"),
        "foreign.json": (json.dumps({"tasks": [], "terraform_version": "1.5"}), "not a skyc plan"),
        "future.json": (json.dumps({**plan.to_json(), "format_version": 99}), "upgrade skyc"),
        "broken.json": (json.dumps({**plan.to_json(), "tasks": [{"cluster": 3}]}), r"tasks\.0"),
    }
    for name, (text, message) in cases.items():
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(PlanError, match=message):
            Plan.load(p)
    with pytest.raises(PlanError, match="cannot read"):
        Plan.load(tmp_path / "missing.json")


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, standalone_mode=False)


def test_cli_plan_json_out_and_detailed_exitcode(tmp_path):
    out = tmp_path / "p.json"
    r = run("plan", str(EXAMPLES / "train-a100.yaml"), "-c", "cli1", "--offline", "--no-render", "-o", "json",
            "--out", str(out), "--detailed-exitcode")
    assert r.return_value == 2  # a new cluster is a change
    printed = json.loads(r.stdout)
    saved = Plan.load(out)
    assert printed["tasks"][0]["chosen"] == saved.tasks[0].chosen.model_dump(mode="json")
    assert saved.tasks[0].stack.stack == "cli1" and saved.backend
    assert run("plan", str(EXAMPLES / "hello.yaml"), "-c", "cli2", "--no-render").return_value == 0


def test_cli_plan_overrides_and_markdown():
    r = run("plan", str(EXAMPLES / "hello.yaml"), "-c", "o1", "--offline", "--no-render", "--gpus", "A100:8",
            "--infra", "aws", "--num-nodes", "2", "-o", "markdown")
    assert "| `o1` | create | aws/us-east-1 | p4d.24xlarge | A100:8 | no | 2 |" in r.stdout


def test_cli_plan_errors_exit_1(capsys, tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("resources:\n  accelerators: A1000:8\n")
    assert main(["plan", str(f), "--offline", "--no-render"]) == 1
    err = capsys.readouterr().err
    assert "A1000" in err and "Traceback" not in err
    assert main(["plan", str(EXAMPLES / "l4-aws.yaml"), "--no-render"]) == 1
    assert "aws is not enabled" in capsys.readouterr().err


def test_invalid_spec_for_the_chosen_provider_is_an_error_not_a_note(tmp_path):
    from skyc.errors import SpecError

    f = tmp_path / "t.yaml"
    f.write_text("resources:\n  infra: gcp\n  cpus: 8\n  image_id: my-image\n")
    with pytest.raises(SpecError, match="not a GCP image"):
        build_plan(load_tasks(f), cluster="x", statuses=CLOUDS)


def test_pinning_a_cloud_without_a_provider(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("resources:\n  infra: lambda\n  accelerators: A100:8\n")
    with pytest.raises(InfraNotEnabledError, match="skyc has no lambda provider"):
        build_plan(load_tasks(f), cluster="x", statuses=CLOUDS, render=False)


def test_plan_without_rendering_never_imports_pulumi(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from skyc.cli.main import main; "
            f"rc = main(['plan', {str(EXAMPLES / 'train-a100.yaml')!r}, '-c', 'lean', '--offline', '--no-render', "
            "'-o', 'json']); "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws', 'pulumi_gcp', "
            "'paramiko', 'fabric')); "
            "print('HEAVY', heavy, file=sys.stderr); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr


def test_invalid_cluster_name(capsys):
    assert main(["plan", str(EXAMPLES / "hello.yaml"), "-c", "bad name!", "--no-render"]) == 2
    assert "invalid cluster name" in capsys.readouterr().err


def test_missing_local_sources_and_bucket_mounts_fail_at_plan_time(tmp_path, monkeypatch):
    from skyc.compiler.spec import load_task_from_text
    from skyc.errors import SpecError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "code").mkdir()
    (tmp_path / "data.txt").write_text("x")
    ok = "resources:\n  infra: local\nworkdir: ./code\nfile_mounts:\n  ~/data.txt: ./data.txt\nrun: ls\n"
    assert build_plan(load_task_from_text(ok, filename="ok.yaml"), cluster="src", render=False).tasks

    bad = ("resources:\n  infra: local\nworkdir: ./nope\nfile_mounts:\n  /data: s3://bucket/path\n"
           "  ~/gone.txt: ./gone.txt\n  /ckpt:\n    name: my-ckpts\n    mode: MOUNT\nrun: ls\n")
    with pytest.raises(SpecError) as err:
        build_plan(load_task_from_text(bad, filename="bad.yaml"), cluster="src", render=False)
    assert [(i.file, i.field) for i in err.value.issues] == [
        ("bad.yaml", "workdir"), ("bad.yaml", "file_mounts./data"), ("bad.yaml", "file_mounts.~/gone.txt"),
        ("bad.yaml", "file_mounts./ckpt")]
    assert "s3://bucket/path" in str(err.value) and "./gone.txt does not exist" in str(err.value)
    assert "bucket storage (my-ckpts)" in str(err.value)
