"""The Plan artifact: what `skyc plan` shows and `skyc apply` / launch consume unchanged.

`build_plan(tasks, ...)` is the one planning call (the CLI and launch both use it): optimise each
task over enabled infra, turn the chosen placement into a StackSpec, list the resources its stack
would create. `Plan.load` validates a saved plan and turns anything else into a PlanError.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from skyc.compiler.catalog.offers import PlacementText
from skyc.compiler.optimizer import NOT_PROVISIONABLE
from skyc.errors import InfraNotEnabledError, PlanError, UsageError
from skyc.stacks.base import StackSpec

FORMAT_VERSION = 1
PLAN_KIND = "skyc-plan"
MAX_ALTERNATIVES = 6
MAX_FALLBACKS = 20


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlacementInfo(_Model, PlacementText):
    """Where and on what a task runs; prices in USD/h (`hourly_price` per node, `hourly_cost` all nodes)."""

    cloud: str
    region: str | None = None
    zone: str | None = None
    instance_type: str | None = None
    accelerators: dict[str, float] = Field(default_factory=dict)
    use_spot: bool = False
    num_nodes: int = 1
    hourly_price: float = 0.0
    hourly_cost: float = 0.0
    cpus: float | None = None
    memory: float | None = None



class Alternative(PlacementInfo):
    reason: str = ""


class PlanResource(_Model):
    type: str
    name: str
    action: Literal["create", "update", "replace", "delete", "no-op"] = "create"
    inputs: dict[str, Any] = Field(default_factory=dict)


class PlanTask(_Model):
    name: str | None = None
    cluster: str
    task: dict[str, Any] = Field(default_factory=dict)  # snapshot, secrets redacted
    chosen: PlacementInfo
    alternatives: list[Alternative] = Field(default_factory=list)
    # Cheaper offers that fit but are on clouds skyc cannot provision yet (cheapest per cloud).
    skipped: list[Alternative] = Field(default_factory=list)
    fallbacks: list[PlacementInfo] = Field(default_factory=list)  # the first MAX_FALLBACKS of the failover order
    feasible: int = 1  # how many placements could run this task (chosen + all fallbacks)
    stack: StackSpec
    resources: list[PlanResource] = Field(default_factory=list)
    resources_note: str | None = None  # why `resources` is empty, when it is
    action: Literal["create", "update", "replace", "delete", "no-op"] = "create"
    # The stack's update version this plan was made against (None = a new stack); diffs against
    # existing stacks fill it, and apply refuses the plan when the stack has moved since.
    base_version: int | None = None
    warnings: list[str] = Field(default_factory=list)

    @property
    def hourly_cost(self) -> float:
        return self.chosen.hourly_cost


class Plan(_Model):
    kind: Literal["skyc-plan"] = PLAN_KIND
    format_version: int = FORMAT_VERSION
    created_at: str
    skyc_version: str
    backend: str | None = None
    tasks: list[PlanTask] = Field(default_factory=list)
    hourly_cost: float = 0.0
    # Diffs against current state and the policy verdict (`skyc plan` adds them; OPA reads them).
    review: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"

    def save(self, path: str | Path) -> None:
        p = Path(path)
        try:
            p.write_text(self.dumps())
        except OSError as e:
            raise PlanError(f"cannot write plan to {p}: {e.strerror}") from None

    @classmethod
    def load(cls, path: str | Path) -> "Plan":
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as e:
            raise PlanError(f"cannot read plan file {p}: {e.strerror}") from None
        try:
            data = json.loads(text)
        except ValueError:
            raise PlanError(f"{p} is not a skyc plan (not JSON); create one with `skyc plan TASK.yaml --out {p.name}`") from None
        return cls.from_json(data, source=str(p))

    @classmethod
    def from_json(cls, data: Any, *, source: str = "plan") -> "Plan":
        if not isinstance(data, dict) or data.get("kind") != PLAN_KIND:
            raise PlanError(f"{source} is not a skyc plan (no \"kind\": \"{PLAN_KIND}\"); "
                            "create one with `skyc plan TASK.yaml --out plan.json`")
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise PlanError(f"{source} has plan format {version!r}; this skyc reads up to {FORMAT_VERSION} (upgrade skyc)")
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(x) for x in first["loc"])
            raise PlanError(f"{source} is not a valid skyc plan: {loc}: {first['msg']}") from None


# ---------------------------------------------------------------------------- building


def generated_cluster_name() -> str:
    return f"skyc-{secrets.token_hex(2)}"


def _info(p: Any, cls: type[PlacementInfo] = PlacementInfo, **extra: Any) -> PlacementInfo:
    return cls(cloud=p.cloud, region=p.region, zone=p.zone, instance_type=p.instance_type,
               accelerators=dict(p.accelerators), use_spot=p.use_spot, num_nodes=p.num_nodes,
               hourly_price=round(p.hourly_price, 6), hourly_cost=round(p.hourly_cost, 6), cpus=p.vcpus,
               memory=p.memory, **extra)


def _image_for(image_id: dict[str, str] | None, region: str | None) -> str | None:
    """The image for the chosen region: the region's own key, then `*`, then the container."""
    if not image_id:
        return None
    if region and region in image_id:
        return image_id[region]
    if "*" in image_id:
        return image_id["*"]
    if "docker" in image_id:
        value = image_id["docker"]
        return value if value.startswith("docker:") else f"docker:{value}"
    return None


