"""The in-memory catalog: offers indexed by accelerator, by instance type and by cloud, so a
request looks only at the rows that can match it."""

from __future__ import annotations

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
        self.by_accelerator: dict[str, list[Offer]] = {}
        self.by_instance_type: dict[str, list[Offer]] = {}
        self.cpu_defaults: list[Offer] = []
        self.clouds: set[str] = set()
        for o in offers:
            self.clouds.add(o.cloud)
            self.by_instance_type.setdefault(o.instance_type, []).append(o)
            if o.accelerator:
                self.by_accelerator.setdefault(o.accelerator.lower(), []).append(o)
            elif o.instance_type.startswith(DEFAULT_FAMILIES.get(o.cloud, ("",))):
                self.cpu_defaults.append(o)
        self.n1_by_zone: dict[str | None, list[Offer]] = {}
        for h in n1_hosts:
            self.n1_by_zone.setdefault(h.zone, []).append(h)
        self.accelerator_names: dict[str, str] = {a.lower(): a for a in accelerator_names}
        for key, rows in self.by_accelerator.items():
            self.accelerator_names.setdefault(key, rows[0].accelerator)
        for name, _ in attach:
            self.accelerator_names.setdefault(name.lower(), name)
        self._n1_cache: dict[tuple[str, bool], list[Offer]] = {}

    def with_capacity(self, offers: Iterable[Offer]) -> "Catalog":
        """A view of this catalog plus capacity offers (the indexes are shared, not copied)."""
        view = object.__new__(Catalog)
        view.__dict__.update(self.__dict__)
        view.capacity = list(offers)
        return view

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
