"""The optimizer over the whole bundled catalog with every provisionable cloud enabled: the chosen
placement is the cheapest offer skyc can provision (checked against a brute-force scan of the
catalog's rows), with spot, any_of and ordered across old and new clouds; clouds without a
provider are never chosen and the plan lists the cheaper offers it skipped for that."""

from __future__ import annotations

import pytest

from skyc.compiler import enabled as infra
from skyc.compiler.catalog import load_catalog
from skyc.compiler.optimizer import NOT_PROVISIONABLE, optimize
from skyc.compiler.plan import build_plan
from skyc.compiler.resources import Accelerator, ResourceChoice, Resources
from skyc.compiler.spec import load_tasks
from skyc.errors import InfraNotEnabledError
from skyc.stacks import registry
from skyc.stacks.base import SupportsMultiNode, SupportsSpot, supports

PROVISIONABLE = set(registry.names())


@pytest.fixture(scope="module")
def cat():
    return load_catalog(use_cache=False)


def _r(name: str, count: int, **kw) -> Resources:
    return Resources(accelerator=Accelerator(name=name, count=count), **kw)


def cheapest_by_scan(cat, name: str, count: int, spot: bool = False, nodes: int = 1) -> float:
    """The lowest per-node price of `name:count` on a provisionable cloud that can serve the request."""
    prices = []
    for o in cat.offers:
        if o.accelerator != name or o.accelerator_count != count or o.cloud not in PROVISIONABLE:
            continue
        provider = registry.get(o.cloud)
        if spot and not supports(provider, SupportsSpot) or nodes > 1 and not supports(provider, SupportsMultiNode):
            continue
        price = o.spot_price if spot else o.price
        if price is not None:
            prices.append(price)
    return min(prices)


CASES = {
    "A100:8": (ResourceChoice(candidates=(_r("A100", 8),)), [("A100", 8, False)], 1),
    "H100:8 spot": (ResourceChoice(candidates=(_r("H100", 8, use_spot=True),)), [("H100", 8, True)], 1),
    "any_of H100:8/A100-80GB:8": (ResourceChoice(mode="any_of", candidates=(_r("H100", 8), _r("A100-80GB", 8))),
                                  [("H100", 8, False), ("A100-80GB", 8, False)], 1),
    "H100:8 on 2 nodes": (ResourceChoice(candidates=(_r("H100", 8),)), [("H100", 8, False)], 2),
    "L40S:1 spot": (ResourceChoice(candidates=(_r("L40S", 1, use_spot=True),)), [("L40S", 1, True)], 1),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_chosen_is_the_cheapest_provisionable_offer(cat, case):
    choice, wants, nodes = CASES[case]
    result = optimize(choice, nodes, cat, PROVISIONABLE)
    expected = min(cheapest_by_scan(cat, n, c, s, nodes) for n, c, s in wants)
    assert result.best.hourly_price == pytest.approx(expected)
    assert result.best.cloud in PROVISIONABLE
    assert all(p.cloud in PROVISIONABLE for p in result.ranked)


def test_new_clouds_win_where_they_are_cheapest(cat):
    a100 = optimize(ResourceChoice(candidates=(_r("A100", 8),)), 1, cat, PROVISIONABLE).best
    assert (a100.cloud, a100.instance_type) == ("lambda", "gpu_8x_a100")
    # Lambda has no spot: a spot request never lands there, whatever its on-demand price.
    spot = optimize(ResourceChoice(candidates=(_r("A100", 8, use_spot=True),)), 1, cat, PROVISIONABLE)
    assert all(p.cloud != "lambda" for p in spot.ranked)
    # RunPod is single-node: two nodes go elsewhere.
    two = optimize(ResourceChoice(candidates=(_r("H100", 8),)), 2, cat, PROVISIONABLE)
    assert all(p.cloud != "runpod" for p in two.ranked)
    assert any(p.cloud == "runpod" and "single-node" in p.reason for p in two.rejected)


def test_ordered_keeps_preference_across_clouds(cat):
    choice = ResourceChoice(mode="ordered", candidates=(_r("H100", 8), _r("A100", 8)))
    result = optimize(choice, 1, cat, PROVISIONABLE)
    assert result.best.accelerators == {"H100": 8}
    assert result.best.hourly_price == pytest.approx(cheapest_by_scan(cat, "H100", 8))
    later = [p for p in result.ranked if p.accelerators == {"A100": 8}]
    assert later and all("lower preference" in p.reason for p in later)


def test_catalog_only_clouds_are_never_chosen_and_are_named_as_skipped(cat):
    result = optimize(ResourceChoice(candidates=(_r("A100", 8),)), 1, cat, PROVISIONABLE)
    skipped = [p for p in result.rejected if p.reason.endswith(NOT_PROVISIONABLE)]
    assert {p.cloud for p in skipped} >= {"vast", "mithril", "shadeform"}
    assert not {p.cloud for p in skipped} & PROVISIONABLE
    assert any(p.hourly_cost < result.best.hourly_cost for p in skipped)


def test_offline_plan_enables_every_provisionable_cloud_and_lists_skipped_offers(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    statuses = infra.check(offline=True)
    assert {s.name for s in statuses if s.enabled} == PROVISIONABLE
    f = tmp_path / "t.yaml"
    f.write_text("resources:\n  accelerators: A100:8\n")
    (t,) = build_plan(load_tasks(f), cluster="c", offline=True, render=False).tasks
    assert (t.chosen.cloud, t.chosen.hourly_cost) == ("lambda", 10.32)
    assert t.skipped and all(a.hourly_cost < 10.32 and a.cloud not in PROVISIONABLE for a in t.skipped)
    assert len({a.cloud for a in t.skipped}) == len(t.skipped)  # the cheapest one per cloud
    assert all(not a.reason.endswith(NOT_PROVISIONABLE) for a in t.alternatives)


def test_pinning_a_catalog_only_cloud_says_skyc_cannot_provision_it(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("resources:\n  infra: vast\n  accelerators: H100:8\n")
    with pytest.raises(InfraNotEnabledError, match="skyc has no vast provider"):
        build_plan(load_tasks(f), cluster="c", offline=True, render=False)
