"""The in-memory catalog: offers indexed by accelerator, by instance type and by cloud, so a
request looks only at the rows that can match it."""

from __future__ import annotations

from functools import cached_property
from typing import Iterable

from skyc.compiler.catalog.offers import Offer

# Families a cloud picks from when a task names neither accelerators nor an instance type
# (SkyPilot's "default instance families"); clouds not listed use all of their CPU-only types.
DEFAULT_FAMILIES: dict[str, tuple[str, ...]] = {
    "aws": ("m6i.", "c6i.", "r6i.", "m7i."),  # t3 is burstable: CPU credits run out under load
    "gcp": ("n2-standard-", "e2-standard-"),  # n1 stays available by instance_type and for GPUs
}


def n1_default_host(count: float) -> str:
    """Host an n1-attached GPU gets when the task sets neither cpus nor memory: 8 vCPUs per GPU."""
    return f"n1-highmem-{min(96, max(8, int(8 * count)))}"


class Catalog:
    """Indexed offers. `capacity` holds local/ssh/kubernetes offers added per planning run."""

    def __init__(self, offers: list[Offer], n1_hosts: list[Offer], attach: dict, sources: dict[str, str] | None = None,
                 accelerator_names: Iterable[str] = ()):
        self.offers = offers
        self.sources = dict(sources or {})
        self.attach = attach  # GCP: (name, count) -> zone -> (region, price, spot)
        self.capacity: list[Offer] = []
        self._n1_hosts = n1_hosts
        self._extra_names = list(accelerator_names)
        self._n1_cache: dict[tuple[str, bool], list[Offer]] = {}

    # Indexes are built on first use: a GPU request never needs the CPU or instance-type index.
    @cached_property
    def by_accelerator(self) -> dict[str, list[Offer]]:
        out: dict[str, list[Offer]] = {}
        for o in self.offers:
            if o.accelerator:
                out.setdefault(o.accelerator.lower(), []).append(o)
        return out

    @cached_property
    def by_instance_type(self) -> dict[str, list[Offer]]:
        out: dict[str, list[Offer]] = {}
        for o in self.offers:
            out.setdefault(o.instance_type, []).append(o)
        return out

    @cached_property
    def cpu_defaults(self) -> list[Offer]:
        return [o for o in self.offers
                if not o.accelerator and o.instance_type.startswith(DEFAULT_FAMILIES.get(o.cloud, ("",)))]

    @cached_property
    def clouds(self) -> set[str]:
        return {o.cloud for o in self.offers}

    @cached_property
    def n1_by_zone(self) -> dict[str | None, list[Offer]]:
        out: dict[str | None, list[Offer]] = {}
        for h in self._n1_hosts:
            out.setdefault(h.zone, []).append(h)
        return out

    @cached_property
    def accelerator_names(self) -> dict[str, str]:
        names = {a.lower(): a for a in self._extra_names}
        for key, rows in self.by_accelerator.items():
            names.setdefault(key, rows[0].accelerator)
        for name, _ in self.attach:
            names.setdefault(name.lower(), name)
        return names

    def with_capacity(self, offers: Iterable[Offer]) -> "Catalog":
        """This catalog plus capacity offers; the indexes stay shared with (and cached on) this one."""
        return _CapacityView(self, list(offers))  # type: ignore[return-value]

    # ------------------------------------------------------------------ look-ups

    def n1_attached(self, name: str, default_host_only: bool) -> list[Offer]:
        """GCP n1 hosts with `name` GPUs attached, one offer per (host, count, zone)."""
        key = (name, default_host_only)
        if key in self._n1_cache:
            return self._n1_cache[key]
        out: list[Offer] = []
        for (acc, count), zones in self.attach.items():
            if acc != name:
                continue
            want = n1_default_host(count) if default_host_only else None
            for zone, (region, price, spot) in zones.items():
                for h in self.n1_by_zone.get(zone, ()):
                    if want is not None and h.instance_type != want:
                        continue
                    out.append(h._replace(
                        accelerator=acc, accelerator_count=float(count),
                        price=None if h.price is None or price is None else round(h.price + price, 5),
                        spot_price=None if h.spot_price is None or spot is None else round(h.spot_price + spot, 5),
                        host_price=h.price, region=h.region or region or None))
        self._n1_cache[key] = out
        return out

    def accelerator_offers(self, name: str, *, default_host_only: bool = True) -> list[Offer]:
        """Every catalog offer with accelerator `name` (any count), canonical name or any case."""
        key = name.lower()
        canonical = self.accelerator_names.get(key, name)
        out = list(self.by_accelerator.get(key, ()))
        if any(acc == canonical for acc, _ in self.attach):
            out += self.n1_attached(canonical, default_host_only)
        return out

    def instance_offers(self, instance_type: str) -> list[Offer]:
        return list(self.by_instance_type.get(instance_type, ()))

    def canonical_accelerator(self, name: str) -> str | None:
        return self.accelerator_names.get(name.lower()) or next(
            (o.accelerator for o in self.capacity if o.accelerator and o.accelerator.lower() == name.lower()), None)

    def all_accelerator_offers(self) -> Iterable[Offer]:
        """For `gpus list`: fixed offers plus n1 attachments on their default hosts."""
        for rows in self.by_accelerator.values():
            yield from rows
        for acc in sorted({a for a, _ in self.attach}):
            yield from self.n1_attached(acc, True)


class _CapacityView:
    """A catalog with its own capacity offers; everything else is the base catalog's."""

    def __init__(self, base: Catalog, capacity: list[Offer]):
        self._base = base
        self.capacity = capacity

    def __getattr__(self, name: str):
        return getattr(self._base, name)

    def with_capacity(self, offers: Iterable[Offer]) -> "_CapacityView":
        return _CapacityView(self._base, list(offers))

    def canonical_accelerator(self, name: str) -> str | None:
        return Catalog.canonical_accelerator(self, name)  # type: ignore[arg-type]
