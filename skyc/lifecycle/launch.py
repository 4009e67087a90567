"""`launch` and `exec_`: the whole path from tasks to a running job, as library calls.

The caller (the CLI) passes a UI for progress and decides how to render; these functions
return a LaunchResult and raise SkycError subclasses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from skyc import registry as reg
from skyc.compiler import policy
from skyc.compiler.local_paths import with_absolute_paths
from skyc.compiler.optimizer import Blocked
from skyc.errors import ClusterNotUpError, EngineError, ResourcesUnavailableError, SkycError
from skyc.lifecycle import compile as comp
from skyc.lifecycle import jobs as jl
from skyc.lifecycle import ops
from skyc.lifecycle.provision import provision
from skyc.stacks.base import CREDENTIALS_REJECTED


class ResourcesMismatchError(SkycError):
    """The task asks for more than the existing cluster has."""


RETRY_UNTIL_UP_GAP_S = 30.0


@dataclass
class LaunchResult:
    cluster: str
    job_id: int | None = None
    provisioned: bool = False
    notes: list[str] = field(default_factory=list)
    runtime: Any = None  # left open (keep_runtime=True) so the caller can follow logs on the same connection

    def close(self) -> None:
        if self.runtime is not None:
            self.runtime.close()
            self.runtime = None


def check_fits(task: Any, cluster: reg.Cluster) -> None:
    """An existing cluster must satisfy the request (SkyPilot's ResourcesMismatchError)."""
    want_nodes = task.num_nodes
    problems = []
    if want_nodes > cluster.num_nodes:
        problems.append(f"{want_nodes} nodes (it has {cluster.num_nodes})")
    reasons = []
    for r in task.resources.candidates:
        why = []
        if r.cloud and r.cloud != cluster.provider:
            why.append(f"infra {r.infra}")
        elif r.region and r.region != cluster.region:
            why.append(f"infra {r.infra}")
        if r.accelerator is not None:
            have = cluster.accelerators.get(r.accelerator.name, 0)
            if have < r.accelerator.count:
                why.append(f"accelerator {r.accelerator}")
        if r.cpus is not None and cluster.cpus is not None and r.cpus > cluster.cpus:
            why.append(f"{r.cpus:g} CPUs")
        if r.memory is not None and cluster.memory is not None and r.memory > cluster.memory:
            why.append(f"{r.memory:g} GiB memory")
        if not why:
            reasons = []
            break
        reasons.append(", ".join(why))
    if reasons:
        problems.append(reasons[0])
    if problems:
        raise ResourcesMismatchError(
            f"cluster {cluster.name} ({cluster.resources_str}) does not fit the request: {'; '.join(problems)}. "
            f"Launch on a new cluster name, or `skyc down {cluster.name}` first"
        )


def provision_with_failover(
    task: Any,
    cluster: str,
    *,
    ui: Any,
    retry_until_up: bool = False,
    ssh_config: bool = True,
    confirm: Callable[[Any], bool] | None = None,
    on_event: Callable[[dict], None] | None = None,
    render: bool = True,
) -> Any:
    """Plan, check the policy, (ask,) provision; on an engine failure block that placement and re-plan."""
    while True:
        blocked: list[Any] = []
        while True:
            with ui.phase("Planning"):
                plan = comp.build_plan(task, cluster, blocked, render=render and confirm is not None)
                policy.raise_for(policy.check_plan(plan))  # also for a failover placement
            plan_task = plan.tasks[0]
            if confirm is not None:
                if not confirm(plan):
                    return None
                confirm = None  # ask once; failover continues with the user's consent
            spec = plan_task.stack
            where = "/".join(p for p in (spec.provider, spec.region, spec.zone) if p)
            try:
                with ui.phase(f"Provisioning {cluster} on {where}"):
                    provision(plan_task, on_event=on_event, ssh_config=ssh_config, task=task)
                return plan_task
            except KeyboardInterrupt:
                raise
            except EngineError as e:
                ui.note(f"Provisioning on {where} failed: {str(e).splitlines()[0]}")
                _cleanup_failed(cluster)
                blocked.append(plan_task.chosen)
                if CREDENTIALS_REJECTED in str(e):
                    blocked.append(Blocked(cloud=spec.provider))  # no other placement there will work
                try:
                    comp.build_plan(task, cluster, blocked, render=False)
                except ResourcesUnavailableError:
                    break  # no placement left
                ui.note("Trying the next placement.")
        if not retry_until_up:
            raise ResourcesUnavailableError(
                f"failed to provision {cluster} on every feasible placement; retry later or add --retry-until-up"
            )
        ui.note(f"Retrying in {RETRY_UNTIL_UP_GAP_S:.0f}s (--retry-until-up).")
        time.sleep(RETRY_UNTIL_UP_GAP_S)


def _cleanup_failed(cluster: str) -> None:
    """Tear down what a failed fresh provision left, so the next placement starts clean."""
    try:
        ops.down(cluster, purge=True)
    except SkycError:
        pass


def launch(
    entrypoint: tuple[str, ...],
    cluster: str,
    overrides: comp.Overrides,
    *,
    ui: Any,
    detach: bool = False,
    idle_minutes: int | None = None,
    down: bool = False,
    retry_until_up: bool = False,
    no_setup: bool = False,
    fast: bool = False,
    wait_for: str | None = None,
    ssh_config: bool = True,
    confirm: Callable[[Any], bool] | None = None,
    dryrun: bool = False,
    on_event: Callable[[dict], None] | None = None,
    keep_runtime: bool = False,
    show_plan: bool = True,
) -> LaunchResult:
    """Provision (or reuse / restart) `cluster`, sync, set autostop, submit the task's job.
    `fast`: on a cluster that is already UP, skip file mounts and setup.

    Streaming logs is left to the caller (it owns stdout): the result carries the job id.
    """
    store = reg.Registry()
    tasks = comp.load_tasks(entrypoint, overrides)
    task = comp.single_task(tasks, "launch")
    cluster_only = not entrypoint
    result = LaunchResult(cluster)
    existing = store.get(cluster)
    if existing is not None and existing.status == reg.AUTOSTOPPING:
        raise ClusterNotUpError(f"cluster {cluster} is being autostopped; retry once `skyc status` shows it STOPPED")
    if dryrun:
        plan = comp.build_plan(task, cluster)
        result.notes.append(comp.render_plan(plan))
        return result
    reused = existing is not None and existing.status == reg.UP
    if reused:
        check_fits(task, existing)
    elif existing is not None and existing.status == reg.STOPPED:
        check_fits(task, existing)
        with ui.phase(f"Starting {cluster}"):
            ops.start(cluster, on_event=on_event, store=store, ssh_config=ssh_config)
    else:
        # New cluster, or an INIT one from an interrupted launch: provision with the current request.
        plan_task = provision_with_failover(task, cluster, ui=ui, retry_until_up=retry_until_up,
                                            ssh_config=ssh_config, confirm=confirm, on_event=on_event,
                                            render=show_plan)
        if plan_task is None:
            raise _Declined()
        result.provisioned = True
    c = store.require(cluster)
    rt = jl.runtime_for(c)
    try:
        with ui.phase("Preparing nodes"):
            rt.install_agent()
            task = with_absolute_paths(task)
            if task.workdir:
                rt.sync_workdir(task.workdir, secrets=task.secrets)
            if task.file_mounts and not (fast and reused):
                rt.sync_file_mounts(task.file_mounts)
        setting = ops.resolve_autostop(idle_minutes, down, _task_autostop(task), wait_for)
        if setting is not None and not (setting.idle_minutes < 0 and c.autostop < 0):
            ops.set_autostop(cluster, setting.idle_minutes, down=setting.down, wait_for=setting.wait_for,
                             store=store, runtime=rt)
        if not cluster_only and jl.has_work(task):
            with ui.phase("Submitting job"):
                result.job_id = rt.submit(jl.job_spec(task, c, run_setup=not (no_setup or (fast and reused))))
    except BaseException:
        rt.close()
        raise
    if keep_runtime:
        result.runtime = rt
    else:
        rt.close()
    store.update(cluster, last_use=" ".join(entrypoint) or "(cluster only)")
    return result


class _Declined(SkycError):
    """The user answered no to the plan."""

    exit_code = 1

    def __init__(self):
        super().__init__("launch cancelled: nothing was provisioned")


def _task_autostop(task: Any) -> Any:
    cands = task.resources.candidates
    return cands[0].autostop if cands else None


def exec_(entrypoint: tuple[str, ...], cluster: str, overrides: comp.Overrides, *, ui: Any,
          keep_runtime: bool = False) -> LaunchResult:
    """Sync the workdir and submit the task's run (no setup, no provisioning) on an UP cluster."""
    from skyc.errors import UsageError

    if not entrypoint:
        raise UsageError("exec needs a task YAML or a command: skyc exec CLUSTER 'echo hi'")
    store = reg.Registry()
    c = jl.require_up(cluster, store)
    task = comp.single_task(comp.load_tasks(entrypoint, overrides), "exec")
    if task.num_nodes > c.num_nodes:
        raise ResourcesMismatchError(f"the task asks for {task.num_nodes} nodes; cluster {cluster} has {c.num_nodes}")
    rt = jl.runtime_for(c)
    try:
        task = with_absolute_paths(task)
        if task.workdir:
            with ui.phase("Syncing workdir"):
                rt.sync_workdir(task.workdir, secrets=task.secrets)
        job_id = rt.submit(jl.job_spec(task, c, run_setup=False))
    except BaseException:
        rt.close()
        raise
    store.update(cluster, last_use=" ".join(entrypoint))
    if not keep_runtime:
        rt.close()
        rt = None
    return LaunchResult(cluster, job_id=job_id, runtime=rt)
