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
    assert diff.make_diff("c", [], hourly_cost_after=2.0).cost_delta == 2.0
