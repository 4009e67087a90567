"""`skyc plan TASK.yaml`: choose where each task runs, show the cost, alternatives and the
resources its stack would create; `--out plan.json` saves the artifact `skyc apply` consumes."""

from __future__ import annotations

from pathlib import Path

import click


def load_planned_tasks(path: str, *, envs=(), env_file=None, secrets=(), gpus=None, infra=None, use_spot=None,
                       cpus=None, memory=None, num_nodes=None) -> list:
    from skyc.compiler import spec
    from skyc.compiler.envs import parse_env_pairs

    tasks = spec.load_tasks(path, env_overrides=parse_env_pairs(envs, flag="--env"), env_file=env_file,
                            secret_overrides=parse_env_pairs(secrets, flag="--secret"))
    kw = {"gpus": gpus, "infra": infra, "use_spot": use_spot, "cpus": cpus, "memory": memory, "num_nodes": num_nodes}
    kw = {k: v for k, v in kw.items() if v is not None}
    return [spec.apply_overrides(t, **kw) for t in tasks] if kw else tasks


def attach_review(plan, review) -> None:
    """Actions from the diffs (an existing stack is updated or left alone) and the review for JSON."""
    by_stack = {d.stack: d for d in review.diffs}
    for t in plan.tasks:
        d = by_stack.get(t.stack.stack)
        if d is not None and d.base_version is not None:
            t.base_version = d.base_version
            t.action = "update" if d.has_changes else "no-op"
    plan.review = review.to_json()


@click.command("plan")
@click.argument("task_yaml", type=click.Path(dir_okay=False))
@click.option("-c", "--cluster", help="Cluster name (default: a generated skyc-<4hex>).")
@click.option("-o", "--output", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Save the plan artifact (JSON) for `skyc apply`.")
@click.option("--offline", is_flag=True, help="Plan as if every provider had credentials (CI review).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when nothing changes, 2 when something would, 1 on error.")
@click.option("--no-render", is_flag=True, help="Skip listing the stack's resources (faster; no Pulumi import).")
@click.option("--preview", is_flag=True, help="Diff with the engine's real preview (needs the provider plugin and credentials).")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Policy file (default $SKYC_HOME/policy.yaml).")
@click.option("--env", "envs", multiple=True, metavar="KEY[=VALUE]", help="Override an env. Repeatable.")
@click.option("--env-file", type=click.Path(dir_okay=False), help="dotenv file of envs.")
@click.option("--secret", "secrets", multiple=True, metavar="KEY[=VALUE]", help="Override a secret. Repeatable.")
@click.option("--gpus", help="Accelerators, e.g. A100:8 (none clears).")
@click.option("--infra", help="cloud[/region[/zone]], k8s/<context>, ssh/<pool>.")
@click.option("--use-spot/--no-use-spot", default=None, help="Spot instances.")
@click.option("--cpus", help="vCPUs per node: 8 or 8+.")
@click.option("--memory", help="GiB per node: 32 or 32+.")
@click.option("--num-nodes", type=int, help="Number of nodes.")
def plan(task_yaml: str, cluster: str | None, output: str, out: str | None, offline: bool, detailed_exitcode: bool,
         no_render: bool, preview: bool, policy_file: str | None, envs, env_file, secrets, gpus, infra, use_spot, cpus, memory,
         num_nodes) -> int:
    """Plan TASK_YAML: cheapest placement, failover order, cost and resources, for review.

    Nothing is created. Exit codes: 0 ok (with --detailed-exitcode: no changes), 2 changes
    (--detailed-exitcode), 1 error or policy violation.
    """
    from skyc.compiler.plan import build_plan, render
    from skyc.errors import PlanError, UsageError

    if preview and (offline or no_render):
        raise UsageError("--preview asks the engine about real infrastructure; it does not combine with "
                         f"{'--offline' if offline else '--no-render'}")
    tasks = load_planned_tasks(task_yaml, envs=envs, env_file=env_file, secrets=secrets, gpus=gpus, infra=infra,
                               use_spot=use_spot, cpus=cpus, memory=memory, num_nodes=num_nodes)
    the_plan = build_plan(tasks, cluster=cluster, offline=offline, render=not no_render)
    from skyc.compiler import review as rv

    if no_render:
        # No rendering means no per-resource diff: an existing stack changes when its spec does.
        from skyc.compiler import policy as pol
        from skyc.stacks.engine import Engine

        engine = Engine()
        for t in the_plan.tasks:
            t.base_version = engine.version(t.stack.stack)
            old = engine.last_spec(t.stack.stack) if t.base_version is not None else None
            if old is None:
                t.action = "create"
            else:
                t.action = "no-op" if t.stack.with_keys_of(old) == old else "update"
        review = rv.Review(policy=pol.check_plan(the_plan, policy_file=policy_file))
        changed = any(t.action != "no-op" for t in the_plan.tasks)
    else:
        if preview:
            from skyc.stacks.render import preview_available

            for t in the_plan.tasks:
                ok, why = preview_available(t.stack)
                if not ok:
                    raise PlanError(f"cannot preview {t.cluster} on {t.chosen.where}: {why}; "
                                    "drop --preview for the offline diff")
        review = rv.review(the_plan, policy_file=policy_file, offline=offline, preview=preview)
        attach_review(the_plan, review)
        changed = review.has_changes
    if out:
        the_plan.save(out)
    if output == "json":
        click.echo(render(the_plan, "json"), nl=False)
    else:
        text = render(the_plan, output)
        if not no_render or not review.policy.passed:
            text += "\n" + review.render(output, title="Changes")
        click.echo(text, nl=False)
        if out:
            click.echo(f"\nSaved plan to {Path(out)}; apply it with `skyc apply {out}`.")
    review.raise_for_policy()
    if detailed_exitcode:
        return 2 if changed else 0
    return 0
