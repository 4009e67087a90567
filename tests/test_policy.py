"""Policy model, located file errors and the pure evaluator."""

from __future__ import annotations

import pytest

from skyc.compiler import policy as pol
from skyc.errors import PolicyError


def _subj(**kw):
    base = dict(cluster="c1", infra="aws/us-east-1/us-east-1a", hourly_cost=3.06, num_nodes=1)
    base.update(kw)
    return pol.PolicySubject(**base)


def test_empty_policy_allows_everything():
    p = pol.loads("")
    assert pol.evaluate(p, [_subj(hourly_cost=1e6, num_nodes=1000)]) == []


def test_max_hourly_cost_per_cluster():
    p = pol.Policy(max_hourly_cost=2.0)
    (v,) = pol.evaluate(p, [_subj(hourly_cost=3.06), _subj(cluster="cheap", hourly_cost=1.0)])
    assert v.rule == "max_hourly_cost" and v.cluster == "c1"
    assert "$3.06/h exceeds max_hourly_cost $2.00/h" in v.message


def test_total_hourly_cost_counts_running_clusters():
    p = pol.Policy(max_total_hourly_cost=5.0)
    assert pol.evaluate(p, [_subj(hourly_cost=3.0)], other_hourly_cost=1.9) == []
    (v,) = pol.evaluate(p, [_subj(hourly_cost=3.0)], other_hourly_cost=2.5)
    assert v.rule == "max_total_hourly_cost" and "$5.50/h" in v.message


@pytest.mark.parametrize(
    "pattern,infra,ok",
    [
        ("aws", "aws/us-east-1/us-east-1a", True),
        ("aws/*", "aws/us-east-1", True),
        ("AWS/us-*", "aws/us-west-2", True),
        ("gcp/us-central1", "gcp/us-central1/us-central1-a", True),
        ("gcp/us-central1", "gcp/europe-west4", False),
        ("gcp/us-central1", "gcp", False),  # unknown region is not a match for a pinned one
        ("*/*/*-a", "gcp/us-central1/us-central1-a", True),
        ("aws/*", "local", False),
    ],
)
def test_infra_patterns(pattern, infra, ok):
    assert pol.infra_matches(pattern, infra) is ok


def test_allowed_and_denied_infra():
    p = pol.Policy(allowed_infra=["aws/*", "local"], denied_infra=["aws/us-east-1"])
    rules = [v.rule for v in pol.evaluate(p, [_subj(infra="aws/us-east-1/us-east-1a")])]
    assert rules == ["denied_infra"]
    rules = [v.rule for v in pol.evaluate(p, [_subj(infra="gcp/us-central1")])]
    assert rules == ["allowed_infra"]
    assert pol.evaluate(p, [_subj(infra="local")]) == []


def test_require_spot_and_max_nodes():
    p = pol.Policy(require_spot=["H100", "A100"], max_nodes=4)
    vs = pol.evaluate(p, [_subj(accelerator="h100", use_spot=False, num_nodes=8)])
    assert sorted(v.rule for v in vs) == ["max_nodes", "require_spot"]
    assert pol.evaluate(p, [_subj(accelerator="H100", use_spot=True, num_nodes=4)]) == []
    assert pol.evaluate(p, [_subj(accelerator="T4", use_spot=False)]) == []


def test_policy_errors_are_located(tmp_path):
    f = tmp_path / "policy.yaml"
    f.write_text("max_hourly_cost: 10\nmax_nodez: 3\nallowed_infra:\n  - aws/*\n  - a/b/c/d\nmax_nodes: zero\n")
    with pytest.raises(PolicyError) as e:
        pol.load(f)
    msg = str(e.value)
    assert f"{f}:2:1: max_nodez: unknown rule" in msg
    assert f"{f}:5:5: allowed_infra[1]: bad infra pattern 'a/b/c/d'" in msg
    assert f"{f}:6:12: max_nodes: " in msg


