"""Cluster lifecycle as library calls: the CLI (and `skyc apply`) stay thin on top of these.

Imports are lazy so `from skyc.lifecycle import provision` costs nothing until called.
"""

from __future__ import annotations

from typing import Any


def provision(plan_task: Any, **kwargs: Any):
    from skyc.lifecycle.provision import provision as _provision

    return _provision(plan_task, **kwargs)


def launch(*args: Any, **kwargs: Any):
    from skyc.lifecycle.launch import launch as _launch

    return _launch(*args, **kwargs)


def exec_(*args: Any, **kwargs: Any):
    from skyc.lifecycle.launch import exec_ as _exec

    return _exec(*args, **kwargs)


def stop(name: str, **kwargs: Any):
    from skyc.lifecycle.ops import stop as _stop

    return _stop(name, **kwargs)


def start(name: str, **kwargs: Any):
    from skyc.lifecycle.ops import start as _start

    return _start(name, **kwargs)


def down(name: str, **kwargs: Any):
    from skyc.lifecycle.ops import down as _down

    return _down(name, **kwargs)


def autostop(name: str, idle_minutes: int, **kwargs: Any):
    from skyc.lifecycle.ops import set_autostop

    return set_autostop(name, idle_minutes, **kwargs)
