"""CoreWeave and Together AI as Kubernetes contexts: their GPU node labels, RDMA with
`network_tier: best`, and `kubernetes.pricing` making a context comparable with the clouds."""

from __future__ import annotations

import pytest
import yaml

from skyc import paths
from skyc.compiler import enabled as infra
from skyc.compiler.catalog import capacity, load_catalog
from skyc.compiler.optimizer import optimize
from skyc.compiler.resources import Accelerator, ResourceChoice, Resources
from skyc.errors import SpecError
from skyc.stacks import render
from skyc.stacks.base import StackSpec


def _config(data: dict) -> None:
    paths.config_file().write_text(yaml.safe_dump(data))


def _pod(spec: StackSpec) -> dict:
    return next(r for r in render.render_resources(spec) if r["name"] == "head")["inputs"]["spec"]


GPU = dict(stack="k", provider="kubernetes", accelerator_name="H100", accelerator_count=8, num_nodes=2)


def test_coreweave_pods_select_gpu_class_and_request_infiniband():
    pod = _pod(StackSpec(region="coreweave-prod", network_tier="best", **GPU))
    term = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"] == [{"key": "gpu.nvidia.com/class", "operator": "In", "values": ["H100", "H100_NVLINK_80GB"]}]
    c = pod["containers"][0]
    assert c["resources"]["limits"]["rdma/ib"] == "1" and c["resources"]["limits"]["nvidia.com/gpu"] == "8"
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["NCCL_IB_HCA"] == "ibp" and env["UCX_NET_DEVICES"].startswith("ibp0:1,")
    assert c["securityContext"] == {"capabilities": {"add": ["IPC_LOCK"]}}


def test_together_by_config_and_standard_network_gets_no_rdma():
    _config({"kubernetes": {"context_configs": {"tg-1": {"provider": "together"}}}})
    best = _pod(StackSpec(region="tg-1", network_tier="best", **GPU))
    c = best["containers"][0]
    assert c["resources"]["limits"]["nvidia.com/rdma_ib"] == "1"
    assert {e["name"]: e["value"] for e in c["env"]}["NCCL_IB_HCA"] == "mlx5"
    term = best["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"][0]["key"] == "nvidia.com/gpu.product"
    plain = _pod(StackSpec(region="tg-1", **GPU))["containers"][0]
    assert "nvidia.com/rdma_ib" not in plain["resources"]["limits"] and "securityContext" not in plain


def test_generic_cluster_keeps_plain_pods_and_says_why_best_network_is_not_applied():
    spec = StackSpec(region="kind-dev", network_tier="best", **GPU)
    pod = _pod(spec)
    assert "affinity" not in pod and "rdma/ib" not in pod["containers"][0]["resources"]["limits"]
    assert any("context_configs.kind-dev.provider" in w for w in render.render(spec)["warnings"])


def test_unknown_provider_name_in_config_is_an_error():
    _config({"kubernetes": {"context_configs": {"x": {"provider": "corewave"}}}})
    with pytest.raises(SpecError, match="unknown Kubernetes provider 'corewave'"):
        render.render(StackSpec(region="x", **GPU))


def test_pricing_per_context_makes_kubernetes_compete_with_clouds():
    _config({"kubernetes": {
        "pricing": {"accelerators": {"H100": 2.0}, "cpu": 0.01, "memory": 0.001},
        "context_configs": {"cw": {"gpus": {"H100": 8}, "pricing": {"accelerators": {"H100": 6.0}}},
                            "tg": {"gpus": {"H100": 8}}}}})
    offers = {o.region: o for o in capacity.kubernetes_offers(["cw", "tg"]) if o.accelerator}
    assert offers["cw"].price_for(None, None, "H100", 8) == 48.0
    assert offers["tg"].price_for(4, 10, "H100", 8) == pytest.approx(16.0 + 0.04 + 0.01)  # the global pricing
    cat = load_catalog().with_capacity(capacity.kubernetes_offers(["cw", "tg"]))
    want = ResourceChoice(candidates=(Resources(accelerator=Accelerator(name="H100", count=8)),))
    on = {"aws", "gcp", "azure", "lambda", "nebius", "runpod", "kubernetes"}
    ranked = optimize(want, 1, cat, on).ranked
    assert (ranked[0].cloud, ranked[0].region, ranked[0].hourly_price) == ("kubernetes", "tg", 16.0)
    cw = next(p for p in ranked if p.region == "cw")
    assert cw.hourly_price == 48.0 and any(p.cloud != "kubernetes" and p.hourly_price < 48.0 for p in ranked)
    # two nodes cost twice as much, and max_hourly_cost sees the configured price
    assert optimize(want, 2, cat, on).best.hourly_cost == 32.0
    capped = ResourceChoice(candidates=(Resources(accelerator=Accelerator(name="H100", count=8), max_hourly_cost=10),))
    with pytest.raises(Exception, match="max_hourly_cost"):
        optimize(capped, 1, cat.with_capacity(capacity.kubernetes_offers(["cw"])), {"kubernetes"})


def test_without_pricing_a_context_is_free_as_before():
    _config({"kubernetes": {"gpus": {"H100": 8}}})
    (cpu, gpu) = capacity.kubernetes_offers(["ctx"])
    assert cpu.rates is None and gpu.price == 0.0


def test_bad_pricing_is_a_config_error():
    _config({"kubernetes": {"pricing": {"accelerators": {"H100": "cheap"}}}})
    with pytest.raises(SpecError, match="kubernetes.pricing"):
        capacity.kubernetes_offers(["ctx"])


def test_offline_unknown_context_is_priced_for_the_requested_gpu(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    _config({"kubernetes": {"pricing": {"accelerators": {"H100": 3.0}}}})
    statuses = [s for s in infra.check(offline=True) if s.name == "kubernetes"]
    cat = load_catalog().with_capacity(infra.capacity_offers(statuses))
    want = ResourceChoice(candidates=(Resources(cloud="kubernetes", accelerator=Accelerator(name="H100", count=8)),))
    assert optimize(want, 1, cat, {"kubernetes"}).best.hourly_price == 24.0
