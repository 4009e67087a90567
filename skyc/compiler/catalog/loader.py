"""Read `<cloud>/vms.csv` files (columns by header name) into normalised offers.

Every catalog quirk is decided here, each with its reason; the optimizer never sees raw rows.
GCP's split host/accelerator pricing is joined in `gcp.py`. Quirks taken as they are, on purpose:
- AWS zones are AZ ids (use1-az1): AZ names map to ids differently per account, so zone filters
  match the ids the catalog has (`infra: aws/us-east-1/use1-az1`).
- Spot equal to on-demand (mithril, Azure ND96isr_H100_v5): a real, if useless, spot offer.
- vast vCPUs/memory are the marketplace filter's minimums (32, 64 GiB): what the offer guarantees.
- mithril regions look like GCP zones and shadeform names carry provider typos: they are the
  names those providers accept, so they stay verbatim.
- GpuInfo is not read (Azure puts a bare name there, seeweb a 0 memory, lambda per-GPU totals):
  name and count come from AcceleratorName/AcceleratorCount only.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from skyc.compiler.catalog.offers import Offer
from skyc.errors import CatalogError

REQUIRED_COLUMNS = ("InstanceType", "AcceleratorName", "AcceleratorCount", "vCPUs", "MemoryGiB", "Price", "Region")
# SpotPrice is optional (simplepod has none); AvailabilityZone only on aws/gcp/runpod.

# TPU v6e rows in some GCP zones carry 700.0 for both prices: a placeholder, not a price.
PLACEHOLDER_TPU_PRICE = 700.0

# Azure SKUs whose AcceleratorName is wrong or empty in the catalog.
AZURE_ACCELERATOR_FIXES = {
    # The SKU has 8xH100; the catalog's count of 12 would let a request for H100:12 land on it.
    "Standard_ND96isr_H100_v5": ("H100", 8),
}


def check_header(path: Path, header: list[str]) -> None:
    """Raise CatalogError naming the missing columns (validation before anything is replaced)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CatalogError(f"{path}: not a catalog vms.csv (missing columns: {', '.join(missing)})")


def _num(text: str | None) -> float | None:
    """Empty -> None; `8`, `8.0`, `1.0` all -> float (cudo writes counts as floats)."""
    if text is None:
        return None
    text = text.strip().strip("'\"")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _price(text: str | None) -> float | None:
    """Empty = not offered; <= 0 too (vast's `0.00` spot is a placeholder for "no spot")."""
    value = _num(text)
    return value if value is not None and value > 0 else None


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    try:
        f = path.open(newline="", encoding="utf-8")
    except OSError as e:
        raise CatalogError(f"cannot read catalog file {path}: {e.strerror}") from None
    with f:
        reader = csv.DictReader(f)
        check_header(path, reader.fieldnames or [])
        yield from reader


def _azure_skip(itype: str, acc: str | None) -> bool:
    """GPU/FPGA SKUs (Standard_N*) without an accelerator name would pose as CPU machines: drop them."""
    return acc is None and itype.startswith("Standard_N")


def load_cloud(cloud: str, path: Path) -> tuple[list[Offer], list[dict[str, str]]]:
    """(offers, gcp accelerator rows). Duplicate (type, region, zone) rows keep the first one
    (AWS p4de and RunPod 2x_B200 repeat rows; the prices agree)."""
    offers: list[Offer] = []
    accel_rows: list[dict[str, str]] = []
    seen: set[tuple] = set()
    for row in read_rows(path):
        itype = (row.get("InstanceType") or "").strip()
        acc = (row.get("AcceleratorName") or "").strip() or None
        if not itype:
            if cloud == "gcp" and acc:
                accel_rows.append(row)  # priced separately, joined to hosts in gcp.py
            continue
        # seeweb rows without a region stay offers; they match only tasks that name no region.
        region = (row.get("Region") or "").strip() or None
        zone = (row.get("AvailabilityZone") or "").strip() or None  # AWS: AZ ids (use1-az1)
        key = (itype, region, zone)
        if key in seen:
            continue
        seen.add(key)
        count = _num(row.get("AcceleratorCount")) or 0.0
        if cloud == "azure":
            if itype in AZURE_ACCELERATOR_FIXES:
                acc, count = AZURE_ACCELERATOR_FIXES[itype]
            elif _azure_skip(itype, acc):
                continue
        if acc is None:
            count = 0.0
        elif count <= 0:
            count = 1.0
        price = _price(row.get("Price"))
        spot = _price(row.get("SpotPrice"))
        if spot is not None and price is not None and spot > price:
            # Spot above on-demand (runpod L40S, two GCP H100 zones, g5.48xlarge) is bad data:
            # no one should be sent to interruptible capacity that costs more. Treat as no spot.
            spot = None
        offers.append(Offer(cloud, itype, acc, float(count), _num(row.get("vCPUs")), _num(row.get("MemoryGiB")),
                            price, spot, region, zone))
    return offers, accel_rows
