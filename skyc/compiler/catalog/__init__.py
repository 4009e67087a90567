"""Price catalog: bundled SkyPilot-format CSVs (plus `skyc catalog update` overrides), normalised
into offers and indexed for the optimizer. `load_catalog()` is cached per process."""

from __future__ import annotations

from pathlib import Path

from skyc.compiler.catalog.index import Catalog
from skyc.compiler.catalog.offers import Offer

_LOADED: dict[str, Catalog] = {}


def load_catalog(data_dir: str | Path | None = None, *, use_cache: bool = True) -> Catalog:
    """The catalog from `data_dir` (default: bundled + user overrides)."""
    from skyc import paths
    from skyc.compiler.catalog import store

    key = f"{data_dir}|{paths.home()}"
    if key not in _LOADED or not use_cache:
        _LOADED[key] = store.load(Path(data_dir) if data_dir is not None else None, use_cache=use_cache)
    return _LOADED[key]


def forget() -> None:
    """Drop the per-process copies (after `catalog update`)."""
    _LOADED.clear()


__all__ = ["Catalog", "Offer", "load_catalog", "forget"]