def test_policy_yaml_syntax_error_is_located(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("max_hourly_cost: 1\nallowed_infra: [aws\n")
    with pytest.raises(PolicyError, match=rf"{f}:\d+:\d+: YAML syntax error"):
        pol.load(f)


def test_negative_cost_and_non_mapping(tmp_path):
    with pytest.raises(PolicyError, match=r"x.yaml:1:18: max_hourly_cost: Input should be greater than or equal to 0"):
        pol.loads("max_hourly_cost: -1\n", file="x.yaml")
    with pytest.raises(PolicyError, match="mapping"):
        pol.loads("- a\n- b\n", file="x.yaml")
    with pytest.raises(PolicyError, match=r"x.yaml:2:1: YAML syntax error: duplicate key 'max_nodes'"):
        pol.loads("max_nodes: 1\nmax_nodes: 2\n", file="x.yaml")


def test_check_uses_default_file_and_explicit_file(skyc_home, tmp_path):
    s = [_subj(hourly_cost=3.0)]
    assert pol.check(s) == pol.PolicyResult()  # no policy anywhere
    (skyc_home / "policy.yaml").write_text("max_hourly_cost: 1\n")
    r = pol.check(s)
    assert not r.passed and r.file == str(skyc_home / "policy.yaml")
    with pytest.raises(PolicyError, match="violates policy"):
        pol.raise_for(r)
    other = tmp_path / "other.yaml"
    other.write_text("max_hourly_cost: 5\n")
    assert pol.check(s, policy_file=other).passed
    with pytest.raises(PolicyError, match="not found"):
        pol.check(s, policy_file=tmp_path / "missing.yaml")


def test_check_plan_counts_running_clusters_except_replaced(tmp_path):
    from types import SimpleNamespace as NS

    from skyc.stacks.base import StackSpec

    plan = NS(tasks=[
        NS(cluster="train", action="create", hourly_cost=3.0,
           stack=StackSpec(stack="train", provider="aws", region="us-east-1", num_nodes=2,
                           accelerator_name="A100", accelerator_count=1)),
        NS(cluster="gone", action="delete", hourly_cost=50.0, stack=StackSpec(stack="gone", provider="aws")),
    ])
    f = tmp_path / "p.yaml"
    f.write_text("max_total_hourly_cost: 5\nrequire_spot: [A100]\nallowed_infra: [aws/us-*]\n")
    # "train" is being replaced: its old $/h is not counted twice; "other" is.
    r = pol.check_plan(plan, policy_file=f, running={"train": 10.0, "other": 1.5})
    assert [v.rule for v in r.violations] == ["require_spot"]
    r = pol.check_plan(plan, policy_file=f, running={"other": 2.5})
    assert sorted(v.rule for v in r.violations) == ["max_total_hourly_cost", "require_spot"]
    assert r.file == str(f) and not r.passed


def test_example_ci_policy_is_valid():
    from pathlib import Path

    p = pol.load(Path(__file__).resolve().parent.parent / "examples" / "ci" / "policy.yaml")
    assert p.max_hourly_cost == 40 and "local" in p.allowed_infra


def test_review_blocks_an_offline_cloud_plan_over_budget(skyc_home, tmp_path):
    """A cloud stack planned offline: nothing is created, the review says what would be and why
    the policy refuses it (exit 1), with the machine-readable block for OPA/Conftest."""
    from skyc.compiler.plan import PlacementInfo, Plan, PlanTask
    from skyc.compiler.review import review
    from skyc.stacks.base import StackSpec

    spec = StackSpec(stack="big", provider="aws", region="us-east-1", instance_type="c6i.12xlarge", num_nodes=2)
    chosen = PlacementInfo(cloud="aws", region="us-east-1", instance_type="c6i.12xlarge", num_nodes=2,
                           hourly_price=2.04, hourly_cost=4.08)
    plan = Plan(created_at="2026-01-01T00:00:00+00:00", skyc_version="test",
                tasks=[PlanTask(cluster="big", chosen=chosen, stack=spec)])
    f = tmp_path / "policy.yaml"
    f.write_text("max_hourly_cost: 2.5\n")
    r = review(plan, policy_file=f, offline=True)
    assert r.exit_code() == 1 and r.exit_code(detailed=True) == 1
    (d,) = r.diffs
    assert d.base_version is None and d.hourly_cost_before == 0.0 and d.hourly_cost_after == 4.08
    assert [(x.name, x.action) for x in d.changed if x.type == "aws:ec2/instance:Instance"] == [
        ("head", "create"), ("worker1", "create")]
    js = r.to_json()
    assert js["policy"] == {"file": str(f), "passed": False, "violations": [
        {"rule": "max_hourly_cost", "cluster": "big",
         "message": "big: $4.08/h exceeds max_hourly_cost $2.50/h"}]}
    assert js["summary"]["add"] == len(d.changed) and js["diff"][0]["cost_delta"] == 4.08
    assert "[max_hourly_cost] big: $4.08/h exceeds" in r.render()
    with pytest.raises(PolicyError, match="violates policy"):
        r.raise_for_policy()
    assert not (skyc_home / "state" / ".pulumi" / "stacks").exists()  # no stack was created
    f.write_text("max_hourly_cost: 5\n")
    assert review(plan, policy_file=f, offline=True).exit_code(detailed=True) == 2