def stack_spec(cluster: str, p: Any) -> StackSpec:
    """The StackSpec of a placement (capacity infra gets no instance type: it has none)."""
    r = p.candidate
    acc_name, acc_count = next(iter(p.accelerators.items()), (None, 0))
    return StackSpec(
        stack=cluster, provider=p.cloud, region=p.region, zone=p.zone,
        instance_type=None if p.capacity else p.instance_type, num_nodes=p.num_nodes, use_spot=p.use_spot,
        accelerator_name=acc_name, accelerator_count=acc_count or 0,
        cpus=r.cpus if p.capacity else p.vcpus, memory=r.memory if p.capacity else p.memory,
        disk_size=r.disk_size, disk_tier=r.disk_tier, network_tier=r.network_tier, ports=list(r.ports), image_id=_image_for(r.image_id, p.region),
        labels=dict(r.labels),
    )


def render_stack_resources(spec: StackSpec) -> tuple[list[PlanResource], str | None, list[str]]:
    """(resources the stack's program registers under Pulumi mocks, why they are missing, the
    provider's warnings). An invalid spec (SpecError/ProviderError) is the user's to fix and
    propagates; a provider that cannot render here (no SDK) only leaves a note."""
    from skyc.errors import ProviderError, SpecError

    try:
        from skyc.stacks import render
    except ImportError:
        return [], "resource rendering is not available in this skyc", []
    try:
        out = render.render(spec)
    except (SpecError, ProviderError):
        raise
    except Exception as e:  # noqa: BLE001 - e.g. a missing provider SDK: still a plan, without the list
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return [], f"could not render resources: {msg}", []
    rows = [PlanResource(type=r["type"], name=r["name"], inputs=r.get("inputs") or {}) for r in out["resources"]]
    return rows, None, list(out.get("warnings") or [])


def _backend_url() -> str | None:
    try:
        from skyc.stacks.engine import Engine

        return Engine().backend_url
    except Exception:  # noqa: BLE001 - a plan without a configured backend still reviews
        return None


_CLUSTER_NAME = re.compile(r"^[a-zA-Z]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$")


def _cluster_names(tasks: list[Any], cluster: str | None) -> list[str]:
    if cluster is not None and not _CLUSTER_NAME.match(cluster):
        raise UsageError(f"invalid cluster name {cluster!r}: use letters, digits, '-', '_' and '.', "
                         "starting with a letter and ending with a letter or digit")
    base = cluster or generated_cluster_name()
    if len(tasks) == 1:
        return [base]
    return [f"{base}-{i}" for i in range(len(tasks))]


