"""What each price catalog names: instance types, regions, zones (and the region of each zone).

The task validator checks `infra`, `instance_type` and the deprecated region/zone fields against
these, and infers the cloud when exactly one catalog knows a name. Read from the same CSVs as
the offers (`store.sources`: bundled, overridden by `skyc catalog update`), three columns only,
and kept per process and as a small pickle next to the catalog cache.
"""

from __future__ import annotations

import csv
import functools
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

from skyc.compiler.catalog.gcp import TPU_INSTANCE_TYPE

NAMES_FORMAT = 1


@dataclass(frozen=True)
class CloudNames:
    """One catalog's names. `zonal` is False when the catalog has no AvailabilityZone column:
    that cloud takes no zones (Azure, Lambda, ...)."""

    instance_types: frozenset[str]
    regions: dict[str, str]  # lower-case -> as the catalog spells it
    zones: dict[str, str]  # zone -> its region
    zonal: bool
    shapes: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)  # type -> (vCPUs, GiB)


def _num(text: str) -> float | None:
    try:
        return float(text.strip().strip("'\""))
    except ValueError:
        return None


def read_cloud(cloud: str, path: Path) -> CloudNames:
    types: set[str] = set()
    regions: dict[str, str] = {}
    zones: dict[str, str] = {}
    shapes: dict[str, tuple[float | None, float | None]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        col = {name: i for i, name in enumerate(header)}
        i_type, i_region, i_zone = col.get("InstanceType"), col.get("Region"), col.get("AvailabilityZone")
        i_acc, i_cpu, i_mem = col.get("AcceleratorName"), col.get("vCPUs"), col.get("MemoryGiB")
        for row in reader:
            get = lambda i: row[i].strip() if i is not None and i < len(row) else ""  # noqa: E731
            itype, region, zone = get(i_type), get(i_region), get(i_zone)
            if not itype and cloud == "gcp" and get(i_acc).lower().startswith("tpu"):
                itype = TPU_INSTANCE_TYPE  # TPU rows price a TPU VM, which has no host type of its own
            if itype:
                types.add(itype)
                if itype not in shapes:
                    shapes[itype] = (_num(get(i_cpu)), _num(get(i_mem)))
            if region:
                regions.setdefault(region.lower(), region)
                if zone:
                    zones.setdefault(zone, region)
    return CloudNames(frozenset(types), regions, zones, i_zone is not None, shapes)


@functools.lru_cache(maxsize=4)
def _build(key: str, srcs: tuple[tuple[str, str], ...]) -> dict[str, CloudNames]:
    from skyc import paths

    cache = paths.catalog_cache_dir() / f"names-{key}.pickle"
    try:
        with cache.open("rb") as fh:
            data = pickle.load(fh)
        if isinstance(data, dict) and data.get("format") == NAMES_FORMAT:
            return data["clouds"]
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError, KeyError, TypeError):
        pass  # missing or stale: read the CSVs
    clouds = {cloud: read_cloud(cloud, Path(p)) for cloud, p in srcs}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        for old in cache.parent.glob("names-*.pickle"):
            old.unlink(missing_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        with tmp.open("wb") as fh:
            pickle.dump({"format": NAMES_FORMAT, "clouds": clouds}, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home still validates, only slower
    return clouds


def catalog_names() -> dict[str, CloudNames]:
    """cloud -> its catalog's names, for every catalog in effect."""
    from skyc.compiler.catalog import store

    srcs = store.sources()
    key = store.cache_key(srcs, None)
    return _build(key, tuple((c, str(p)) for c, p in srcs.items()))
