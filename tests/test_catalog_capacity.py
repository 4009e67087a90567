"""Offers of local, SSH-pool and Kubernetes infra (price 0, capacity rather than SKUs)."""

from __future__ import annotations

import os

import pytest

from skyc import paths
from skyc.compiler import enabled as infra
from skyc.compiler.catalog import capacity


def test_local_offer_is_this_machine():
    (offer,) = [o for o in capacity.local_offers() if o.accelerator is None]
    assert offer.cloud == "local" and offer.price == 0.0 and offer.capacity
    assert offer.vcpus == os.cpu_count()
    assert offer.memory and offer.memory > 0.1


@pytest.mark.parametrize("line, name", [
    ("NVIDIA A100-SXM4-80GB", "A100-80GB"), ("NVIDIA A100-SXM4-40GB", "A100"), ("Tesla T4", "T4"),
    ("NVIDIA H100 80GB HBM3", "H100"), ("NVIDIA L4", "L4"), ("", None),
])
def test_nvidia_smi_names(line, name):
    assert capacity._gpu_name(line) == name


def test_ssh_pools_become_offers_with_a_host_limit():
    paths.home().mkdir(parents=True, exist_ok=True)
    (paths.home() / "ssh_node_pools.yaml").write_text(
        "lab:\n  user: me\n  hosts: [10.0.0.1, 10.0.0.2]\nsolo:\n  hosts: [10.0.0.9]\n")
    offers = capacity.ssh_offers()
    assert [(o.region, o.max_nodes, o.price) for o in offers] == [("lab", 2, 0.0), ("solo", 1, 0.0)]


def test_kubernetes_gpus_only_where_config_declares_them():
    assert [o.accelerator for o in capacity.kubernetes_offers(["ctx"])] == [None]
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text("kubernetes:\n  gpus:\n    L4: 4\n    H100: 8\n")
    offers = capacity.kubernetes_offers(["a", "b"])
    assert {(o.region, o.accelerator, o.accelerator_count) for o in offers} == {
        ("a", None, 0.0), ("a", "H100", 8.0), ("a", "L4", 4.0), ("b", None, 0.0), ("b", "H100", 8.0), ("b", "L4", 4.0)}


def test_offline_review_of_unconfigured_capacity_infra(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    statuses = infra.check(offline=True)
    assert all(s.enabled for s in statuses)
    offers = infra.capacity_offers(statuses)
    unknown = {o.cloud for o in offers if o.region == "*"}
    assert unknown == {"kubernetes", "ssh"}
    online = infra.capacity_offers(infra.check(offline=False))
    assert {o.cloud for o in online} == {"local"}
