"""Where the catalog comes from and its pre-processed cache.

Sources: the bundled `data/<cloud>/vms.csv`, each overridden by `$SKYC_HOME/catalog/<cloud>/vms.csv`
when present (`skyc catalog update`). The parsed result is cached under `$SKYC_HOME/cache/` as
plain tuples, keyed by every source file's path, size and mtime, so an edited CSV rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

from skyc import paths
from skyc.compiler.catalog import gcp, loader
from skyc.compiler.catalog.index import Catalog
from skyc.compiler.catalog.offers import Offer
from skyc.errors import CatalogError

BUNDLED_DIR = Path(__file__).parent / "data"
CACHE_FORMAT = 2  # the Offer tuple's layout


def sources(data_dir: Path | None = None) -> dict[str, Path]:
    """cloud -> vms.csv in effect (user override wins over bundled), sorted by cloud."""
    found: dict[str, Path] = {}
    dirs = [Path(data_dir)] if data_dir is not None else [BUNDLED_DIR, paths.catalog_dir()]
    for d in dirs:
        if d.is_dir():
            for f in sorted(d.glob("*/vms.csv")):
                found[f.parent.name] = f
    if not found:
        raise CatalogError(f"no catalog found (expected <cloud>/vms.csv under {', '.join(map(str, dirs))})")
    return dict(sorted(found.items()))


def _accelerators_csv(data_dir: Path | None) -> Path | None:
    for d in ([Path(data_dir)] if data_dir is not None else [paths.catalog_dir(), BUNDLED_DIR]):
        f = d / "common" / "accelerators.csv"
        if f.exists():
            return f
    return None


def cache_key(srcs: dict[str, Path], acc: Path | None) -> str:
    parts = [CACHE_FORMAT]
    for cloud, f in [*srcs.items(), ("common", acc)]:
        if f is not None:
            st = f.stat()
            parts.append([cloud, str(f.resolve()), st.st_size, st.st_mtime_ns])
    return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:16]


def _parse(srcs: dict[str, Path], acc: Path | None) -> dict:
    offers: list[Offer] = []
    n1: list[Offer] = []
    attach: dict = {}
    for cloud, f in srcs.items():
        rows, accel_rows = loader.load_cloud(cloud, f)
        if cloud == "gcp":
            rows, n1, attach = gcp.join(rows, accel_rows)
        offers += rows
    names: list[str] = []
    if acc is not None:
        import csv

        with acc.open(newline="") as fh:
            names = [r["AcceleratorName"].strip() for r in csv.DictReader(fh) if (r.get("AcceleratorName") or "").strip()]
    return {
        "offers": [tuple(o) for o in offers],
        "n1": [tuple(o) for o in n1],
        "attach": attach,
        "names": names,
        "sources": {c: str(f) for c, f in srcs.items()},
    }


def _build(data: dict) -> Catalog:
    make = Offer._make
    return Catalog(list(map(make, data["offers"])), list(map(make, data["n1"])), data["attach"], data["sources"],
                   data["names"])


def load(data_dir: Path | None = None, *, use_cache: bool = True) -> Catalog:
    srcs = sources(data_dir)
    acc = _accelerators_csv(data_dir)
    if not use_cache:
        return _build(_parse(srcs, acc))
    cache = paths.catalog_cache_dir() / f"catalog-{cache_key(srcs, acc)}.pickle"
    try:
        with cache.open("rb") as fh:
            data = pickle.load(fh)
        if isinstance(data, dict) and data.get("format") == CACHE_FORMAT:
            return _build(data)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError, KeyError, TypeError):
        pass  # missing or unreadable cache: rebuild it
    data = _parse(srcs, acc)
    data["format"] = CACHE_FORMAT
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        for old in cache.parent.glob("catalog-*.pickle"):
            old.unlink(missing_ok=True)  # one live cache per SKYC_HOME
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        with tmp.open("wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home still plans, only slower
    return _build(data)
