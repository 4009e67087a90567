"""`infra` strings: `cloud`, `cloud/region`, `cloud/region/zone`, `k8s/<context>`, `ssh/<pool>`, `*` wildcards."""

from __future__ import annotations

from typing import NamedTuple

# SkyPilot's cloud list plus `local`, skyc's embedded provider.
CLOUDS: tuple[str, ...] = (
    "aws", "azure", "gcp", "ibm", "lambda", "scp", "oci", "kubernetes", "runpod", "vast", "vsphere", "cudo",
    "fluidstack", "paperspace", "primeintellect", "do", "nebius", "ssh", "slurm", "hyperbolic", "seeweb",
    "shadeform", "yotta", "mithril", "verda", "local",
)
_ALIASES = {"k8s": "kubernetes"}


class InfraInfo(NamedTuple):
    cloud: str | None
    region: str | None
    zone: str | None


def canonical_cloud(name: str) -> str:
    """Lower-cased cloud name; `ValueError` with suggestions when unknown."""
    low = name.strip().lower()
    low = _ALIASES.get(low, low)
    if low not in CLOUDS:
        import difflib

        close = difflib.get_close_matches(low, CLOUDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known clouds: {', '.join(CLOUDS)}"
        raise ValueError(f"unknown cloud {name!r}{hint}")
    return low


def parse_infra(text: str) -> InfraInfo:
    """Parse an infra string into (cloud, region, zone); `None` = unconstrained."""
    if not isinstance(text, str):
        raise ValueError(f"infra must be a string like 'aws/us-east-1', got {text!r}")
    s = text.strip()
    if not s:
        raise ValueError("infra must not be empty (use '*' for any infra)")
    head, _, rest = s.partition("/")
    head_low = head.strip().lower()
    k8s = head_low in ("k8s", "kubernetes")
    # As SkyPilot's schema: no leading or trailing '/' (a context name may still end in one).
    if s.startswith("/") or (s.endswith("/") and not (k8s and rest.strip("/"))):
        fixed = s.strip("/") or "*"
        raise ValueError(f"infra {text!r} has a stray '/'; write {fixed!r}")
    if k8s:
        # A context name may itself contain '/' and ':', so everything after the first '/' is the context.
        context = rest.strip().rstrip("/").strip() or None
        if context == "*":
            context = None
        return InfraInfo("kubernetes", context, None)
    parts = [p.strip() for p in s.split("/")]
    if any(not p for p in parts):
        raise ValueError(f"infra {text!r} has an empty part; use '*' for 'any'")
    if len(parts) > 3:
        raise ValueError(f"infra {text!r} has too many parts; expected cloud[/region[/zone]]")
    cloud = None if parts[0] == "*" else canonical_cloud(parts[0])
    region = parts[1] if len(parts) > 1 and parts[1] != "*" else None
    zone = parts[2] if len(parts) > 2 and parts[2] != "*" else None
    return InfraInfo(cloud, region, zone)


def format_infra(cloud: str | None, region: str | None, zone: str | None) -> str | None:
    """Inverse of `parse_infra` (trailing wildcards dropped); None when unconstrained."""
    if not (cloud or region or zone):
        return None
    if cloud == "kubernetes" and region and "/" in region:
        return f"k8s/{region}"
    parts = [cloud or "*", region or "*", zone or "*"]
    while parts and parts[-1] == "*":
        parts.pop()
    return "/".join(parts)
