"""stop / start / down / autostop of registered clusters. Library functions: they print nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from skyc import registry as reg
from skyc import sshconfig
from skyc.errors import ClusterNotUpError, ProviderError, SkycError
from skyc.lifecycle.provision import _record_up, inventory_of, recorded_spec

OnEvent = Callable[[dict], None]
DEFAULT_AUTOSTOP_MINUTES = 5  # `skyc autostop NAME` without -i, as SkyPilot


def _engine():
    from skyc.stacks.engine import Engine

    return Engine()


def _close_ssh(cluster: reg.Cluster) -> None:
    """Stop our ssh multiplexing masters for the cluster before its nodes go away."""
    if not cluster.inventory:
        return
    try:
        from skyc.runtime.sync import SSHOptions

        SSHOptions(inventory_of(cluster)).close()
    except Exception:  # noqa: BLE001 - best effort: the nodes may already be gone
        pass


def stop(name: str, *, on_event: OnEvent | None = None, store: reg.Registry | None = None) -> reg.Cluster:
    """Stop the nodes, keep their disks (and the SSH entries)."""
    store = store or reg.Registry()
    c = store.require(name)
    if c.status == reg.STOPPED:
        return c
    from skyc.stacks import registry as providers
    from skyc.stacks.base import SupportsStopStart, supports

    if not supports(providers.get(c.provider), SupportsStopStart):
        raise ProviderError(f"{c.provider} clusters cannot be stopped; use `skyc down {name}`")
    spec = recorded_spec(c)
    if spec.use_spot:
        raise ProviderError(f"spot cluster {name} cannot be stopped; use `skyc down {name}`")
    _close_ssh(c)
    _engine().up(spec.model_copy(update={"stopped": True}), on_event=on_event)
    return store.update(name, status=reg.STOPPED)


def start(name: str, *, on_event: OnEvent | None = None, store: reg.Registry | None = None,
          ssh_config: bool = True) -> reg.Cluster:
    """Start a STOPPED (or INIT) cluster in place: same provider, region and zone, no failover."""
    store = store or reg.Registry()
    c = store.require(name)
    if c.status == reg.UP:
        return c
    spec = recorded_spec(c)
    store.update(name, status=reg.INIT)
    inv = _engine().up(spec.model_copy(update={"stopped": False}), on_event=on_event)
    _record_up(store, name, inv, ssh_config=ssh_config)
    c = store.require(name)
    if c.autostop >= 0:
        # A restart resets the idle clock, and the node's agent must hold the setting again.
        set_autostop(name, c.autostop, down=c.to_down, wait_for=c.wait_for, store=store)
    return store.require(name)


def down(name: str, *, purge: bool = False, on_event: OnEvent | None = None,
         store: reg.Registry | None = None) -> None:
    """Destroy the stack and forget the cluster; `purge` forgets it even when teardown fails."""
    store = store or reg.Registry()
    c = store.get(name)
    engine = _engine()
    if c is None and name not in engine.stacks():
        from skyc.errors import ClusterNotFoundError

        raise ClusterNotFoundError(f"cluster {name!r} does not exist; `skyc status` lists clusters")
    if c is not None:
        _close_ssh(c)
    try:
        engine.destroy(name, on_event=on_event)
    except SkycError:
        if not purge:
            raise
    store.remove(name)
    sshconfig.remove_cluster(name)


@dataclass
class AutostopSetting:
    idle_minutes: int  # -1 = cancel
    down: bool = False
    wait_for: str = "jobs_and_ssh"


def resolve_autostop(idle_minutes: int | None, down: bool, task_autostop: Any = None,
                     wait_for: str | None = None) -> AutostopSetting | None:
    """What launch/start should set: `-i` beats the task's `resources.autostop`; `--down` alone
    means 1 minute; 0 is raised to 1 (SkyPilot); `wait_for` (flag) beats the task's.
    None = leave an existing setting untouched."""
    if idle_minutes is not None:
        if idle_minutes < 0:
            return AutostopSetting(-1)
        return AutostopSetting(max(1, idle_minutes), down, wait_for or "jobs_and_ssh")
    if down:
        return AutostopSetting(1, True, wait_for or "jobs_and_ssh")
    if task_autostop is not None:
        if not task_autostop.enabled:
            return AutostopSetting(-1)
        return AutostopSetting(max(1, task_autostop.idle_minutes), task_autostop.down,
                               wait_for or task_autostop.wait_for)
    return None


def set_autostop(name: str, idle_minutes: int, *, down: bool = False, wait_for: str = "jobs_and_ssh",
                 store: reg.Registry | None = None, runtime: Any = None) -> reg.Cluster:
    """Record the setting, tell the head's agent (which restarts its idle clock) and make sure
    the controller that acts on it runs. idle_minutes < 0 cancels."""
    store = store or reg.Registry()
    c = store.require(name)
    if c.status not in (reg.UP,):
        raise ClusterNotUpError(f"cluster {name} is {c.status}; autostop needs an UP cluster (`skyc start {name}`)")
    cancel = idle_minutes < 0
    own = runtime is None
    if own:
        from skyc.runtime.cluster import ClusterRuntime

        runtime = ClusterRuntime(inventory_of(c))
    try:
        runtime.set_autostop(-1 if cancel else idle_minutes, False if cancel else down, wait_for)
    finally:
        if own:
            runtime.close()
    c = store.update(name, autostop=-1 if cancel else idle_minutes, to_down=False if cancel else down, wait_for=wait_for)
    if not cancel:
        from skyc.controller import daemon

        daemon.ensure_running()
    return c
