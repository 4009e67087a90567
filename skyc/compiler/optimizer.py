"""Cheapest feasible placement and a ranked failover list, from a ResourceChoice and the catalog.

A pure function: no printing, no I/O. Differences from SkyPilot, on purpose:
- every feasible instance type stays in the ranked list (cheapest first), not only the cheapest
  per cloud, so failover after a capacity error can fall back to a pricier type in the same cloud;
- ties break explicitly on (price, cloud, region, zone, instance type), never on enumeration order.
On-demand offers on clouds that price per region collapse to one placement per region (the
provider picks the zone); spot offers, GCP offers and zone-pinned requests stay per zone.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
from dataclasses import dataclass, field
from typing import Any, Iterable

from skyc.compiler.catalog.offers import Offer, PlacementText, count_str
from skyc.compiler.resources import ResourceChoice, Resources
from skyc.errors import InfraNotEnabledError, ResourcesUnavailableError

WILDCARD = "*"  # capacity offers of infra not configured here (offline review): any pool/context/GPU
ZONAL_CLOUDS = frozenset({"gcp"})  # accelerator prices differ per zone
MAX_DISK_GB = 65536


NOT_PROVISIONABLE = "not provisionable by skyc yet"


@functools.lru_cache(maxsize=None)
def provisionable(cloud: str) -> bool:
    """Whether a provider can create this catalog's offers (the catalog lists more clouds)."""
    from skyc.stacks import registry

    return cloud in registry.PROVIDERS


@functools.lru_cache(maxsize=None)
def _supports(cloud: str, capability: str) -> bool:
    """Whether the cloud's provider has a capability mixin (SupportsSpot, SupportsPorts, ...).
    A cloud without a provider is judged on its catalog alone (it is rejected as not provisionable)."""
    from skyc.stacks import base, registry

    if cloud not in registry.PROVIDERS:
        return True
    return base.supports(registry.get(cloud), getattr(base, capability))


@dataclass(frozen=True)
class Blocked:
    """A placement to avoid; `None` fields match anything (SkyPilot's blocked resources)."""

    cloud: str | None = None
    region: str | None = None
    zone: str | None = None
    instance_type: str | None = None
    use_spot: bool | None = None

    @classmethod
    def of(cls, item: Any) -> "Blocked":
        """From a Blocked, a Placement, a plan's chosen entry, a StackSpec or a mapping."""
        if isinstance(item, Blocked):
            return item
        get = item.get if isinstance(item, dict) else lambda k, d=None: getattr(item, k, d)
        cloud = get("cloud") or get("provider")
        return cls(cloud, get("region"), get("zone"), get("instance_type"), get("use_spot"))

    def matches(self, p: "Placement") -> bool:
        return all(
            want is None or want == have
            for want, have in ((self.cloud, p.cloud), (self.region, p.region), (self.zone, p.zone),
                               (self.instance_type, p.instance_type), (self.use_spot, p.use_spot))
        )


@dataclass
class Placement(PlacementText):
    """One way to run the task: where, on what, at which price (per node and for all nodes)."""

    cloud: str
    region: str | None
    zone: str | None
    instance_type: str
    accelerators: dict[str, float]
    use_spot: bool
    num_nodes: int
    hourly_price: float
    vcpus: float | None = None
    memory: float | None = None
    candidate: Resources = field(default_factory=Resources)
    candidate_index: int = 0
    capacity: bool = False
    reason: str = ""
    shape: bool = False  # rejected for its size (cpus/memory), not for where or how it is offered

    @property
    def hourly_cost(self) -> float:
        return round(self.hourly_price * self.num_nodes, 6)

    def sort_key(self) -> tuple:
        return (self.hourly_cost, self.cloud, self.region or "", self.zone or "", self.instance_type)

    def describe(self) -> str:
        acc = f" ({self.accelerator_str})" if self.accelerators else ""
        return f"{self.instance_type}{acc} on {self.where}"


