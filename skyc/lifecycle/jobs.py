"""Jobs on a registered cluster: a runtime from the registry's inventory, and job specs from tasks."""

from __future__ import annotations

from typing import Any

from skyc import registry as reg
from skyc.errors import ClusterNotUpError
from skyc.lifecycle.provision import inventory_of


def require_up(name: str, store: reg.Registry | None = None) -> reg.Cluster:
    store = store or reg.Registry()
    c = store.require(name)
    if c.status != reg.UP:
        hint = f"`skyc start {name}`" if c.status in (reg.STOPPED, reg.INIT) else "wait for it to finish"
        raise ClusterNotUpError(f"cluster {name} is {c.status}, not UP; {hint}")
    return c


def runtime_for(cluster: reg.Cluster):
    from skyc.runtime.cluster import ClusterRuntime

    return ClusterRuntime(inventory_of(cluster))


def accelerators_of(task: Any) -> dict[str, float]:
    """The job's per-node accelerator demand: the first candidate's accelerator, if any."""
    cands = task.resources.candidates
    acc = cands[0].accelerator if cands else None
    return {acc.name: acc.count} if acc is not None else {}


def job_spec(task: Any, cluster: reg.Cluster, *, run_setup: bool):
    from skyc.runtime.cluster import JobSpec

    return JobSpec(
        name=task.name,
        run=task.run,
        setup=task.setup if run_setup else None,
        envs={**_git_envs(task), **task.envs},
        secrets=dict(task.secrets),
        num_nodes=task.num_nodes,
        accelerators=accelerators_of(task),
        cluster_name=cluster.name,
        cloud=cluster.provider,
        region=cluster.region,
        zone=cluster.zone,
        run_setup=run_setup,
    )


def _git_envs(task: Any) -> dict[str, str]:
    if task.workdir is None or isinstance(task.workdir, str):
        return {}
    from skyc.runtime.sync import git_envs

    return git_envs(task.workdir.model_dump(exclude_none=True))


def has_work(task: Any) -> bool:
    return bool(task.run or task.setup)
