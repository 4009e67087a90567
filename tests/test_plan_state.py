"""`skyc plan` against an existing stack (real local nodes, real Pulumi engine): the action, the
base version recorded for `apply`, and `--detailed-exitcode` 0 when nothing would change."""

from __future__ import annotations

import json

import pytest

from skyc.errors import PulumiCLIError
from skyc.stacks import pulumi_cli

try:
    pulumi_cli.find(build_if_missing=False)
except PulumiCLIError as e:  # pragma: no cover - depends on the machine
    pytest.skip(f"no Pulumi CLI: {e}", allow_module_level=True)

from skyc.cli.main import main  # noqa: E402
from skyc.compiler.plan import Plan  # noqa: E402


def test_plan_of_an_applied_stack(engine, tmp_path, capsys):
    task = tmp_path / "task.yaml"
    task.write_text("resources:\n  infra: local\nrun: echo hi\n")
    saved = tmp_path / "plan.json"
    assert main(["plan", str(task), "-c", "ps", "--out", str(saved), "--detailed-exitcode"]) == 2
    first = Plan.load(saved)
    assert (first.tasks[0].action, first.tasks[0].base_version) == ("create", None)
    assert main(["apply", "-y", str(saved)]) == 0
    capsys.readouterr()

    assert main(["plan", str(task), "-c", "ps", "-o", "json", "--detailed-exitcode"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert (same["tasks"][0]["action"], same["tasks"][0]["base_version"]) == ("no-op", 1)
    assert same["review"]["summary"]["add"] == 0
    # Without rendering, the recorded spec decides: the same task is no change, a bigger one is.
    assert main(["plan", str(task), "-c", "ps", "--no-render", "--detailed-exitcode"]) == 0
    assert main(["plan", str(task), "-c", "ps", "--num-nodes", "2", "--no-render", "--detailed-exitcode"]) == 2
    capsys.readouterr()

    assert main(["plan", str(task), "-c", "ps", "--num-nodes", "2", "--out", str(saved), "--detailed-exitcode"]) == 2
    grown = Plan.load(saved)
    assert (grown.tasks[0].action, grown.tasks[0].base_version) == ("update", 1)
    assert "worker1" in capsys.readouterr().out

    # The engine's real preview of the same change agrees and says where it came from.
    assert main(["plan", str(task), "-c", "ps", "--num-nodes", "2", "--preview", "--detailed-exitcode"]) == 2
    text = capsys.readouterr().out
    assert "from the engine's preview" in text and "Plan: 1 to add, 1 to change, 0 to destroy." in text
    assert engine.last_spec("ps").num_nodes == 1  # a preview changes nothing


def test_preview_says_why_it_cannot_run(tmp_path, capsys, monkeypatch):
    task = tmp_path / "task.yaml"
    task.write_text("resources:\n  infra: aws/us-east-1\n  cpus: 2\nrun: echo hi\n")
    assert main(["plan", str(task), "--preview", "--offline"]) == 2  # usage: preview needs real infra
    assert "does not combine with --offline" in capsys.readouterr().err
    for var, value in {"AWS_SHARED_CREDENTIALS_FILE": tmp_path / "none", "AWS_CONFIG_FILE": tmp_path / "none",
                       "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(var, str(value))
    assert main(["plan", str(task), "-c", "pv", "--preview"]) == 1
    err = capsys.readouterr().err
    assert "cannot preview pv on aws/us-east-1" in err and "plugin 'aws' is not installed" in err
