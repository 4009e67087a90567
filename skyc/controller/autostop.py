"""Autostop policy and its controller step.

`decide` is the pure policy; `tick` applies it to every UP cluster with autostop set, asking
each head's agent how long the cluster has been idle.
"""

from __future__ import annotations

import logging
from typing import Literal

from skyc import registry as reg

log = logging.getLogger("skyc.controller.autostop")

Action = Literal["stop", "down"]


def decide(idle_seconds: float, idle_minutes: int, to_down: bool) -> Action | None:
    """Act once whole idle minutes reach the setting (SkyPilot: floor(idle / 60) >= minutes)."""
    if idle_minutes < 0 or idle_seconds < 0:
        return None
    if int(idle_seconds // 60) >= idle_minutes:
        return "down" if to_down else "stop"
    return None


def idle_seconds(cluster: reg.Cluster) -> float:
    from skyc.lifecycle.provision import inventory_of
    from skyc.runtime.cluster import ClusterRuntime

    with ClusterRuntime(inventory_of(cluster)) as rt:
        return rt.idle_seconds(cluster.wait_for)


def act(cluster: reg.Cluster, action: Action, store: reg.Registry) -> None:
    from skyc.lifecycle import ops

    store.update(cluster.name, status=reg.AUTOSTOPPING)
    try:
        if action == "down":
            ops.down(cluster.name, store=store)
        else:
            ops.stop(cluster.name, store=store)
    except Exception:
        # Leave the cluster UP so the next tick retries (or a user sees it and acts).
        if store.get(cluster.name) is not None:
            store.update(cluster.name, status=reg.UP)
        raise


def tick(store: reg.Registry) -> bool:
    """One pass; returns whether any cluster still has autostop set (the controller keeps running)."""
    for cluster in store.with_autostop():
        try:
            idle = idle_seconds(cluster)
        except Exception as e:  # noqa: BLE001 - one unreachable cluster must not stop the loop
            log.warning("autostop: cannot read idleness of %s: %s", cluster.name, e)
            continue
        action = decide(idle, cluster.autostop, cluster.to_down)
        log.info("autostop: %s idle %.0fs (limit %d min) -> %s", cluster.name, idle, cluster.autostop, action)
        if action is not None:
            try:
                act(cluster, action, store)
                log.info("autostop: %s %s", action, cluster.name)
            except Exception as e:  # noqa: BLE001
                log.error("autostop: %s of %s failed: %s", action, cluster.name, e)
    return bool(store.with_autostop())