@dataclass
class OptimizerResult:
    ranked: list[Placement]  # feasible, best first (for `ordered`: preference order, cheapest within an entry)
    rejected: list[Placement]  # alternatives that lost, with `reason`, cheapest first

    @property
    def best(self) -> Placement:
        return self.ranked[0]


# ---------------------------------------------------------------------------- matching


def _match(pattern: str | None, value: str | None) -> bool:
    """Infra filters accept shell wildcards (`us-*`); None = unconstrained."""
    if pattern is None or pattern == "*" or value == "*":  # "*" offer: any context/pool (offline review)
        return True
    if value is None:
        return False
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(value, pattern)
    return value == pattern


def _fits(want: float | None, at_least: bool, have: float | None, capacity: bool) -> bool:
    if want is None:
        return True
    if have is None:
        return capacity  # capacity unknown (kubernetes): any request fits
    if capacity or at_least:
        return have + 1e-9 >= want
    return abs(have - want) < 1e-6


def _sources(r: Resources, catalog: Any) -> list[Offer]:
    """Offers that can possibly match `r`, from the catalog's indexes."""
    caps = catalog.capacity
    if r.instance_type:
        out = catalog.instance_offers(r.instance_type)
        if r.accelerator and not out:
            out = []
        if r.accelerator:
            # GCP n1 hosts take attachable GPUs: instance_type + accelerators.
            out = [o for o in out if o.accelerator] + [
                o for o in catalog.accelerator_offers(r.accelerator.name, default_host_only=False)
                if o.instance_type == r.instance_type]
        return out + [o for o in caps if o.instance_type == r.instance_type]
    if r.accelerator:
        default_host = r.cpus is None and r.memory is None
        out = catalog.accelerator_offers(r.accelerator.name, default_host_only=default_host)
        name = r.accelerator.name.lower()
        return out + [o for o in caps if o.accelerator and o.accelerator.lower() in (name, WILDCARD)]
    return list(catalog.cpu_defaults) + list(caps)


def _default_cpu_floor(r: Resources, o: Offer) -> str | None:
    """SkyPilot's default for cloud instances when neither cpus nor memory is set: 8+ vCPUs and
    4 GiB per vCPU. Capacity infra (local/ssh/kubernetes) takes the task as it is."""
    if o.capacity or r.accelerator or r.instance_type or r.cpus is not None or r.memory is not None:
        return None
    if (o.vcpus or 0) < 8:
        return f"{count_str(o.vcpus or 0)} vCPUs < default 8+"
    if (o.memory or 0) + 1e-9 < 4 * (o.vcpus or 0):
        return "less than the default 4 GiB per vCPU"
    return None


def _image_region_ok(r: Resources, region: str | None) -> bool:
    """A per-region image_id mapping restricts the regions to its keys."""
    if not r.image_id:
        return True
    keys = {k for k in r.image_id if k not in ("docker",)}
    if not keys or "*" in keys:
        return True
    return region in keys


