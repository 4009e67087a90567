"""The IaC workflow on real local stacks: diff against state, saved-plan apply and staleness,
history, drift after a node is killed outside skyc, redacted export, the state/refresh CLI."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from skyc.errors import ClusterNotFoundError, PlanError, PulumiCLIError
from skyc.stacks import local_node, pulumi_cli
from skyc.stacks.base import StackSpec

try:
    pulumi_cli.find(build_if_missing=False)
except PulumiCLIError as e:  # pragma: no cover - depends on the machine
    pytest.skip(f"no Pulumi CLI: {e}", allow_module_level=True)

from skyc.cli import apply as apply_cmd  # noqa: E402
from skyc.cli.main import main  # noqa: E402
from skyc.compiler import diff  # noqa: E402
from skyc.compiler.plan import PlacementInfo, Plan, PlanTask  # noqa: E402
from skyc.stacks import audit  # noqa: E402
from skyc.stacks.engine import Engine  # noqa: E402


def _spec(n: int, name: str = "iac") -> StackSpec:
    return StackSpec(stack=name, provider="local", num_nodes=n)


def _plan(engine: Engine, spec: StackSpec, base_version: int | None, action: str = "update") -> Plan:
    task = PlanTask(cluster=spec.stack, chosen=PlacementInfo(cloud="local", num_nodes=spec.num_nodes), stack=spec,
                    action=action, base_version=base_version)
    return Plan(created_at="2026-01-01T00:00:00+00:00", skyc_version="test", backend=engine.backend_url, tasks=[task])


def _saved_plan(engine: Engine, spec: StackSpec) -> Plan:
    """What `skyc plan --out` records for one cluster: the spec and the version it saw."""
    return _plan(engine, spec, engine.version(spec.stack))


def test_diff_scale_up_down_apply_history(engine):
    # A new cluster: everything is created, no base version.
    d0 = diff.diff_against_state(_spec(1), engine)
    assert d0.base_version is None
    assert [(r.name, r.action) for r in d0.resources] == [("head", "create")]
    apply_cmd.apply_plan(_saved_plan(engine, _spec(1)), engine=engine)
    assert engine.version("iac") == 1

    same = diff.diff_against_state(_spec(1), engine)
    assert not same.has_changes and same.base_version == 1
    assert "No changes" in diff.render([same])

    up = diff.diff_against_state(_spec(2), engine)
    assert [(r.symbol, r.name) for r in up.changed] == [("~", "head"), ("+", "worker1")]
    assert [(c.path, c.old, c.new) for c in up.changed[0].changes] == [("num_nodes", 1, 2)]
    assert up.summary.line() == "Plan: 1 to add, 1 to change, 0 to destroy."
    # The engine's real preview agrees with the offline diff.
    real = diff.diff_against_state(_spec(2), engine, preview=True)
    assert [(r.name, r.action) for r in real.changed] == [(r.name, r.action) for r in up.changed]
    assert real.summary == up.summary

    apply_cmd.apply_plan(_saved_plan(engine, _spec(2)), engine=engine)
    assert [n.name for n in engine.inventory("iac").nodes] == ["head", "worker1"]

    down = diff.diff_against_state(_spec(1), engine)
    assert [(r.symbol, r.name) for r in down.changed] == [("~", "head"), ("-", "worker1")]
    assert down.summary.line() == "Plan: 0 to add, 1 to change, 1 to destroy."
    apply_cmd.apply_plan(_saved_plan(engine, _spec(1)), engine=engine)

    hist = audit.history("iac", engine)
    assert [h.version for h in hist] == [3, 2, 1]
    assert all(h.result == "succeeded" and h.kind == "update" and h.user for h in hist)
    assert hist[0].changes == ["num_nodes: 2 -> 1"] and hist[1].changes == ["num_nodes: 1 -> 2"]
    assert hist[0].resource_changes.get("delete") == 1 and hist[1].resource_changes.get("create") == 1


def test_stale_and_foreign_plans_are_refused(engine, tmp_path):
    apply_cmd.apply_plan(_saved_plan(engine, _spec(1)), engine=engine)
    # What `skyc plan` does: diff each stack of the plan and record the version it saw.
    reviewed = _plan(engine, _spec(2), None)
    (d,) = diff.plan_diffs(reviewed, engine)
    assert reviewed.tasks[0].base_version == 1 == d.base_version
    assert d.summary.line() == "Plan: 1 to add, 1 to change, 0 to destroy." and d.cost_delta == 0.0
    assert diff.detailed_exit_code([d]) == 2
    apply_cmd.apply_plan(_saved_plan(engine, _spec(1).model_copy(update={"labels": {"team": "x"}})), engine=engine)
    with pytest.raises(PlanError, match="plan is stale.*run plan again"):
        apply_cmd.apply_plan(reviewed, engine=engine)
    assert engine.last_spec("iac").num_nodes == 1  # nothing was applied

    new_cluster_plan = _plan(engine, _spec(1), None, action="create")
    with pytest.raises(PlanError, match="planned against a new stack but it is at version 2"):
        apply_cmd.apply_plan(new_cluster_plan, engine=engine)

    foreign = _saved_plan(engine, _spec(2))
    foreign.backend = "s3://someone-elses-bucket"
    with pytest.raises(PlanError, match="made for backend s3://someone-elses-bucket"):
        apply_cmd.apply_plan(foreign, engine=engine)

    bad = tmp_path / "plan.json"
    bad.write_text("{not json")
    with pytest.raises(PlanError, match="not a skyc plan"):
        Plan.load(bad)
    bad.write_text(json.dumps({"hello": "world"}))
    with pytest.raises(PlanError, match="not a skyc plan"):
        Plan.load(bad)
    assert main(["apply", "-y", str(bad)]) == 1


def test_killed_node_is_reported_as_drift(engine, skyc_home, capsys):
    apply_cmd.apply_plan(_saved_plan(engine, _spec(2, "drifty")), engine=engine)
    assert audit.detect_drift("drifty", engine) == []

    pid = local_node._sshd_pid("drifty", "worker1")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while local_node.node_alive("drifty", "worker1") and time.time() < deadline:
        time.sleep(0.05)

    assert main(["refresh", "drifty", "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["drifted"] == [{"name": "worker1", "type": "pulumi-python:dynamic:Resource", "change": "deleted"}]
    # The state now records reality, so a plan of the same spec shows the node to recreate.
    again = diff.diff_against_state(_spec(2, "drifty"), engine)
    assert [(r.name, r.action) for r in again.changed] == [("worker1", "create")]
    hist = audit.history("drifty", engine)
    assert hist[0].kind == "refresh"


def test_status_refresh_marks_a_cluster_with_a_lost_node_init(engine, capsys):
    apply_cmd.apply_plan(_saved_plan(engine, _spec(2, "halfgone")), engine=engine)
    assert main(["status", "halfgone", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "UP"

    os.kill(local_node._sshd_pid("halfgone", "worker1"), signal.SIGKILL)
    deadline = time.time() + 10
    while local_node.node_alive("halfgone", "worker1") and time.time() < deadline:
        time.sleep(0.05)
    # Without --refresh status reads the registry only and cannot know.
    assert main(["status", "halfgone", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "UP"
    assert main(["status", "halfgone", "--refresh", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "INIT"
    assert audit.history("halfgone", engine)[0].kind == "refresh"


def test_state_cli_list_history_export(engine, capsys):
    apply_cmd.apply_plan(_saved_plan(engine, _spec(1, "audited")), engine=engine)
    apply_cmd.apply_plan(_saved_plan(engine, _spec(2, "audited")), engine=engine)

    from skyc import registry

    assert registry.open_registry().get("audited").status == registry.UP  # apply registers like launch

    assert main(["state", "list", "-o", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["name"] == "audited" and row["resources"] == 2 and row["version"] == 2
    assert row["provider"] == "local" and row["hourly_cost"] == 0.0 and row["last_update"]
    assert row["backend"] == engine.backend_url

    assert main(["state", "history", "audited"]) == 0
    out = capsys.readouterr().out
    assert "num_nodes: 1 -> 2" in out and "succeeded" in out

    assert main(["state", "export", "audited"]) == 0
    exported = capsys.readouterr().out
    state = json.loads(exported)
    nodes = [r for r in state["deployment"]["resources"] if r["type"] == "pulumi-python:dynamic:Resource"]
    assert len(nodes) == 2
    assert all(r["inputs"]["__provider"] == audit.PROVIDER_BLOB for r in nodes)
    assert "gASV" not in exported  # no pickled provider code anywhere (inputs or outputs)

    assert main(["state", "history", "nope"]) == ClusterNotFoundError.exit_code


def test_apply_task_yaml_plans_shows_and_applies(engine, tmp_path, capsys):
    task = tmp_path / "task.yaml"
    task.write_text("resources:\n  infra: local\nnum_nodes: 1\nrun: echo hi\n")
    assert main(["apply", "-y", str(task), "-c", "cli"]) == 0
    out = capsys.readouterr().out
    assert "Stack cli (new):" in out and "Plan: 1 to add, 0 to change, 0 to destroy." in out
    assert "Applied cli: 1 node(s)" in out

    assert main(["apply", "-y", str(task), "-c", "cli"]) == 0  # same task: nothing to do
    out = capsys.readouterr().out
    assert "No changes." in out and "Applied" not in out
    assert engine.version("cli") == 1

    task.write_text("resources:\n  infra: local\nnum_nodes: 2\nrun: echo hi\n")
    assert main(["apply", "-y", str(task), "-c", "cli"]) == 0
    out = capsys.readouterr().out
    assert '+   pulumi-python:dynamic:Resource "worker1"' in out and "Plan: 1 to add, 1 to change, 0 to destroy." in out
    assert [n.name for n in engine.inventory("cli").nodes] == ["head", "worker1"]

    policy = tmp_path / "policy.yaml"
    policy.write_text("max_nodes: 2\n")
    task.write_text("resources:\n  infra: local\nnum_nodes: 3\nrun: echo hi\n")
    assert main(["apply", "-y", "--policy", str(policy), str(task), "-c", "cli"]) == 1
    captured = capsys.readouterr()
    assert "[max_nodes] cli: 3 nodes exceed max_nodes 2" in captured.err
    assert engine.version("cli") == 2  # refused before anything changed

    # A saved plan is checked against today's policy too.
    saved = tmp_path / "three.json"
    assert main(["plan", str(task), "-c", "cli", "--out", str(saved)]) == 0
    capsys.readouterr()
    assert main(["apply", "-y", "--policy", str(policy), str(saved)]) == 1
    assert "[max_nodes] cli: 3 nodes exceed max_nodes 2" in capsys.readouterr().err
    assert engine.version("cli") == 2
