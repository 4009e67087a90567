"""`skyc apply`: apply exactly a saved plan, or plan a task, show it and ask first.

A saved plan records one StackSpec per cluster and the stack version it was planned against;
apply refuses it when that version has moved (someone applied in between), when it was made
for another backend, or when the file is not a skyc plan.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import click

from skyc.errors import PlanError


# ----------------------------------------------------------------------------- library part


def load_plan(path: str | Path):
    """The Plan artifact at `path`; anything else is a clear PlanError."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise PlanError(f"cannot read plan file {p}: {e.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise PlanError(f"{p} is not a skyc plan (not JSON); create one with `skyc plan TASK.yaml --out {p.name}`") from None
    if not isinstance(data, dict) or "tasks" not in data:
        raise PlanError(f"{p} is not a skyc plan (no tasks); create one with `skyc plan TASK.yaml --out {p.name}`")
    try:
        from skyc.compiler.plan import Plan
    except ImportError:  # pragma: no cover - the plan module ships with skyc
        raise PlanError("this skyc has no plan support") from None
    try:
        return Plan.load(p)
    except PlanError:
        raise
    except Exception as e:  # noqa: BLE001 - pydantic or format errors from a corrupt file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PlanError(f"{p} is not a valid skyc plan: {first}") from None


def plan_entries(plan: Any) -> list[Any]:
    """Plan entries that carry a stack to apply (tasks without a stack spec are skipped)."""
    return [t for t in getattr(plan, "tasks", []) or [] if getattr(t, "stack", None) is not None]


def _norm_backend(url: str | None) -> str | None:
    return url.rstrip("/") if url else url


def check_plan(plan: Any, engine: Any) -> None:
    """Refuse a plan for another backend, or one whose base state has moved on."""
    backend = getattr(plan, "backend", None)
    if backend and _norm_backend(backend) != _norm_backend(engine.backend_url):
        raise PlanError(
            f"plan was made for backend {backend}, but this skyc uses {engine.backend_url}; "
            "apply it where it was planned or plan again"
        )
    for task in plan_entries(plan):
        current = engine.version(task.stack.stack)
        base = getattr(task, "base_version", None)
        if current != base:
            was = "a new stack" if base is None else f"version {base}"
            now = "it no longer exists" if current is None else f"it is at version {current}"
            raise PlanError(f"plan is stale: {task.stack.stack} was planned against {was} but {now}; run plan again")


def apply_plan(plan: Any, *, engine: Any = None, on_event: Callable[[dict], None] | None = None) -> list[Any]:
    """Apply every stack of the plan exactly as recorded; returns one Inventory per stack.

    Goes through `skyc.lifecycle.provision` (which also registers the cluster) when present,
    else straight to the engine.
    """
    if engine is None:
        from skyc.stacks.engine import Engine

        engine = Engine(getattr(plan, "backend", None) or None)
    check_plan(plan, engine)
    try:
        from skyc.lifecycle import provision
    except ImportError:
        provision = None
    results = []
    for task in plan_entries(plan):
        if getattr(task, "action", None) in ("no-op", "noop") and engine.version(task.stack.stack) is not None:
            results.append(engine.inventory(task.stack.stack))
            continue
        if provision is not None:
            results.append(provision(task))
        else:
            results.append(engine.up(task.stack, on_event=on_event))
    return results


# ----------------------------------------------------------------------------- command


def _show(plan: Any, fmt: str = "text") -> str:
    from skyc.compiler import diff as diffs

    stack_diffs = [d for d in (getattr(plan, "diffs", None) or []) if d is not None]
    if stack_diffs:
        return diffs.render(stack_diffs, fmt, policy=getattr(plan, "policy", None))
    lines = []
    for t in plan_entries(plan):
        s = t.stack
        lines.append(f"  {getattr(t, 'action', 'apply')}: {s.stack} ({s.provider}, {s.num_nodes} node(s)"
                     + (f", {s.instance_type}" if s.instance_type else "") + ")")
    return "\n".join(lines) + "\n"


@click.command("apply")
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("-c", "--cluster", help="Cluster name (when TARGET is a task YAML).")
@click.option("-y", "--yes", is_flag=True, help="Apply without asking.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Policy file (default $SKYC_HOME/policy.yaml).")
def apply(target: str, cluster: str | None, yes: bool, policy_file: str | None) -> int:
    """Apply a saved plan (skyc plan --out plan.json), or plan TARGET task YAML and apply it.

    A saved plan is applied exactly as reviewed; it is refused if its stacks changed since.
    """
    is_plan = target.endswith(".json")
    if is_plan:
        if cluster:
            raise PlanError("-c/--cluster applies to a task YAML; a saved plan already names its clusters")
        plan = load_plan(target)
        if not yes:
            click.echo(_show(plan))
    else:
        try:
            from skyc.compiler import plan as plan_mod
            from skyc.compiler import spec as spec_mod
        except ImportError:  # pragma: no cover
            raise PlanError("planning a task needs skyc.compiler.plan") from None
        tasks = spec_mod.load_tasks(target) if hasattr(spec_mod, "load_tasks") else spec_mod.load(target)
        plan = plan_mod.build_plan(tasks, cluster=cluster)
        from skyc.compiler import policy as pol

        result = pol.check_plan(plan, policy_file=policy_file)
        click.echo(_show(plan))
        pol.raise_for(result)
    if not plan_entries(plan):
        click.echo("Nothing to apply.")
        return 0
    if not yes and not click.confirm("Apply this plan?", default=False):
        click.echo("Not applied.")
        return 1
    inventories = apply_plan(plan)
    for inv in inventories:
        if inv is not None:
            click.echo(f"Applied {inv.stack}: {len(inv.nodes)} node(s), head {inv.nodes[0].address if inv.nodes else '-'}")
    return 0