def _reject(o: Offer, r: Resources, num_nodes: int, enabled: set[str]) -> str | None:
    """Why offer `o` cannot serve candidate `r` (None = it can), cheapest checks first."""
    if r.cloud and o.cloud != r.cloud:
        return "other cloud"
    if o.region == WILDCARD and r.cloud != o.cloud:
        return "other cloud (unknown infra serves only tasks that name it)"
    if r.accelerator and o.accelerator == WILDCARD:
        pass  # hardware unknown offline: the task's own request is taken as what is there
    elif r.accelerator:
        if not o.accelerator or o.accelerator.lower() != r.accelerator.name.lower():
            return "other accelerator"
        want, have = r.accelerator.count, o.accelerator_count
        if o.capacity:
            if have + 1e-9 < want:
                return f"only {count_str(have)}x {o.accelerator} available"
        elif abs(have - want) > 1e-9:
            return f"has {o.accelerator}:{count_str(have)}, not :{count_str(want)}"
    elif o.accelerator and not r.instance_type and not o.capacity:
        return "has accelerators"
    if not _fits(r.cpus, r.cpus_at_least, o.vcpus, o.capacity):
        return f"{count_str(o.vcpus or 0)} vCPUs, need {count_str(r.cpus)}{'+' if r.cpus_at_least else ''}"
    if not _fits(r.memory, r.memory_at_least, o.memory, o.capacity):
        return f"{count_str(o.memory or 0)} GiB memory, need {count_str(r.memory)}{'+' if r.memory_at_least else ''}"
    floor = _default_cpu_floor(r, o)
    if floor:
        return floor
    if not (_match(r.region, o.region) and _match(r.zone, o.zone)):
        return "outside the infra filter"
    if not _image_region_ok(r, o.region):
        return "no image_id for this region"
    if r.use_spot:
        if not _supports(o.cloud, "SupportsSpot"):
            return f"{o.cloud} has no spot capacity"
        if o.spot_price is None:
            return "no spot price"
    elif o.price is None:
        return "no on-demand price"
    if r.ports and not _supports(o.cloud, "SupportsPorts"):
        return f"{o.cloud} cannot open ports"
    if r.disk_size > MAX_DISK_GB:
        return f"disk_size {r.disk_size} GB over the {MAX_DISK_GB} GB limit"
    if num_nodes > 1 and not _supports(o.cloud, "SupportsMultiNode"):
        return f"{o.cloud} runs single-node clusters only"
    if o.max_nodes is not None and num_nodes > o.max_nodes:
        return f"pool has {o.max_nodes} host(s), need {num_nodes}"
    price = _price(o, r)
    if r.max_hourly_cost is not None and (price or 0) > r.max_hourly_cost + 1e-9:
        return f"${price:.2f}/h over max_hourly_cost ${r.max_hourly_cost:.2f}"
    # Last, so these two reasons mean "would fit otherwise": the plan lists such offers that
    # are cheaper than the chosen one.
    if not provisionable(o.cloud):
        return f"{o.cloud} {NOT_PROVISIONABLE}"
    if o.cloud not in enabled:
        return f"{o.cloud} not enabled"
    return None


_SILENT = ("other cloud", "other accelerator", "has accelerators")


def _price(o: Offer, r: Resources) -> float | None:
    """$/h of one node of `o` for request `r` (spot or on-demand; capacity priced by its rates)."""
    if o.rates is None or r.use_spot:
        return o.spot_price if r.use_spot else o.price
    acc = r.accelerator
    return o.price_for(r.cpus, r.memory, acc.name if acc else None, acc.count if acc else 0)


def _placement(o: Offer, r: Resources, idx: int, num_nodes: int, reason: str = "") -> Placement:
    price = _price(o, r)
    keep_zone = r.use_spot or r.zone is not None or o.cloud in ZONAL_CLOUDS
    acc: dict[str, float] = {}
    if o.accelerator == WILDCARD:
        acc = {r.accelerator.name: r.accelerator.count} if r.accelerator else {}
    elif o.accelerator:
        acc = {o.accelerator: (r.accelerator.count if (o.capacity and r.accelerator) else o.accelerator_count)}
    vcpus, memory = o.vcpus, o.memory
    if o.capacity:  # a capacity node runs what the task asks for
        vcpus = r.cpus if r.cpus is not None else o.vcpus
        memory = r.memory if r.memory is not None else o.memory
    region = r.region if o.region == WILDCARD else o.region
    return Placement(o.cloud, region, o.zone if keep_zone else None, o.instance_type, acc, r.use_spot, num_nodes,
                     float(price if price is not None else (o.price or o.spot_price or 0.0)), vcpus, memory, r, idx,
                     o.capacity, reason)


