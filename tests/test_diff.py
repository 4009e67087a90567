"""The resource diff algorithm: rendered inputs old vs new, and engine preview steps."""

from __future__ import annotations

from skyc.compiler import diff
from skyc.stacks.base import StackSpec


def _res(name, **inputs):
    return {"type": "aws:ec2/instance:Instance", "name": name, "inputs": inputs}


def test_identical_resources_are_no_ops_and_say_no_changes():
    old = [_res("head", instanceType="m5.xlarge", tags={"a": "1"})]
    changes = diff.diff_resources(old, old)
    assert [c.action for c in changes] == ["no-op"]
    d = diff.make_diff("c1", changes)
    assert not d.has_changes
    assert d.summary.line().startswith("No changes.")


def test_added_and_removed_nodes():
    one = [_res("node-0", instanceType="m5.xlarge")]
    two = one + [_res("node-1", instanceType="m5.xlarge")]
    up = diff.diff_resources(one, two)
    assert [(c.name, c.action, c.symbol) for c in up] == [("node-0", "no-op", " "), ("node-1", "create", "+")]
    assert diff.summarize(up).line() == "Plan: 1 to add, 0 to change, 0 to destroy."
    down = diff.diff_resources(two, one)
    assert [(c.name, c.action) for c in down] == [("node-0", "no-op"), ("node-1", "delete")]
    assert diff.summarize(down).line() == "Plan: 0 to add, 0 to change, 1 to destroy."


def test_in_place_update_lists_property_changes():
    old = [_res("n", instanceType="m5.xlarge", tags={"team": "a", "gone": "x"})]
    new = [_res("n", instanceType="m5.xlarge", tags={"team": "b", "new": "y"})]
    (c,) = diff.diff_resources(old, new)
    assert c.action == "update" and c.symbol == "~"
    assert [(p.path, p.kind, p.old, p.new) for p in c.changes] == [
        ("tags.gone", "delete", "x", None),
        ("tags.new", "add", None, "y"),
        ("tags.team", "update", "a", "b"),
    ]
    assert diff.summarize([c]).line() == "Plan: 0 to add, 1 to change, 0 to destroy."


def test_replacement_has_reason_and_counts_as_add_and_destroy():
    old = [_res("n", instanceType="m5.xlarge", rootBlockDevice={"volumeSize": 100})]
    new = [_res("n", instanceType="p3.2xlarge", rootBlockDevice={"volumeSize": 200})]
    (c,) = diff.diff_resources(old, new)
    assert c.action == "replace" and c.symbol == "-/+"
    assert c.replace_reasons == ["instance type changed", "root disk changed"]
    assert all(p.forces_replacement for p in c.changes)
    assert diff.summarize([c]).line() == "Plan: 1 to add, 0 to change, 1 to destroy."


def test_list_items_diff_by_index():
    changes = diff.diff_inputs({"ports": ["22", "80"]}, {"ports": ["22", "8080", "9000"]})
    assert [(p.path, p.kind) for p in changes] == [("ports[1]", "update"), ("ports[2]", "add")]


def test_preview_steps_fold_replacement_and_hide_stack():
    steps = [
        {"op": "same", "type": "pulumi:pulumi:Stack", "name": "skyc-c", "urn": "u0"},
        {"op": "same", "type": "pulumi:providers:aws", "name": "default", "urn": "p"},
        {"op": "create-replacement", "type": "skyc:local:Node", "name": "c-0", "urn": "u1",
         "old_inputs": {"address": "127.0.0.2", "cpus": 1}, "new_inputs": {"address": "127.0.0.3", "cpus": 1},
         "diffs": ["address"], "replace_reasons": ["address"]},
        {"op": "delete-replaced", "type": "skyc:local:Node", "name": "c-0", "urn": "u1",
         "old_inputs": {"address": "127.0.0.2"}, "replace_reasons": ["address"]},
        {"op": "create", "type": "skyc:local:Node", "name": "c-1", "urn": "u2", "new_inputs": {"cpus": 1}},
        {"op": "update", "type": "skyc:local:Key", "name": "k", "urn": "u3", "diffs": ["comment"]},
    ]
    changes = diff.from_preview(steps)
    assert [(c.name, c.action) for c in changes] == [("c-0", "replace"), ("c-1", "create"), ("k", "update")]
    assert changes[0].replace_reasons == ["node address changed"]
    assert [(p.path, p.forces_replacement) for p in changes[0].changes] == [("address", True)]
    assert [p.path for p in changes[2].changes] == ["comment"]
    assert diff.summarize(changes).line() == "Plan: 2 to add, 1 to change, 1 to destroy."


