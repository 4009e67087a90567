"""`skyc gpus list` rows: accelerators by count, the cheapest on-demand and spot price per cloud
(or per region), in SkyPilot's JSON shape."""

from __future__ import annotations

from typing import Any, Callable

from skyc.compiler.catalog.offers import Offer, count_str


def _device_memory(name: str) -> float | None:
    try:
        from skyc.compiler.accelerators import catalog_accelerators

        info = catalog_accelerators().get(name.lower())
    except Exception:  # noqa: BLE001 - memory is a nicety of the listing
        return None
    return info.memory_gib if info else None


def _matches_infra(o: Offer, cloud: str | None, region: str | None) -> bool:
    return (cloud is None or o.cloud == cloud) and (region is None or o.region == region)


def list_gpus(catalog: Any, name: str | None = None, count: float | None = None, *, cloud: str | None = None,
              region: str | None = None, all_regions: bool = False) -> dict[str, list[dict[str, Any]]]:
    """{ACC: [{cloud, instance_type, accelerator_name, accelerator_count, cpu_count, device_memory,
    memory, price, spot_price, region}]} -- one row per (count, cloud, instance type), or per region
    with `all_regions`; price/spot are the cheapest over the regions folded together."""
    want = name.lower() if name else None
    groups: dict[tuple, list[Offer]] = {}
    for o in catalog.all_accelerator_offers():
        if want is not None and o.accelerator.lower() != want:
            continue
        if count is not None and abs(o.accelerator_count - count) > 1e-9:
            continue
        if not _matches_infra(o, cloud, region):
            continue
        key = (o.accelerator, o.accelerator_count, o.cloud, o.instance_type, o.region if all_regions else None)
        groups.setdefault(key, []).append(o)
    out: dict[str, list[dict[str, Any]]] = {}
    memory_of: dict[str, float | None] = {}
    for (acc, n, c, itype, reg), rows in groups.items():
        priced = [r for r in rows if r.price is not None]
        spots = [r.spot_price for r in rows if r.spot_price is not None]
        best = min(priced, key=lambda r: (r.price, r.region or "", r.zone or "")) if priced else rows[0]
        if acc not in memory_of:
            memory_of[acc] = _device_memory(acc)
        out.setdefault(acc, []).append({
            "cloud": c, "instance_type": itype, "accelerator_name": acc,
            "accelerator_count": int(n) if float(n).is_integer() else n,
            "cpu_count": best.vcpus, "device_memory": memory_of[acc], "memory": best.memory,
            "price": best.price if priced else None, "spot_price": min(spots) if spots else None,
            "region": reg if all_regions else best.region,
        })
    for acc in out:
        out[acc].sort(key=lambda r: (r["accelerator_count"], r["price"] if r["price"] is not None else 1e12,
                                     r["cloud"], r["instance_type"], r["region"] or ""))
    return dict(sorted(out.items(), key=lambda kv: kv[0].lower()))


def summary(listing: dict[str, list[dict[str, Any]]], label: Callable[[str], str] = str) -> list[dict[str, Any]]:
    """Per accelerator: counts offered, clouds (as `label` shows them), cheapest on-demand per device."""
    rows = []
    for acc, items in listing.items():
        per_device = [r["price"] / r["accelerator_count"] for r in items if r["price"] and r["accelerator_count"]]
        rows.append({
            "accelerator": acc,
            "counts": ", ".join(count_str(c) for c in sorted({float(r["accelerator_count"]) for r in items})),
            "clouds": ", ".join(label(c) for c in sorted({r["cloud"] for r in items})),
            "cheapest_per_device": min(per_device) if per_device else None,
        })
    return rows
