"""GCP's split pricing: a VM row prices the host only; GPUs and TPUs are separate accelerator rows
(empty InstanceType) per zone. An offer's price is host + accelerator row of the same zone."""

from __future__ import annotations

import re

from skyc.compiler.catalog.loader import PLACEHOLDER_TPU_PRICE, _num, _price
from skyc.compiler.catalog.offers import Offer

# GPUs that n1 hosts attach in flexible counts.
N1_ATTACHABLE = ("T4", "P4", "P100", "V100")
# Hosts that exist only to drive TPU nodes; never offered as a general-purpose machine.
TPU_HOSTS = ("n1-340-48-tpu", "n1-356-96-tpu")
_G2_L4 = {4: 1, 8: 1, 12: 1, 16: 1, 32: 1, 24: 2, 48: 4, 96: 8}
_FIXED = [
    (re.compile(r"^a2-highgpu-(\d+)g$"), "A100"),
    (re.compile(r"^a2-megagpu-(\d+)g$"), "A100"),
    (re.compile(r"^a2-ultragpu-(\d+)g$"), "A100-80GB"),
    (re.compile(r"^a3-highgpu-(\d+)g$"), "H100"),
    (re.compile(r"^a3-edgegpu-(\d+)g(?:-nolssd)?$"), "H100"),
    (re.compile(r"^a3-megagpu-(\d+)g$"), "H100-MEGA"),
    (re.compile(r"^a3-ultragpu-(\d+)g(?:-nolssd)?$"), "H200"),
]
TPU_INSTANCE_TYPE = "TPU-VM"


def fixed_accelerator(instance_type: str) -> tuple[str, int] | None:
    """The GPUs an a2/a3/g2 type always comes with (its name implies them)."""
    for pattern, name in _FIXED:
        m = pattern.match(instance_type)
        if m:
            return name, int(m.group(1))
    m = re.match(r"^g2-standard-(\d+)$", instance_type)
    if m and int(m.group(1)) in _G2_L4:
        return "L4", _G2_L4[int(m.group(1))]
    return None


def accelerator_prices(rows: list[dict[str, str]]) -> dict[tuple[str, int], dict[str, tuple[str, float | None, float | None]]]:
    """(name, count) -> zone -> (region, price, spot) from the accelerator rows."""
    out: dict[tuple[str, int], dict[str, tuple[str, float | None, float | None]]] = {}
    for row in rows:
        name = row["AcceleratorName"].strip()
        count = int(_num(row.get("AcceleratorCount")) or 1)
        zone = (row.get("AvailabilityZone") or "").strip()
        price, spot = _price(row.get("Price")), _price(row.get("SpotPrice"))
        if name.lower().startswith("tpu") and (price == PLACEHOLDER_TPU_PRICE or spot == PLACEHOLDER_TPU_PRICE):
            continue  # placeholder price: the zone does not really sell it
        if spot is not None and price is not None and spot > price:
            spot = None  # spot above on-demand is bad data (asia-northeast1-b, northamerica-northeast2-c H100)
        out.setdefault((name, count), {}).setdefault(zone, ((row.get("Region") or "").strip(), price, spot))
    return out


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a + b, 5)


def join(hosts: list[Offer], accel_rows: list[dict[str, str]]) -> tuple[list[Offer], list[Offer], dict]:
    """(offers, n1 hosts, attachable accelerator prices).

    offers: CPU hosts (as-is), a2/a3/g2 hosts with their fixed GPUs priced in, TPU VMs.
    n1 hosts + attachable prices are joined per request (flexible counts) by the optimizer's
    source in `index.py`. B200 rows have no host type in the catalog, so they yield no offer.
    """
    acc = accelerator_prices(accel_rows)
    offers: list[Offer] = []
    n1: list[Offer] = []
    for h in hosts:
        if h.instance_type in TPU_HOSTS:
            continue
        fixed = fixed_accelerator(h.instance_type)
        if fixed is None:
            offers.append(h)
            if h.instance_type.startswith("n1-"):
                n1.append(h)
            continue
        zone_prices = acc.get(fixed, {})
        if h.zone not in zone_prices:
            continue  # a GPU host type in a zone that does not sell its GPUs
        _, a_price, a_spot = zone_prices[h.zone]
        offers.append(h._replace(accelerator=fixed[0], accelerator_count=float(fixed[1]),
                                 price=_add(h.price, a_price), spot_price=_add(h.spot_price, a_spot),
                                 host_price=h.price))
    for (name, count), zones in acc.items():
        if not name.lower().startswith("tpu"):
            continue
        for zone, (region, price, spot) in zones.items():
            # TPU VMs have no host row: the accelerator row is the whole price.
            offers.append(Offer("gcp", TPU_INSTANCE_TYPE, name.lower(), float(count), None, None, price, spot,
                                region or None, zone or None))
    attach = {k: v for k, v in acc.items() if k[0] in N1_ATTACHABLE}
    return offers, n1, attach
