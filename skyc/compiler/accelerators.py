"""Accelerator requests: the YAML forms, case-insensitive canonical names and memory-based expansion.

Names come from the bundled catalog (`common/accelerators.csv` plus the accelerator column of every
`*/vms.csv`), read once on first use. Unknown names pass through unchanged: feasibility is the optimizer's job.
"""

from __future__ import annotations

import csv
import functools
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from skyc.compiler.resources import Accelerator
from skyc.compiler.units import format_number

CATALOG_DIR = Path(__file__).parent / "catalog" / "data"
_MEM_RE = re.compile(r"^(?:([A-Za-z][A-Za-z0-9_-]*):)?(\d+(?:\.\d+)?)GB(\+)?(?::([^:]+))?$", re.IGNORECASE)
_SIZE_MIB_RE = re.compile(r"'SizeInMiB':\s*'?(\d+)")
_MAKER_RE = re.compile(r"'Manufacturer':\s*'([^']+)'")


@dataclass(frozen=True)
class AcceleratorInfo:
    name: str
    memory_gib: float | None  # per device; None when the catalog does not say
    manufacturer: str | None


def _guess_maker(name: str) -> str | None:
    low = name.lower()
    if low.startswith("tpu"):
        return "google"
    if low.startswith(("mi", "radeon")):
        return "amd"
    if low.startswith("gaudi"):
        return "habana"
    if low.startswith(("inferentia", "trainium")):
        return "aws"
    return None


@functools.cache
def catalog_accelerators() -> dict[str, AcceleratorInfo]:
    """lower-cased name -> info, for every accelerator named in the bundled catalog."""
    names: dict[str, str] = {}
    mem: dict[str, Counter] = {}
    maker: dict[str, str] = {}
    common = CATALOG_DIR / "common" / "accelerators.csv"
    if common.exists():
        with common.open(newline="") as f:
            for row in csv.DictReader(f):
                n = (row.get("AcceleratorName") or "").strip()
                if n:
                    names.setdefault(n.lower(), n)
    for vms in sorted(CATALOG_DIR.glob("*/vms.csv")):
        with vms.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            try:
                i_name = header.index("AcceleratorName")
            except ValueError:
                continue
            i_info = header.index("GpuInfo") if "GpuInfo" in header else None
            for row in reader:
                if len(row) <= i_name or not row[i_name]:
                    continue
                n = row[i_name].strip()
                low = n.lower()
                names.setdefault(low, n)
                info = row[i_info] if i_info is not None and len(row) > i_info else ""
                if "{" in info:
                    m = _SIZE_MIB_RE.search(info)
                    if m and int(m.group(1)) > 0:
                        mem.setdefault(low, Counter())[int(m.group(1))] += 1
                    mk = _MAKER_RE.search(info)
                    if mk:
                        maker.setdefault(low, mk.group(1).lower())
    out = {}
    for low, n in names.items():
        if low.startswith("tpu-"):
            n = low
        gib = None
        if low in mem:
            gib = round(mem[low].most_common(1)[0][0] / 1024, 1)
        out[low] = AcceleratorInfo(n, gib, maker.get(low) or _guess_maker(n) or ("nvidia" if gib else None))
    return out


def is_tpu(name: str) -> bool:
    return name.lower().startswith("tpu-")


def canonical_name(name: str) -> str:
    """`a100` -> `A100`; TPU names lower-cased; unknown names unchanged."""
    if is_tpu(name):
        return name.lower()
    info = catalog_accelerators().get(name.lower())
    return info.name if info else name


def _parse_count(raw: str, text: str) -> float:
    try:
        count = float(raw)
    except ValueError:
        raise ValueError(f"accelerator count in {text!r} must be a number (e.g. A100:8)") from None
    if not count > 0 or count == float("inf"):
        raise ValueError(f"accelerator count in {text!r} must be greater than 0")
    return float(format_number(count))


def expand_memory_form(text: str) -> list[Accelerator] | None:
    """`80GB+`, `40GB:2`, `nvidia:80GB+:8` -> every catalog GPU whose memory qualifies; None if not this form."""
    m = _MEM_RE.match(text.strip())
    if not m:
        return None
    maker, size, plus, count_s = m.groups()
    count = _parse_count(count_s, text) if count_s is not None else 1.0
    want = float(size)
    hits = []
    for info in catalog_accelerators().values():
        if info.memory_gib is None or is_tpu(info.name):
            continue
        if maker and (info.manufacturer or "").lower() != maker.lower():
            continue
        ok = info.memory_gib >= want - 0.5 if plus else abs(info.memory_gib - want) < 0.5
        if ok:
            hits.append(Accelerator(name=info.name, count=count))
    if not hits:
        raise ValueError(f"no GPU in the catalog matches {text!r}")
    return sorted(hits, key=lambda a: a.name)


def parse_accelerator_str(text: str) -> list[Accelerator]:
    """One string entry -> one accelerator, or several for the memory-based forms."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"accelerator must be a non-empty string like 'A100:8', got {text!r}")
    expanded = expand_memory_form(text)
    if expanded is not None:
        return expanded
    name, sep, count_s = text.strip().partition(":")
    if sep and ":" in count_s:
        raise ValueError(f"invalid accelerator {text!r}: expected NAME or NAME:COUNT")
    name = name.strip()
    if not name:
        raise ValueError(f"invalid accelerator {text!r}: missing name")
    count = _parse_count(count_s.strip(), text) if sep else 1.0
    return [Accelerator(name=canonical_name(name), count=count)]


def parse_accelerators(value: object) -> tuple[str, list[Accelerator]]:
    """YAML `accelerators` -> (container, accelerators); container is single | set | list.

    set = any of them (cheapest wins), list = ordered preference.
    """
    if isinstance(value, str):
        accs = parse_accelerator_str(value)
        return ("single" if len(accs) == 1 and expand_memory_form(value) is None else "set"), accs
    if isinstance(value, dict):
        accs: list[Accelerator] = []
        for key, cnt in value.items():
            if not isinstance(key, str):
                raise ValueError(f"accelerator name must be a string, got {key!r}")
            if cnt is None:
                accs.extend(parse_accelerator_str(key))
            else:
                if isinstance(cnt, bool) or not isinstance(cnt, (int, float, str)):
                    raise ValueError(f"count of {key!r} must be a number, got {cnt!r}")
                if ":" in key:
                    raise ValueError(f"{key!r}: give the count either in the name or as the value, not both")
                for acc in parse_accelerator_str(key):
                    accs.append(acc.model_copy(update={"count": _parse_count(str(cnt), f"{key}: {cnt}")}))
        if not accs:
            raise ValueError("accelerators mapping is empty")
        return ("single" if len(accs) == 1 else "set"), accs
    if isinstance(value, list):
        accs = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"accelerator list entries must be strings like 'A100:8', got {item!r}")
            accs.extend(parse_accelerator_str(item))
        if not accs:
            raise ValueError("accelerators list is empty")
        return ("single" if len(accs) == 1 else "list"), accs
    raise ValueError(f"accelerators must be a string ('A100:8'), a mapping or a list, got {value!r}")
