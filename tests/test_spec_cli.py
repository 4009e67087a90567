"""`skyc validate` and `skyc schema`: exit codes and output formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from skyc.cli.main import cli, main

ROOT = Path(__file__).parent.parent
BAD = "name: x\nresources:\n  acclerators: A100\n  cpus: -1\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.yaml"
    good.write_text("name: ok\nenvs: {NEED: null}\nsecrets: {TOKEN: abc-secret-value}\nrun: echo $NEED\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    return {"good": good, "bad": bad}


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, standalone_mode=False)


def test_validate_text_ok(files):
    r = run("validate", str(files["good"]), "--env", "NEED=1")
    assert r.return_value == 0
    assert r.output.strip() == f"{files['good']}: ok (1 task)"


def test_validate_text_errors_are_file_line_col(files):
    r = run("validate", str(files["bad"]), str(files["good"]), "--env", "NEED=1")
    assert r.return_value == 1
    lines = r.output.strip().splitlines()
    assert lines[0] == f"{files['bad']}:3:3: resources.acclerators: unknown field 'acclerators'; " \
                       "did you mean 'accelerators'?"
    assert lines[1].startswith(f"{files['bad']}:4:9: resources.cpus: ")
    assert lines[2] == f"{files['good']}: ok (1 task)"


def test_validate_null_env_needs_override(files):
    r = run("validate", str(files["good"]))
    assert r.return_value == 1 and "envs.NEED" in r.output and "--env NEED=VALUE" in r.output


def test_validate_json(files):
    r = run("validate", "-o", "json", str(files["good"]), str(files["bad"]), "--env", "NEED=v")
    assert r.return_value == 1
    out = json.loads(r.output)
    assert [o["file"] for o in out] == [str(files["good"]), str(files["bad"])]
    good, bad = out
    assert good["valid"] is True and good["errors"] == []
    assert good["tasks"][0]["envs"] == {"NEED": "v"}
    assert good["tasks"][0]["secrets"] == {"TOKEN": "<redacted>"}
    assert "abc-secret-value" not in r.output
    assert bad["valid"] is False and bad["tasks"] == []
    assert bad["errors"][0] == {"line": 3, "column": 3, "field": "resources.acclerators",
                                "message": "unknown field 'acclerators'; did you mean 'accelerators'?"}


def test_validate_env_file_and_secret(tmp_path, files):
    env_file = tmp_path / "vars.env"
    env_file.write_text("NEED=from-file\n")
    r = run("validate", "-o", "json", str(files["good"]), "--env-file", str(env_file), "--secret", "TOKEN=other")
    out = json.loads(r.output)
    task = out[0]["tasks"][0]
    assert r.return_value == 0 and "NEED" in task["envs"]
    # env-file entries are secrets as well (SkyPilot semantics), so their values are redacted everywhere
    assert task["secrets"] == {"TOKEN": "<redacted>", "NEED": "<redacted>"}
    assert "from-file" not in r.output and "other" not in r.output


def test_validate_examples_all_valid():
    examples = sorted(str(p) for p in (ROOT / "examples").glob("*.yaml"))
    r = run("validate", *examples)
    assert r.return_value == 0, r.output
    assert r.output.count(": ok (") == len(examples)


def test_validate_usage_errors_exit_2(files, monkeypatch):
    monkeypatch.delenv("SURELY_NOT_SET_ANYWHERE", raising=False)
    assert main(["validate", str(files["good"]), "--env", "SURELY_NOT_SET_ANYWHERE"]) == 2
    assert main(["validate", str(files["good"]), "--env-file", "/nonexistent.env"]) == 2
    assert main(["validate"]) == 2


def test_validate_missing_file_is_invalid(tmp_path):
    r = run("validate", str(tmp_path / "nope.yaml"))
    assert r.return_value == 1 and "no such file" in r.output


def test_schema_is_json_schema_of_the_models():
    r = run("schema")
    assert r.return_value == 0
    schema = json.loads(r.output)
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert {"name", "workdir", "num_nodes", "resources", "envs", "secrets", "file_mounts", "setup", "run",
            "service", "config", "_metadata"} <= set(props)
    res = schema["$defs"]["ResourcesSpec"]["properties"]
    assert {"accelerators", "gpus", "infra", "any_of", "ordered", "autostop", "job_recovery"} <= set(res)


def test_cli_subprocess_exit_codes(files):
    ok = subprocess.run([sys.executable, "-m", "skyc.cli.main", "validate", str(files["bad"])],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 1 and "Traceback" not in ok.stderr + ok.stdout
    assert f"{files['bad']}:3:3:" in ok.stdout
