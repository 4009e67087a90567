"""A plan without -c names its cluster anew each time; the rendering of the same spec is kept under
a stand-in name of the same shape and renamed, equal to rendering the new name from scratch."""

from __future__ import annotations

import pytest

from skyc.stacks import registry, render
from skyc.stacks.base import StackSpec

SPECS = [
    StackSpec(stack="skyc-1a2b", provider="gcp", region="us-central1", zone="us-central1-a",
              instance_type="n1-standard-8", accelerator_name="T4", accelerator_count=1, ports=["8888"], num_nodes=2),
    StackSpec(stack="skyc-1a2b", provider="aws", region="us-east-1", instance_type="g6.xlarge", accelerator_name="L4",
              accelerator_count=1, labels={"team": "ml"}),
]


@pytest.mark.parametrize("spec", SPECS, ids=[s.provider for s in SPECS])
def test_new_generated_name_is_served_renamed_and_true(spec, monkeypatch):
    pytest.importorskip(registry.get(spec.provider).python_package, reason="needs the provider SDK")
    first = render.render(spec)
    assert any(spec.stack in str(r["inputs"]) for r in first["resources"])  # the name does reach the stack
    provider = registry.get(spec.provider)
    calls = []
    real_program = type(provider).program
    monkeypatch.setattr(type(provider), "program", lambda self, s: calls.append(s.stack) or real_program(self, s))
    again = spec.model_copy(update={"stack": "skyc-ff09"})
    served = render.render(again)
    assert calls == []  # not run again: the stand-in rendering, renamed
    assert served == render.render(again, kept=False)  # and exactly what running the program gives
    assert "skyc-1a2b" not in str(served) and render.STAND_IN not in str(served)


def test_names_of_other_shapes_are_not_renamed(monkeypatch):
    pytest.importorskip("pulumi_gcp", reason="needs the provider SDK")
    spec = SPECS[0].model_copy(update={"stack": "train"})
    render.render(spec)
    provider = registry.get("gcp")
    calls = []
    real_program = type(provider).program
    monkeypatch.setattr(type(provider), "program", lambda self, s: calls.append(s.stack) or real_program(self, s))
    render.render(spec.model_copy(update={"stack": "Train-2"}))
    assert calls == ["Train-2"]  # a name a user chose is rendered as it is
