"""Provision one planned cluster through the engine and record it in the registry.

`provision(plan_task)` is shared by `skyc launch` and `skyc apply PLAN.json`: the cluster is
registered INIT before the engine starts (so an interrupted launch can always be `down`ed), then
UP with its inventory, and its SSH entries are written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from skyc import registry as reg
from skyc import sshconfig
from skyc.stacks.base import Inventory, StackSpec

if TYPE_CHECKING:
    from skyc.compiler.plan import PlanTask


def resources_str(spec: StackSpec) -> str:
    """SkyPilot-like summary: `1x local(cpus=2, mem=4)` / `2x aws(p3.2xlarge, {'V100': 1})`."""
    inner = []
    if spec.instance_type:
        inner.append(spec.instance_type)
    if spec.cpus is not None and not spec.instance_type:
        inner.append(f"cpus={spec.cpus:g}")
    if spec.memory is not None and not spec.instance_type:
        inner.append(f"mem={spec.memory:g}")
    if spec.accelerator_name:
        inner.append(f"{{'{spec.accelerator_name}': {spec.accelerator_count:g}}}")
    if spec.use_spot:
        inner.append("[Spot]")
    return f"{spec.num_nodes}x {spec.provider}({', '.join(inner)})"


def provision(
    plan_task: PlanTask,
    *,
    on_event: Callable[[dict], None] | None = None,
    ssh_config: bool = True,
    registry: reg.Registry | None = None,
    engine: Any = None,
    task: Any = None,
) -> Inventory:
    """Apply the task's stack spec; the registry row goes INIT -> UP (stays INIT on failure).
    `task` is the loaded task when there is one (launch), else the plan's redacted snapshot is kept."""
    spec = plan_task.stack
    store = registry or reg.Registry()
    if engine is None:
        from skyc.stacks.engine import Engine

        engine = Engine()
    plan_json = {"stack": spec.model_dump(mode="json"), "hourly_price": plan_task.hourly_cost}
    fields = dict(
        provider=spec.provider, region=spec.region, zone=spec.zone, resources_str=resources_str(spec),
        num_nodes=spec.num_nodes, cpus=spec.cpus, memory=spec.memory,
        accelerators={spec.accelerator_name: spec.accelerator_count} if spec.accelerator_name else {},
        hourly_price=plan_task.hourly_cost, last_plan=plan_json,
    )
    fields["last_task"] = task.redacted() if task is not None else plan_task.task
    if store.get(spec.stack) is None:
        store.add(reg.Cluster(name=spec.stack, status=reg.INIT, stack=spec.stack, **fields))
    else:
        store.update(spec.stack, status=reg.INIT, **fields)
    inv = engine.up(spec, on_event=on_event)
    _record_up(store, spec.stack, inv, ssh_config=ssh_config)
    return inv


def _record_up(store: reg.Registry, name: str, inv: Inventory, *, ssh_config: bool) -> None:
    head = inv.nodes[0] if inv.nodes else None
    changes: dict[str, Any] = {"status": reg.UP, "inventory": inv.model_dump(mode="json")}
    if head is not None:
        if head.cpus is not None:
            changes["cpus"] = head.cpus
        if head.memory is not None:
            changes["memory"] = head.memory
    c = store.require(name)
    spec = (c.last_plan or {}).get("stack") or {}
    if head is not None and not spec.get("instance_type") and spec.get("cpus") is None:
        # No instance type to show: describe what the nodes actually have.
        parts = [f"cpus={head.cpus:g}" if head.cpus is not None else None,
                 f"mem={head.memory:g}" if head.memory is not None else None]
        changes["resources_str"] = f"{len(inv.nodes)}x {inv.provider}({', '.join(p for p in parts if p)})"
    store.update(name, **changes)
    if ssh_config and inv.nodes:
        sshconfig.add_cluster(inv)


def inventory_of(cluster: reg.Cluster) -> Inventory:
    from skyc.errors import ClusterNotUpError

    if not cluster.inventory:
        raise ClusterNotUpError(f"cluster {cluster.name} has no recorded nodes (status {cluster.status}); "
                                f"run `skyc start {cluster.name}` or `skyc down {cluster.name}`")
    return Inventory.model_validate(cluster.inventory)


def recorded_spec(cluster: reg.Cluster) -> StackSpec:
    """The stack spec the cluster was last provisioned with."""
    from skyc.errors import ClusterNotFoundError

    stack = (cluster.last_plan or {}).get("stack")
    if not stack:
        raise ClusterNotFoundError(f"cluster {cluster.name} has no recorded stack spec; `skyc down {cluster.name}` removes it")
    return StackSpec.model_validate(stack)
