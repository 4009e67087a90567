"""Units of the task YAML: memory/disk sizes, cpu counts, idle times and port lists.

Every parser raises `ValueError` with a user-facing message; the spec loader turns it into a located issue.
"""

from __future__ import annotations

import math
import re

# Binary multiples relative to GiB; `GB` means GiB, as in SkyPilot (`1TB` = 1024 GB).
_SIZE_UNITS = {"kb": 2**-20, "ki": 2**-20, "mb": 2**-10, "mi": 2**-10, "gb": 1, "gi": 1, "tb": 2**10, "ti": 2**10,
               "pb": 2**20, "pi": 2**20}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]{2})?\s*(\+)?\s*$")
_TIME_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([smhdwSMHDW])?\s*$")
_TIME_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_UNIT_HINT = "use a number of GB or a unit from KB MB GB TB PB (e.g. 32GB, 1TB)"


def parse_count(value: object, what: str) -> tuple[float, bool]:
    """`8` / `"8"` / `"8+"` / `0.5` -> (amount, at_least). Must be > 0."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number or a string like '8' or '8+', got {value!r}")
    if isinstance(value, (int, float)):
        amount, at_least = float(value), False
    elif isinstance(value, str):
        text = value.strip()
        at_least = text.endswith("+")
        try:
            amount = float(text[:-1] if at_least else text)
        except ValueError:
            raise ValueError(f"{what} must be a number or a string like '8' or '8+', got {value!r}") from None
    else:
        raise ValueError(f"{what} must be a number or a string like '8' or '8+', got {value!r}")
    if not amount > 0 or amount != amount or amount == float("inf"):
        raise ValueError(f"{what} must be greater than 0, got {value!r}")
    return amount, at_least


def parse_size_gb(value: object, what: str, *, allow_plus: bool = True) -> tuple[float, bool]:
    """Memory-style size: number (GB) or `"32GB"`, `"32GB+"`, `"512MB"` -> (GiB, at_least)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size, got {value!r}; {_UNIT_HINT}")
    if isinstance(value, (int, float)):
        amount, at_least = float(value), False
    elif isinstance(value, str):
        m = _SIZE_RE.match(value)
        if not m or (m.group(3) and not allow_plus):
            raise ValueError(f"cannot parse {value!r} as a size; {_UNIT_HINT}")
        unit = (m.group(2) or "gb").lower()
        if unit not in _SIZE_UNITS:
            raise ValueError(f"unknown unit in {value!r}; {_UNIT_HINT}")
        amount, at_least = float(m.group(1)) * _SIZE_UNITS[unit], bool(m.group(3))
    else:
        raise ValueError(f"expected a size, got {value!r}; {_UNIT_HINT}")
    if not amount > 0 or amount == float("inf"):
        raise ValueError(f"{what} must be greater than 0, got {value!r}")
    return amount, at_least


def parse_disk_size(value: object) -> int:
    """`disk_size`: whole GB, bare int or `"<int><unit>"`."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"disk_size must be greater than 0, got {value}")
        return value
    gb, at_least = parse_size_gb(value, "disk_size", allow_plus=False)
    if not float(gb).is_integer():
        raise ValueError(f"disk_size {value!r} is not a whole number of GB")
    return int(gb)


def _duration(value: object, what: str, unit: str) -> int:
    """A duration in whole `unit`s (rounded up, as SkyPilot): a number of `unit`s, or a string with
    a unit, fractions allowed (`0.5h`, `1.2d`)."""
    hint = f"expected {'minutes' if unit == 'm' else 'seconds'} or a time like '30m', '2h', '0.5h', '1d'"
    if isinstance(value, bool):
        raise ValueError(f"{hint}, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{what} must be >= 0, got {value}")
        return value
    if isinstance(value, str):
        m = _TIME_RE.match(value)
        if m and (m.group(2) or "." not in m.group(1)) and not (unit == "m" and (m.group(2) or "").lower() == "s"):
            seconds = float(m.group(1)) * _TIME_SECONDS[(m.group(2) or unit).lower()]
            return math.ceil(seconds / _TIME_SECONDS[unit] - 1e-9)
    raise ValueError(f"{hint}, got {value!r}")


def parse_minutes(value: object, what: str = "idle time") -> int:
    """`10` / `"10"` / `"2h"` / `"0.5h"` / `"1d"` / `"1w"` -> whole minutes."""
    return _duration(value, what, "m")


def parse_seconds(value: object, what: str = "delay") -> int:
    """`30` / `"30s"` / `"5m"` / `"1.5h"` -> whole seconds."""
    return _duration(value, what, "s")


def _port_ranges(value: object) -> list[tuple[int, int]]:
    items = value if isinstance(value, list) else [value]
    out: list[tuple[int, int]] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise ValueError(f"expected a port, a range 'a-b' or a list of them, got {item!r}")
        parts = [item] if isinstance(item, int) else [p.strip() for p in item.split(",")]
        for part in parts:
            if isinstance(part, int):
                lo = hi = part
            else:
                lo_s, sep, hi_s = part.partition("-")
                if not lo_s.strip().isdigit() or (sep and not hi_s.strip().isdigit()):
                    raise ValueError(f"invalid port or range {part!r} (use 8080 or 8000-8010)")
                lo = int(lo_s)
                hi = int(hi_s) if sep else lo
            if not (1 <= lo <= 65535 and 1 <= hi <= 65535):
                raise ValueError(f"port {part!r} is out of range 1-65535")
            if lo > hi:
                raise ValueError(f"port range {part!r} has its start after its end")
            out.append((lo, hi))
    return out


def parse_ports(value: object) -> tuple[str, ...]:
    """Ports as SkyPilot normalises them: sorted, adjacent/overlapping merged, as strings."""
    if value is None:
        return ()
    ranges = sorted(_port_ranges(value))
    merged: list[list[int]] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return tuple(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in merged)


def format_number(value: float) -> int | float:
    """8.0 -> 8, 0.5 -> 0.5 (integral floats shown as ints)."""
    return int(value) if float(value).is_integer() else value
