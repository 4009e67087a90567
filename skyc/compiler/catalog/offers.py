"""The one row type of the catalog: an offer of one instance type in one place, normalised."""

from __future__ import annotations

from typing import NamedTuple


class Offer(NamedTuple):
    """One instance type offered in one region/zone. Prices are USD/h for the whole instance;
    `None` means "not offered" (on-demand or spot).

    `capacity` offers (local, ssh, kubernetes) describe what a node *can hold* rather than a fixed
    SKU: a request fits when it asks for no more than the offer's cpus/memory/accelerators, and
    unknown capacity (`None`) fits anything.
    """

    cloud: str
    instance_type: str
    accelerator: str | None  # canonical name (A100-80GB, tpu-v2-8), None for CPU-only
    accelerator_count: float
    vcpus: float | None
    memory: float | None  # GiB
    price: float | None
    spot_price: float | None
    region: str | None
    zone: str | None
    capacity: bool = False
    max_nodes: int | None = None  # ssh pools: number of hosts
    host_price: float | None = None  # GCP: the host part when the GPUs are billed separately
    # Capacity infra priced by config (kubernetes.pricing): ($/h per vCPU, per GiB, ((GPU, $/h per GPU), ...));
    # the pod's price then follows what the task asks for.
    rates: tuple | None = None

    def price_for(self, cpus: float | None, memory: float | None, accelerator: str | None, count: float) -> float | None:
        """The on-demand hourly price of this offer serving a request of that size."""
        if self.rates is None:
            return self.price
        cpu_rate, mem_rate, gpu_rates = self.rates
        gpu = dict(gpu_rates).get(accelerator, 0.0) * count if accelerator else 0.0
        return round(cpu_rate * (cpus or 0) + mem_rate * (memory or 0) + gpu, 6)


def count_str(count: float) -> str:
    return str(int(count)) if float(count).is_integer() else f"{count:g}"


class PlacementText:
    """Display helpers for anything with cloud, region, zone and accelerators."""

    @property
    def where(self) -> str:
        return "/".join(p for p in (self.cloud, self.region, self.zone) if p)

    @property
    def accelerator_str(self) -> str:
        return ", ".join(f"{k}:{count_str(v)}" for k, v in self.accelerators.items())
