"""Golden Markdown plans: one task per provider, rendered offline and shown as a new stack's
plan (every resource created) through the plan's Markdown renderer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skyc.stacks import render
from tests.test_render import CASES, _pool

diff = pytest.importorskip("skyc.compiler.diff", reason="the plan's diff renderer is not in this tree")

GOLDEN = Path(__file__).parent / "golden" / "stacks"
UPDATE = os.environ.get("SKYC_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_markdown_plan(name):
    _pool()
    spec = CASES[name]
    resources = render.render_resources(spec)
    changes = diff.diff_resources([], resources)
    price = float(spec.options.get("hourly_price", 0)) * spec.num_nodes or None
    md = diff.render([diff.make_diff(spec.stack, changes, hourly_cost_after=price)], "markdown")
    managed = [r for r in resources if not r["type"].startswith("pulumi:providers:")]
    assert all(c.action == "create" for c in changes) and len(changes) == len(managed)
    path = GOLDEN / f"{name}.md"
    if UPDATE or not path.exists():
        path.write_text(md)
        if not UPDATE:
            pytest.fail(f"golden file {path} was missing and has been written; re-run")
    assert md == path.read_text(), f"Markdown plan differs from {path} (SKYC_UPDATE_GOLDEN=1 rewrites it)"