def _candidate(r: Resources, idx: int, num_nodes: int, catalog: Any, enabled: set[str],
               blocked: list[Blocked]) -> tuple[list[Placement], list[Placement], list[Offer]]:
    """(feasible, rejected with reasons, near misses on the accelerator count).

    Offers are reduced to the cheapest per placement key before any Placement is built (the full
    catalog has thousands of matching rows for a CPU request); rejections collapse further to
    one per (cloud, instance type, reason).
    """
    keep_zone = r.use_spot or r.zone is not None
    price_of = lambda o: _price(o, r)  # noqa: E731
    ok: dict[tuple, Offer] = {}
    rejected: dict[tuple, tuple[Offer, str]] = {}
    count_misses: list[Offer] = []
    for o in _sources(r, catalog):
        why = _reject(o, r, num_nodes, enabled)
        if why is None:
            key = (o.cloud, o.region, o.zone if keep_zone or o.cloud in ZONAL_CLOUDS else None, o.instance_type)
            cur = ok.get(key)
            if cur is None or (price_of(o), o.zone or "") < (price_of(cur), cur.zone or ""):
                ok[key] = o
        elif not why.startswith(_SILENT):
            if why.startswith(("has ", "only ")) and r.accelerator and o.accelerator:
                count_misses.append(o)  # too few / too many GPUs: also the basis of the error message
            key = (o.cloud, o.instance_type, why)
            cur_r = rejected.get(key)
            rank = (o.price or o.spot_price or 1e12, o.region or "", o.zone or "")
            if cur_r is None or rank < (cur_r[0].price or cur_r[0].spot_price or 1e12, cur_r[0].region or "", cur_r[0].zone or ""):
                rejected[key] = (o, why)
    feasible: list[Placement] = []
    rej = [_placement(o, r, idx, num_nodes, why) for o, why in rejected.values()]
    for p in rej:
        p.shape = p.reason[:1].isdigit() or "default" in p.reason or p.reason.startswith(("has ", "only "))
    for o in ok.values():
        p = _placement(o, r, idx, num_nodes)
        if blocked and any(b.matches(p) for b in blocked):
            p.reason = "blocked (failed earlier)"
            rej.append(p)
        else:
            feasible.append(p)
    feasible.sort(key=Placement.sort_key)
    rej.sort(key=Placement.sort_key)
    return feasible, rej, count_misses


def optimize(choice: ResourceChoice, num_nodes: int, catalog: Any, enabled: set[str] | Iterable[str],
             blocked: Iterable[Any] = ()) -> OptimizerResult:
    """Rank every feasible placement of `choice` for `num_nodes` nodes on `enabled` infra.

    single/any_of: all candidates pooled, cheapest first. ordered: the first entry with a
    feasible non-blocked placement wins; later entries follow it in the list (failover order).
    """
    enabled = set(enabled)
    blocks = [Blocked.of(b) for b in blocked]
    per_entry: list[list[Placement]] = []
    rejected: list[Placement] = []
    misses: list[Offer] = []
    for idx, r in enumerate(choice.candidates):
        ok, rej, miss = _candidate(r, idx, num_nodes, catalog, enabled, blocks)
        per_entry.append(ok)
        rejected += rej
        misses += miss
    if choice.mode == "ordered":
        ranked = [p for entry in per_entry for p in entry]
        first = next((i for i, e in enumerate(per_entry) if e), None)
        if first is not None:
            for p in ranked:
                if p.candidate_index != first:
                    p.reason = f"lower preference (ordered entry {p.candidate_index + 1})"
    else:
        ranked = sorted((p for entry in per_entry for p in entry), key=Placement.sort_key)
    if not ranked:
        _raise_unavailable(choice, num_nodes, catalog, enabled, rejected, misses)
    rejected.sort(key=Placement.sort_key)
    return OptimizerResult(ranked, rejected)


# ---------------------------------------------------------------------------- errors


