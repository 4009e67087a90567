"""Canonical (normalised) resource requests: what the optimizer sees, never the YAML's surface forms.

The YAML parser in `spec.py` turns every accepted spelling (`A100:8`, `{A100: 8}`, lists, sets,
`any_of`, `ordered`, `infra` strings, deprecated cloud/region/zone, ...) into these models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Accelerator(_Frozen):
    """One accelerator demand: canonical catalog name and count per node (may be fractional)."""

    name: str
    count: float = 1

    def __str__(self) -> str:
        c = int(self.count) if float(self.count).is_integer() else self.count
        return f"{self.name}:{c}"


class AutostopConfig(_Frozen):
    enabled: bool = True
    idle_minutes: int = 0
    down: bool = False
    wait_for: Literal["jobs_and_ssh", "jobs", "none"] = "jobs_and_ssh"


class JobRecovery(_Frozen):
    strategy: str | None = None  # EAGER_NEXT_REGION | FAILOVER | None (= default)
    max_restarts_on_errors: int = 0
    recover_on_exit_codes: tuple[int, ...] = ()


class ResourceVolume(_Frozen):
    """A disk attached to the node (GCP `resources.volumes`)."""

    path: str
    name: str | None = None
    disk_size: int | None = None
    disk_tier: str | None = None
    storage_type: Literal["network", "instance"] | None = None
    attach_mode: Literal["read_write", "read_only"] | None = None
    auto_delete: bool | None = None


class Resources(_Frozen):
    """One candidate placement request. `None` means "unconstrained"."""

    cloud: str | None = None  # lower-case provider name: aws, gcp, azure, kubernetes, ssh, local, lambda, ...
    region: str | None = None  # for kubernetes: the context; for ssh: the pool name
    zone: str | None = None
    accelerator: Accelerator | None = None
    accelerator_args: dict[str, str | bool | None] | None = None
    cpus: float | None = None
    cpus_at_least: bool = False  # "8+" -> cpus=8, cpus_at_least=True; "8" -> exact
    memory: float | None = None  # GiB
    memory_at_least: bool = False
    instance_type: str | None = None
    use_spot: bool = False
    disk_size: int = 256  # GiB
    disk_tier: Literal["low", "medium", "high", "ultra", "best"] | None = None
    network_tier: Literal["standard", "best"] | None = None
    ports: tuple[str, ...] = ()  # sorted, merged: ("8080-8085", "9000")
    # image_id per region; key "*" = any region, key "docker" = container image
    image_id: dict[str, str] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    max_hourly_cost: float | None = None
    autostop: AutostopConfig | None = None
    job_recovery: JobRecovery | None = None
    priority: int | None = None
    priority_class: str | None = None
    local_disk: str | None = None  # "nvme:100+", "ssd:500"
    volumes: tuple[ResourceVolume, ...] = ()

    @property
    def infra(self) -> str | None:
        """Display form of cloud/region/zone (`aws/us-east-1`), None when unconstrained."""
        if not (self.cloud or self.region or self.zone):
            return None
        parts = [self.cloud or "*", self.region or "*", self.zone or "*"]
        while parts and parts[-1] == "*":
            parts.pop()
        return "/".join(parts)


class ResourceChoice(_Frozen):
    """The candidates of one task and how to choose among them.

    single: one candidate. any_of: cheapest of the set wins. ordered: first feasible entry wins.
    """

    mode: Literal["single", "any_of", "ordered"] = "single"
    candidates: tuple[Resources, ...] = (Resources(),)
