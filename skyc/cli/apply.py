"""`skyc apply`: apply exactly a saved plan, or plan a task, show it and ask first.

A saved plan records one StackSpec per cluster and the stack version it was planned against;
apply refuses it when that version has moved (someone applied in between), when it was made
for another backend, or when the file is not a skyc plan.
"""

from __future__ import annotations

from typing import Any, Callable

import click

from skyc.errors import PlanError


# ----------------------------------------------------------------------------- library part


def _norm_backend(url: str | None) -> str | None:
    return url.rstrip("/") if url else url


def check_plan(plan: Any, engine: Any) -> None:
    """Refuse a plan for another backend, or one whose base state has moved on."""
    backend = plan.backend
    if backend and _norm_backend(backend) != _norm_backend(engine.backend_url):
        raise PlanError(
            f"plan was made for backend {backend}, but this skyc uses {engine.backend_url}; "
            "apply it where it was planned or plan again"
        )
    for task in plan.tasks:
        current = engine.version(task.stack.stack)
        base = task.base_version
        if current != base:
            was = "a new stack" if base is None else f"version {base}"
            now = "it no longer exists" if current is None else f"it is at version {current}"
            raise PlanError(f"plan is stale: {task.stack.stack} was planned against {was} but {now}; run plan again")


def apply_plan(plan: Any, *, engine: Any = None, on_event: Callable[[dict], None] | None = None) -> list[Any]:
    """Apply every stack of the plan exactly as recorded (registering each cluster); returns one
    Inventory per stack."""
    if engine is None:
        from skyc.stacks.engine import Engine

        engine = Engine()
    check_plan(plan, engine)
    from skyc.lifecycle.provision import provision

    results = []
    for task in plan.tasks:
        if task.action == "no-op" and engine.version(task.stack.stack) is not None:
            results.append(engine.inventory(task.stack.stack))
            continue
        results.append(provision(task, engine=engine, on_event=on_event))
    return results


# ----------------------------------------------------------------------------- command


def _show(plan: Any, engine: Any, policy: Any = None) -> str:
    """The plan's diff against the current state, as `skyc plan` shows it."""
    import copy

    from skyc.compiler import diff as diffs

    scratch = copy.deepcopy(plan)  # diffing records base versions: never on the plan being applied
    return diffs.render(diffs.plan_diffs(scratch, engine), "text", policy=policy)


def _engine_for(plan: Any):
    """This skyc's configured backend: a plan made elsewhere is refused, not silently followed."""
    from skyc.stacks.engine import Engine

    return Engine()


def _plan_task_file(path: str, cluster: str | None):
    """Plan a one-task YAML on `cluster` the way `skyc launch` does."""
    from skyc.compiler.spec import load_tasks
    from skyc.lifecycle import compile as lc
    from skyc.lifecycle.names import check_cluster_name, generate_cluster_name

    task = lc.single_task(load_tasks(path), "apply")
    name = check_cluster_name(cluster) if cluster else generate_cluster_name()
    return lc.build_plan(task, name)


@click.command("apply")
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("-c", "--cluster", help="Cluster name (when TARGET is a task YAML).")
@click.option("-y", "--yes", is_flag=True, help="Apply without asking.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Policy file (default $SKYC_HOME/policy.yaml).")
def apply(target: str, cluster: str | None, yes: bool, policy_file: str | None) -> int:
    """Apply a saved plan (skyc plan --out plan.json), or plan TARGET task YAML and apply it.

    A saved plan is applied exactly as reviewed; it is refused if its stacks changed since.
    """
    from skyc.compiler import policy as pol
    from skyc.compiler.plan import Plan

    if target.endswith(".json"):
        if cluster:
            raise PlanError("-c/--cluster applies to a task YAML; a saved plan already names its clusters")
        plan = Plan.load(target)
        engine = _engine_for(plan)
        check_plan(plan, engine)  # refuse a stale plan before showing anything
        result = pol.check_plan(plan, policy_file=policy_file)  # today's policy, not the one at plan time
        if not yes or not result.passed:
            click.echo(_show(plan, engine, result), nl=False)
        pol.raise_for(result)
    else:
        plan = _plan_task_file(target, cluster)
        engine = _engine_for(plan)
        from skyc.compiler import diff as diffs

        stack_diffs = diffs.plan_diffs(plan, engine)
        result = pol.check_plan(plan, policy_file=policy_file)
        click.echo(diffs.render(stack_diffs, "text", policy=result), nl=False)
        pol.raise_for(result)
        if not any(d.has_changes for d in stack_diffs):
            return 0
    if not plan.tasks:
        click.echo("Nothing to apply.")
        return 0
    if not yes and not click.confirm("Apply this plan?", default=False):
        click.echo("Not applied.")
        return 1
    inventories = apply_plan(plan, engine=engine)
    for inv in inventories:
        if inv is not None:
            head = inv.nodes[0].address if inv.nodes else "-"
            click.echo(f"Applied {inv.stack}: {len(inv.nodes)} node(s), head {head}")
    return 0
