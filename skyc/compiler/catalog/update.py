"""`skyc catalog update --from DIR`: replace catalog CSVs with newer ones of the same format.

Every file is validated (headers and rows) before anything is written; then each file lands
under `$SKYC_HOME/catalog/<cloud>/vms.csv` by an atomic rename, overriding the bundled copy.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from skyc import paths
from skyc.compiler.catalog import loader
from skyc.errors import CatalogError


def _known_clouds() -> set[str]:
    from skyc.compiler.infra import CLOUDS

    return set(CLOUDS)


def validate_dir(src: Path) -> dict[str, tuple[Path, int]]:
    """cloud -> (file, offers) for every `<cloud>/vms.csv` under src; CatalogError on any problem."""
    src = Path(src)
    if not src.is_dir():
        raise CatalogError(f"{src} is not a directory; expected <cloud>/vms.csv files inside it")
    files = sorted(src.glob("*/vms.csv"))
    if not files:
        raise CatalogError(f"no <cloud>/vms.csv files under {src}")
    found: dict[str, tuple[Path, int]] = {}
    for f in files:
        cloud = f.parent.name
        if cloud not in _known_clouds():
            raise CatalogError(f"{f}: unknown cloud directory {cloud!r}; nothing was replaced")
        try:
            offers, accel_rows = loader.load_cloud(cloud, f)
        except CatalogError as e:
            raise CatalogError(f"{e}; nothing was replaced") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise CatalogError(f"{f}: unreadable CSV ({e}); nothing was replaced") from None
        if not offers and not accel_rows:
            raise CatalogError(f"{f}: no rows; nothing was replaced")
        found[cloud] = (f, len(offers) + len(accel_rows))
    acc = src / "common" / "accelerators.csv"
    if acc.exists():
        import csv

        with acc.open(newline="") as fh:
            header = next(csv.reader(fh), [])
        if "AcceleratorName" not in header:
            raise CatalogError(f"{acc}: missing column AcceleratorName; nothing was replaced")
    return found


def update_from(src: str | Path) -> dict[str, int]:
    """Install the validated CSVs; returns cloud -> rows installed."""
    src = Path(src)
    found = validate_dir(src)
    dest_root = paths.catalog_dir()
    installs = [(f, dest_root / cloud / "vms.csv") for cloud, (f, _) in found.items()]
    acc = src / "common" / "accelerators.csv"
    if acc.exists():
        installs.append((acc, dest_root / "common" / "accelerators.csv"))
    staged = []
    try:
        for f, dest in installs:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
            shutil.copyfile(f, tmp)
            staged.append((tmp, dest))
    except OSError as e:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise CatalogError(f"cannot write the catalog under {dest_root}: {e.strerror}") from None
    for tmp, dest in staged:
        os.replace(tmp, dest)
    from skyc.compiler.catalog import forget

    forget()
    return {cloud: n for cloud, (_, n) in found.items()}


def reset() -> list[str]:
    """Remove user overrides (back to the bundled catalog); returns the clouds removed."""
    root = paths.catalog_dir()
    removed = sorted(p.parent.name for p in root.glob("*/vms.csv")) if root.is_dir() else []
    if root.is_dir():
        shutil.rmtree(root)
    from skyc.compiler.catalog import forget

    forget()
    return removed