def test_spec_resources_fallback_diffs_per_node():
    a = StackSpec(stack="c", provider="aws", instance_type="m5.xlarge", num_nodes=1)
    b = a.model_copy(update={"num_nodes": 2})
    changes = diff.diff_resources(diff.spec_resources(a), diff.spec_resources(b))
    assert [(c.name, c.action) for c in changes] == [("head", "no-op"), ("worker1", "create")]
    c = a.model_copy(update={"instance_type": "p3.2xlarge"})
    (r,) = diff.diff_resources(diff.spec_resources(a), diff.spec_resources(c))
    assert r.action == "replace" and r.replace_reasons == ["instance type changed"]


def test_cost_delta():
    d = diff.make_diff("c", [], hourly_cost_before=1.5, hourly_cost_after=4.0)
    assert d.cost_delta == 2.5
    assert diff.make_diff("c", [], hourly_cost_after=2.0).cost_delta is None  # unknown before: no delta
    assert diff.make_diff("c", [], hourly_cost_before=0.0, hourly_cost_after=2.0).cost_delta == 2.0


def _sample_diffs():
    old = [_res("head", instanceType="m5.xlarge"), _res("worker1", instanceType="m5.xlarge")]
    new = [_res("head", instanceType="p3.2xlarge")]
    changed = diff.make_diff("train", diff.diff_resources(old, new), base_version=4,
                             hourly_cost_before=0.384, hourly_cost_after=3.06)
    same = diff.make_diff("idle", diff.diff_resources(old[:1], old[:1]), base_version=1,
                          hourly_cost_before=0.192, hourly_cost_after=0.192)
    return [changed, same]


def test_text_rendering_shows_symbols_reasons_summary_and_cost():
    out = diff.render(_sample_diffs())
    assert 'Stack train (state version 4):' in out
    assert '-/+ aws:ec2/instance:Instance "head" (must be replaced: instance type changed)' in out
    assert '~ instanceType: "m5.xlarge" -> "p3.2xlarge"  # forces replacement' in out
    assert '-   aws:ec2/instance:Instance "worker1"' in out
    assert "Hourly cost: $0.38/h -> $3.06/h (+$2.68/h)" in out
    assert "Stack idle (state version 1):\n  no changes" in out
    assert out.rstrip().endswith("Plan: 1 to add, 0 to change, 2 to destroy.")


def test_markdown_rendering_for_pull_requests():
    from skyc.compiler.policy import PolicyResult, Violation

    pol = PolicyResult(file="ci/policy.yaml", passed=False,
                       violations=[Violation(rule="max_hourly_cost", message="train: too expensive")])
    md = diff.render(_sample_diffs(), "markdown", policy=pol)
    assert "**Plan: 1 to add, 0 to change, 2 to destroy.**" in md
    assert "| `train` | update | 1 | 0 | 2 | $0.38/h | $3.06/h | +$2.68/h |" in md
    assert "| `idle` | no-op | 0 | 0 | 0 | $0.19/h | $0.19/h | +$0.00/h |" in md
    assert "❌ Policy `ci/policy.yaml` failed:" in md and "- **max_hourly_cost**: train: too expensive" in md
    assert md.count("<details>") == 1 and "</details>" in md  # only stacks with changes
    assert '! aws:ec2/instance:Instance "head" (replace: instance type changed)' in md


def test_detailed_exit_code():
    changed, same = _sample_diffs()
    assert diff.detailed_exit_code([same]) == 0
    assert diff.detailed_exit_code([same, changed]) == 2