def build_plan(tasks: Any, *, cluster: str | None = None, offline: bool = False, blocked: Iterable[Any] = (),
               render: bool = True, catalog: Any = None, statuses: list | None = None) -> Plan:
    """Plan every task (a pipeline's tasks each get a cluster `<name>-<i>`). Raises
    ResourcesUnavailableError / InfraNotEnabledError when a task has nowhere to run."""
    from skyc import __version__
    from skyc.compiler import enabled as infra
    from skyc.compiler.catalog import load_catalog
    from skyc.compiler.optimizer import optimize
    from skyc.compiler.sources import check_local_sources

    if not isinstance(tasks, (list, tuple)):
        tasks = [tasks]
    statuses = infra.check(offline) if statuses is None else statuses
    on = infra.enabled_set(statuses)
    cat = (catalog or load_catalog()).with_capacity(infra.capacity_offers(statuses))
    blocked = list(blocked)
    entries = []
    for task, name in zip(tasks, _cluster_names(list(tasks), cluster)):
        check_local_sources(task)
        try:
            result = optimize(task.resources, task.num_nodes, cat, on, blocked)
        except InfraNotEnabledError as e:
            pinned = {r.cloud for r in task.resources.candidates if r.cloud}
            raise InfraNotEnabledError(_how_to_enable(str(e), statuses, pinned)) from None
        best = result.best
        spec = stack_spec(name, best)
        resources, note, provider_warnings = render_stack_resources(spec) if render else \
            ([], "not rendered (--no-render)", [])
        alternatives = _alternatives(result, best)
        entries.append(PlanTask(
            name=task.name, cluster=name, task=task.redacted(), chosen=_info(best),
            alternatives=alternatives[:MAX_ALTERNATIVES], skipped=_skipped(result, best),
            fallbacks=[_info(p) for p in result.ranked[1:MAX_FALLBACKS + 1]], feasible=len(result.ranked),
            stack=spec, resources=resources, resources_note=note,
            warnings=task.warnings + provider_warnings,
        ))
    return Plan(
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), skyc_version=__version__,
        backend=_backend_url(), tasks=entries, hourly_cost=round(sum(t.hourly_cost for t in entries), 6),
    )


def _alternatives(result: Any, best: Any) -> list[Alternative]:
    """The top alternatives: the cheapest feasible one per other (cloud, instance type), and the
    cheapest rejected one per cloud with why it was rejected; cheapest first."""
    seen = {(best.cloud, best.instance_type)}
    feasible = []
    for p in result.ranked[1:]:
        if (p.cloud, p.instance_type) not in seen:
            seen.add((p.cloud, p.instance_type))
            feasible.append(_info(p, Alternative, reason=p.reason or _lost_reason(p, best)))
    rejected, clouds = [], set()
    # Offers of the wrong size are not alternatives; show them only when nothing else lost.
    # Clouds skyc cannot provision have their own list (`_skipped`).
    offered = [p for p in result.rejected if not p.reason.endswith(NOT_PROVISIONABLE)]
    pool = [p for p in offered if not p.shape] or ([] if feasible else offered)
    for p in pool:
        if p.cloud not in clouds:
            clouds.add(p.cloud)
            rejected.append(_info(p, Alternative, reason=p.reason))
    picked = feasible[:3] + rejected[: MAX_ALTERNATIVES - min(3, len(feasible))]
    return sorted(picked, key=lambda a: (a.hourly_cost, a.cloud, a.region or "", a.zone or "", a.instance_type or ""))


def _skipped(result: Any, best: Any) -> list[Alternative]:
    """Offers cheaper than the chosen one that only lost for being on a cloud skyc cannot
    provision: the cheapest per cloud, cheapest first."""
    out: dict[str, Alternative] = {}
    for p in result.rejected:  # cheapest first
        if p.reason.endswith(NOT_PROVISIONABLE) and p.hourly_cost < best.hourly_cost - 1e-9 and p.cloud not in out:
            out[p.cloud] = _info(p, Alternative, reason=p.reason)
    return list(out.values())


def _lost_reason(p: Any, best: Any) -> str:
    if p.candidate_index != best.candidate_index and p.reason:
        return p.reason
    delta = p.hourly_cost - best.hourly_cost
    return f"+${delta:.2f}/h" if delta > 1e-9 else "same price; ordered after the chosen one"


def _how_to_enable(message: str, statuses: list, pinned: set[str]) -> str:
    known = {s.name for s in statuses}
    hints = [f"{s.name}: {s.reason}" for s in statuses if not s.enabled and s.name in pinned]
    hints += [f"skyc has no {c} provider (providers: {', '.join(sorted(known))})" for c in sorted(pinned - known)]
    return message + (f" ({'; '.join(hints)})" if hints else "")


# ---------------------------------------------------------------------------- rendering


def render(plan: Plan, fmt: Literal["text", "markdown", "json"] = "text") -> str:
    """Text (terminal), Markdown (pull-request comment) or JSON (the artifact)."""
    if fmt == "json":
        return plan.dumps()
    from skyc import templating
    from skyc.compiler.catalog.offers import count_str

    env = templating.environment(trim_blocks=True, lstrip_blocks=True)
    name = {"text": "plan.txt.j2", "markdown": "plan.md.j2"}[fmt]
    return env.get_template(name).render(plan=plan, money=_money, num=count_str).rstrip("\n") + "\n"


def _money(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"