def _raise_unavailable(choice: ResourceChoice, num_nodes: int, catalog: Any, enabled: set[str],
                       rejected: list[Placement], misses: list[Offer]) -> None:
    for r in choice.candidates:
        if r.accelerator and catalog.canonical_accelerator(r.accelerator.name) is None:
            known = sorted(set(catalog.accelerator_names.values()))
            close = difflib.get_close_matches(r.accelerator.name, known, n=3, cutoff=0.5) or \
                difflib.get_close_matches(r.accelerator.name.upper(), [k.upper() for k in known], n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see `skyc gpus list`"
            if len(choice.candidates) == 1:
                raise ResourcesUnavailableError(f"unknown accelerator {r.accelerator.name!r}{hint}")
    for r in choice.candidates:
        if r.instance_type and len(choice.candidates) == 1 and not catalog.instance_offers(r.instance_type) \
                and not any(o.instance_type == r.instance_type for o in catalog.capacity):
            close = difflib.get_close_matches(r.instance_type, list(catalog.by_instance_type), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ResourcesUnavailableError(f"unknown instance type {r.instance_type!r}: not in the catalog{hint}")
    pinned = sorted({r.cloud for r in choice.candidates if r.cloud and r.cloud not in enabled})
    if pinned and all(r.cloud in pinned for r in choice.candidates):
        raise InfraNotEnabledError(f"{', '.join(pinned)} is not enabled; run `skyc check` to see how to enable it")
    want = " or ".join(_request_str(r, num_nodes) for r in choice.candidates)
    lines = [f"no enabled infra offers {want}"]
    for r in choice.candidates:
        if not (r.accelerator and misses) or any(
                p.candidate.accelerator == r.accelerator and not p.reason.startswith(("has ", "only ")) for p in rejected):
            continue
        same = [o for o in misses if o.accelerator and o.accelerator.lower() == r.accelerator.name.lower()]
        if same:
            counts = sorted({o.accelerator_count for o in same})
            top = max(same, key=lambda o: (o.accelerator_count, o.cloud in enabled, provisionable(o.cloud),
                                           -(o.price or o.spot_price or 1e9)))
            if r.accelerator.count > counts[-1]:
                lines[0] = f"no {r.accelerator}; largest is {top.accelerator}:{count_str(top.accelerator_count)} " \
                           f"on {top.cloud} {top.instance_type}"
            else:
                lines[0] = f"no {r.accelerator}; {top.accelerator} comes in counts " \
                           f"{', '.join(count_str(c) for c in counts)}"
    # Closest first: enabled infra, then infra skyc can provision (the catalog lists more clouds),
    # then the most accelerators, then the price.
    near = sorted(rejected, key=lambda p: (p.cloud not in enabled, not provisionable(p.cloud),
                                           -sum(p.accelerators.values()), p.sort_key()))[:3]
    if near:
        lines.append("closest: " + "; ".join(f"{p.describe()} ${p.hourly_price:.2f}/h ({p.reason})" for p in near))
    if rejected and all(p.reason.endswith(NOT_PROVISIONABLE) for p in rejected):
        lines.append(f"every match is on a cloud that is {NOT_PROVISIONABLE}: see `skyc gpus list` for the clouds it can use")
    elif rejected and all(p.reason.endswith(("not enabled", NOT_PROVISIONABLE)) for p in rejected):
        lines.append("every match is on infra that is not enabled: run `skyc check` (or plan with --offline)")
    raise ResourcesUnavailableError("\n".join(lines))


def _request_str(r: Resources, num_nodes: int) -> str:
    bits = []
    if r.accelerator:
        bits.append(str(r.accelerator))
    if r.cpus is not None:
        bits.append(f"cpus={count_str(r.cpus)}{'+' if r.cpus_at_least else ''}")
    if r.memory is not None:
        bits.append(f"memory={count_str(r.memory)}{'+' if r.memory_at_least else ''}")
    if r.instance_type:
        bits.append(r.instance_type)
    if r.infra:
        bits.append(f"in {r.infra}")
    if r.use_spot:
        bits.append("spot")
    if num_nodes > 1:
        bits.append(f"x{num_nodes} nodes")
    return " ".join(bits) or "default resources"
