"""Optimizer cases against the small fixed catalog in tests/fixtures/catalog."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from skyc.compiler.catalog import load_catalog, store
from skyc.compiler.catalog.offers import Offer
from skyc.compiler.optimizer import Blocked, optimize
from skyc.compiler.resources import Accelerator, ResourceChoice, Resources
from skyc.errors import InfraNotEnabledError, ResourcesUnavailableError

FIXTURE = Path(__file__).parent / "fixtures" / "catalog"
CLOUDS = {"aws", "gcp", "azure"}


@pytest.fixture(scope="module")
def cat():
    return load_catalog(FIXTURE, use_cache=False)


def acc(name: str, count: float = 1) -> Accelerator:
    return Accelerator(name=name, count=count)


def single(**kw) -> ResourceChoice:
    return ResourceChoice(candidates=(Resources(**kw),))


def best(cat, choice, enabled=CLOUDS, num_nodes=1, blocked=()):
    return optimize(choice, num_nodes, cat, enabled, blocked).best


def test_cheapest_wins_with_gcp_host_plus_accelerator_price(cat):
    b = best(cat, single(accelerator=acc("A100", 8)))
    # a2-highgpu-8g host 3.0 + A100x8 accelerator row 20.0 in the same zone
    assert (b.cloud, b.region, b.zone, b.instance_type) == ("gcp", "us-central1", "us-central1-a", "a2-highgpu-8g")
    assert b.hourly_price == pytest.approx(23.0)
    assert b.accelerators == {"A100": 8}


def test_gcp_host_without_accelerator_row_in_its_zone_is_not_offered(cat):
    r = optimize(single(accelerator=acc("A100", 8)), 1, cat, CLOUDS)
    assert all(p.zone != "asia-east1-a" for p in r.ranked + r.rejected)


def test_spot_uses_spot_prices_per_zone(cat):
    b = best(cat, single(accelerator=acc("A100", 8), use_spot=True))
    assert (b.cloud, b.zone, b.use_spot) == ("gcp", "europe-west4-a", True)
    assert b.hourly_price == pytest.approx(0.9 + 5.0)
    aws = [p for p in optimize(single(cloud="aws", accelerator=acc("A100", 8), use_spot=True), 1, cat, CLOUDS).ranked]
    assert [(p.zone, p.hourly_price) for p in aws] == [("use1-az2", 11.0), ("use1-az1", 12.0)]


def test_on_demand_collapses_zones_to_the_region_outside_gcp(cat):
    r = optimize(single(cloud="aws", accelerator=acc("A100", 8)), 1, cat, CLOUDS)
    assert [(p.region, p.zone) for p in r.ranked] == [("us-east-1", None), ("us-west-2", None)]


def test_empty_prices_mean_not_offered(cat):
    # p5e.48xlarge has no on-demand price, only spot; us-west-2 p4d has no spot price.
    with pytest.raises(ResourcesUnavailableError, match="no on-demand price"):
        optimize(single(accelerator=acc("H200", 8)), 1, cat, CLOUDS)
    assert best(cat, single(accelerator=acc("H200", 8), use_spot=True)).hourly_price == 14.5
    with pytest.raises(ResourcesUnavailableError, match="no spot price"):
        optimize(single(cloud="aws", region="us-west-2", accelerator=acc("A100", 8), use_spot=True), 1, cat, CLOUDS)


def test_spot_above_on_demand_is_treated_as_no_spot(cat):
    with pytest.raises(ResourcesUnavailableError, match="no spot price"):
        optimize(single(cloud="gcp", accelerator=acc("H100", 8), use_spot=True), 1, cat, CLOUDS)
    assert best(cat, single(cloud="gcp", accelerator=acc("H100", 8))).hourly_price == pytest.approx(43.06615)
    g5 = cat.instance_offers("g5.48xlarge")
    assert g5 and all(o.spot_price is None for o in g5)


def test_ordered_is_strict_and_fails_over_to_the_next_entry(cat):
    choice = ResourceChoice(mode="ordered", candidates=(
        Resources(cloud="aws", accelerator=acc("A100", 8)),
        Resources(cloud="gcp", accelerator=acc("A100", 8)),
    ))
    r = optimize(choice, 1, cat, CLOUDS)
    assert r.best.cloud == "aws"  # gcp is cheaper but second in preference
    assert [p.cloud for p in r.ranked] == ["aws", "aws", "gcp", "gcp"]
    assert r.ranked[2].reason.startswith("lower preference")
    after = optimize(choice, 1, cat, CLOUDS, blocked=[Blocked(cloud="aws")])
    assert after.best.cloud == "gcp"


def test_any_of_takes_the_cheapest_candidate(cat):
    choice = ResourceChoice(mode="any_of", candidates=(Resources(accelerator=acc("A10G")), Resources(accelerator=acc("T4"))))
    b = best(cat, choice)
    # n1-highmem-8 host 0.47 + T4 0.35 beats g5.xlarge 1.006
    assert (b.cloud, b.instance_type, b.accelerators) == ("gcp", "n1-highmem-8", {"T4": 1})
    assert b.hourly_price == pytest.approx(0.82)
    assert b.candidate_index == 1


def test_num_nodes_scales_the_cost(cat):
    b = best(cat, single(accelerator=acc("A10G")), num_nodes=4)
    assert b.num_nodes == 4 and b.hourly_price == pytest.approx(1.006) and b.hourly_cost == pytest.approx(4.024)


def test_infra_filters_region_zone_and_wildcards(cat):
    assert best(cat, single(cloud="aws", region="us-west-2", accelerator=acc("A10G"))).hourly_price == 1.1
    assert best(cat, single(region="us-w*", accelerator=acc("A10G"))).region == "us-west-2"
    z = best(cat, single(cloud="aws", zone="use1-az2", accelerator=acc("A10G"), use_spot=True))
    assert (z.zone, z.hourly_price) == ("use1-az2", 0.45)
    with pytest.raises(ResourcesUnavailableError, match="outside the infra filter"):
        optimize(single(cloud="aws", region="eu-west-1", accelerator=acc("A10G")), 1, cat, CLOUDS)


def test_ties_break_on_cloud_region_zone_then_type(cat):
    choice = single(cpus=8, memory=32)
    r = optimize(choice, 1, cat, CLOUDS)
    top = [(p.cloud, p.region, p.instance_type, p.hourly_price) for p in r.ranked[:3]]
    assert top == [("aws", "us-east-1", "m6i.2xlarge", 0.384), ("aws", "us-west-2", "m6i.2xlarge", 0.384),
                   ("azure", "eastus", "Standard_D8s_v5", 0.384)]
    shuffled = list(cat.cpu_defaults)
    random.Random(1).shuffle(shuffled)
    cat2 = store.load(FIXTURE, use_cache=False)
    cat2.cpu_defaults = shuffled
    assert [p.sort_key() for p in optimize(choice, 1, cat2, CLOUDS).ranked] == [p.sort_key() for p in r.ranked]


def test_default_cpu_request_is_8_plus_from_default_families(cat):
    b = best(cat, single())
    assert (b.instance_type, b.vcpus) == ("m6i.2xlarge", 8.0)  # t3 is not a default family, m6i.large too small
    assert all(p.instance_type != "t3.2xlarge" for p in optimize(single(), 1, cat, CLOUDS).ranked)


def test_cpus_exact_vs_at_least(cat):
    exact = optimize(single(cloud="aws", cpus=16), 1, cat, CLOUDS).ranked
    assert {p.instance_type for p in exact} == {"m6i.4xlarge"}
    more = optimize(single(cloud="aws", cpus=8, cpus_at_least=True), 1, cat, CLOUDS).ranked
    assert {p.instance_type for p in more} == {"m6i.2xlarge", "m6i.4xlarge"}
    assert best(cat, single(cloud="aws", memory=64, memory_at_least=True)).instance_type == "m6i.4xlarge"


def test_failover_order_after_blocking(cat):
    choice = single(cpus=8, memory=32)
    order = []
    blocked: list = []
    for _ in range(4):
        p = optimize(choice, 1, cat, CLOUDS, blocked).best
        order.append((p.cloud, p.region, p.instance_type))
        blocked.append(p)  # the launcher blocks the failed placement itself
    assert order[:3] == [("aws", "us-east-1", "m6i.2xlarge"), ("aws", "us-west-2", "m6i.2xlarge"),
                         ("azure", "eastus", "Standard_D8s_v5")]
    r = optimize(choice, 1, cat, CLOUDS, [Blocked(cloud="aws")])
    assert "aws" not in {p.cloud for p in r.ranked}
    assert any(p.reason == "blocked (failed earlier)" for p in r.rejected)


def test_more_than_the_cheapest_type_per_cloud_is_kept(cat):
    r = optimize(single(cloud="aws", cpus=8, cpus_at_least=True), 1, cat, CLOUDS)
    assert [p.instance_type for p in r.ranked][:3] == ["m6i.2xlarge", "m6i.2xlarge", "m6i.4xlarge"]


def test_unknown_accelerator_suggests_names(cat):
    with pytest.raises(ResourcesUnavailableError, match=r"unknown accelerator 'A1OO'.*did you mean.*A100"):
        optimize(single(accelerator=acc("A1OO", 8)), 1, cat, CLOUDS)


def test_too_many_gpus_names_the_largest_offer(cat):
    with pytest.raises(ResourcesUnavailableError, match=r"no A100:16; largest is A100:8") as err:
        optimize(single(accelerator=acc("A100", 16)), 1, cat, CLOUDS)
    closest = str(err.value).split("closest: ", 1)[1].split("; ")
    # Usable infra first, cheapest first among it; lambda is cheaper but not enabled here.
    assert [c.split(" on ")[1].split("/")[0] for c in closest] == ["gcp", "aws", "lambda"]
    # With nothing enabled, every one is a cloud skyc can provision: the cheapest comes first.
    with pytest.raises(ResourcesUnavailableError, match=r"largest is A100:8 on lambda") as err:
        optimize(single(accelerator=acc("A100", 16)), 1, cat, set())
    closest = str(err.value).split("closest: ", 1)[1].split("\n")[0].split("; ")
    assert [c.split(" on ")[1].split("/")[0] for c in closest] == ["lambda", "gcp", "aws"]
    # Catalog-only clouds come after them: vast sells H100:8 but skyc cannot provision it.
    with pytest.raises(ResourcesUnavailableError, match=r"largest is H100:8 on gcp") as err:
        optimize(single(accelerator=acc("H100", 16)), 1, cat, set())
    closest = str(err.value).split("closest: ", 1)[1].split("\n")[0].split("; ")
    assert closest[-1].split(" on ")[1].split("/")[0] == "vast"


def test_catalog_quirks(cat):
    nd = cat.instance_offers("Standard_ND96isr_H100_v5")
    assert [(o.accelerator, o.accelerator_count) for o in nd] == [("H100", 8.0)]  # catalog says 12
    assert cat.instance_offers("Standard_NC8ads_A10_v4") == []  # GPU SKU without accelerator name
    assert len([o for o in cat.instance_offers("g5.xlarge") if o.zone == "use1-az1"]) == 1  # duplicate row
    (vast,) = cat.instance_offers("8x-H100_SXM-32-65536")
    assert vast.spot_price is None and vast.price == 17.07  # 0.00 spot placeholder
    (cudo,) = cat.instance_offers("epyc-a40_1x4v16gb")
    assert (cudo.accelerator_count, cudo.region) == (1.0, None)  # float count, empty region
    tpu = [o for o in cat.accelerator_offers("tpu-v6e-8")]
    assert [(o.instance_type, o.zone, o.price) for o in tpu] == [("TPU-VM", "us-east5-b", 21.6)]  # 700.0 dropped
    assert cat.instance_offers("n1-340-48-tpu") == []
    assert cat.accelerator_offers("B200") == []  # accelerator rows without a host type


def test_h100_count_fix_makes_azure_feasible_for_8_not_12(cat):
    assert best(cat, single(cloud="azure", accelerator=acc("H100", 8))).hourly_price == 98.32
    with pytest.raises(ResourcesUnavailableError):
        optimize(single(cloud="azure", accelerator=acc("H100", 12)), 1, cat, CLOUDS)


def test_not_enabled_is_rejected_and_pinning_it_is_an_error(cat):
    r = optimize(single(accelerator=acc("A100", 8)), 1, cat, CLOUDS)
    assert ("lambda", "lambda not enabled") in {(p.cloud, p.reason) for p in r.rejected}
    with pytest.raises(InfraNotEnabledError, match="lambda is not enabled"):
        optimize(single(cloud="lambda", accelerator=acc("A100", 8)), 1, cat, CLOUDS)
    with pytest.raises(InfraNotEnabledError):
        optimize(single(cloud="gcp", accelerator=acc("A100", 8)), 1, cat, {"aws"})


def test_max_hourly_cost(cat):
    assert best(cat, single(accelerator=acc("A100", 8), max_hourly_cost=25)).cloud == "gcp"
    with pytest.raises(ResourcesUnavailableError, match="over max_hourly_cost"):
        optimize(single(accelerator=acc("A100", 8), max_hourly_cost=5), 1, cat, CLOUDS)


def test_image_id_region_keys_restrict_regions(cat):
    b = best(cat, single(cloud="aws", cpus=8, memory=32, image_id={"us-west-2": "ami-123"}))
    assert b.region == "us-west-2"


def test_capacity_offers_local_ssh_kubernetes(cat):
    local = Offer("local", "local", None, 0.0, 4.0, 16.0, 0.0, None, None, None, capacity=True)
    pool = Offer("ssh", "ssh-lab", "*", 0.0, None, None, 0.0, None, "lab", None, capacity=True, max_nodes=2)
    k8s_gpu = Offer("kubernetes", "pod", "L4", 2.0, None, None, 0.0, None, "ctx", None, capacity=True)
    k8s = Offer("kubernetes", "pod", None, 0.0, None, None, 0.0, None, "ctx", None, capacity=True)
    c = cat.with_capacity([local, pool, k8s_gpu, k8s])
    on = CLOUDS | {"local", "ssh", "kubernetes"}
    # unspecified cpus fit capacity infra (no 8+ default); kubernetes (capacity unknown) sorts first at $0
    b = optimize(single(cloud="local"), 1, c, on).best
    assert (b.cloud, b.hourly_price) == ("local", 0.0)
    with pytest.raises(ResourcesUnavailableError, match="4 vCPUs, need 8"):
        optimize(single(cloud="local", cpus=8, cpus_at_least=True), 1, c, on)
    assert best(c, single(cloud="local", cpus=2), on).vcpus == 2  # a node takes what it asks for
    g = best(c, single(accelerator=acc("L4", 2)), on)
    assert (g.cloud, g.region, g.accelerators) == ("kubernetes", "ctx", {"L4": 2})
    with pytest.raises(ResourcesUnavailableError):
        optimize(single(cloud="kubernetes", accelerator=acc("L4", 4)), 1, c, on)
    s = best(c, single(cloud="ssh", accelerator=acc("RTX4090")), on, num_nodes=2)
    assert (s.region, s.accelerators) == ("lab", {"RTX4090": 1})
    with pytest.raises(ResourcesUnavailableError, match="pool has 2 host"):
        optimize(single(cloud="ssh"), 3, c, on)
    with pytest.raises(ResourcesUnavailableError, match="no spot"):
        optimize(single(cloud="local", use_spot=True), 1, c, on)


def test_blocked_accepts_placements_specs_and_mappings(cat):
    from skyc.stacks.base import StackSpec

    spec = StackSpec(stack="x", provider="aws", region="us-east-1", instance_type="m6i.2xlarge")
    for item in (spec, {"cloud": "aws", "region": "us-east-1"}):
        assert best(cat, single(cpus=8, memory=32), blocked=[item]).region == "us-west-2"


def test_unknown_instance_type_suggests_names(cat):
    with pytest.raises(ResourcesUnavailableError, match=r"unknown instance type 'm6i.2xlarg'.*did you mean m6i.2xlarge"):
        optimize(single(instance_type="m6i.2xlarg"), 1, cat, CLOUDS)
    b = best(cat, single(instance_type="m6i.4xlarge"))
    assert (b.instance_type, b.hourly_price) == ("m6i.4xlarge", 0.768)


def test_instance_type_with_attached_gpus_on_gcp_n1(cat):
    b = best(cat, single(instance_type="n1-standard-4", accelerator=acc("T4")))
    assert (b.instance_type, b.accelerators, b.hourly_price) == ("n1-standard-4", {"T4": 1}, pytest.approx(0.54))
