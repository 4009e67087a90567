"""Autostop: the pure policy, SkyPilot's flag rules, and the controller's lifetime."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from skyc.controller import daemon
from skyc.controller.autostop import decide
from skyc.lifecycle.ops import resolve_autostop
from skyc.compiler.resources import AutostopConfig


@pytest.mark.parametrize(
    "idle,minutes,down,expected",
    [(0, 1, False, None), (59.9, 1, False, None), (60, 1, False, "stop"), (60, 1, True, "down"),
     (3599, 60, False, None), (3600, 60, True, "down"), (10_000, -1, False, None), (120, 0, False, "stop")],
)
def test_decide(idle, minutes, down, expected):
    assert decide(idle, minutes, down) == expected


def test_resolve_autostop_rules():
    assert resolve_autostop(None, False, None) is None  # leave an existing setting alone
    assert resolve_autostop(None, True, None).__dict__ == {"idle_minutes": 1, "down": True, "wait_for": "jobs_and_ssh"}
    assert resolve_autostop(0, False, None).idle_minutes == 1
    assert resolve_autostop(10, False, AutostopConfig(idle_minutes=3, down=True)).__dict__ == {
        "idle_minutes": 10, "down": False, "wait_for": "jobs_and_ssh"}  # -i overrides the YAML
    yaml_cfg = resolve_autostop(None, False, AutostopConfig(idle_minutes=7, down=True, wait_for="jobs"))
    assert (yaml_cfg.idle_minutes, yaml_cfg.down, yaml_cfg.wait_for) == (7, True, "jobs")
    assert resolve_autostop(None, False, AutostopConfig(enabled=False)).idle_minutes == -1
    # --wait-for beats the task's setting and applies to -i and --down alike
    assert resolve_autostop(None, False, AutostopConfig(idle_minutes=7, wait_for="jobs"), "none").wait_for == "none"
    assert resolve_autostop(5, False, None, "jobs").wait_for == "jobs"
    assert resolve_autostop(None, True, None, "none").wait_for == "none"


def test_controller_single_instance_and_exits_when_idle(skyc_home, monkeypatch):
    monkeypatch.setenv("SKYC_CONTROLLER_INTERVAL", "0.3")
    from skyc import registry as reg

    reg.Registry().add(reg.Cluster(name="w", status=reg.UP, stack="w", autostop=5,
                                   inventory={"stack": "w", "provider": "local", "nodes": []}))
    pid = daemon.ensure_running()
    assert pid
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not daemon.status()["running"]:
        time.sleep(0.05)
    st = daemon.status()
    assert st["running"] and st["pid"] == pid
    assert daemon.ensure_running() is None  # one per SKYC_HOME
    # A second process started by hand exits at once (the lock is held).
    r = subprocess.run([sys.executable, "-m", "skyc.controller.daemon"], env=os.environ, timeout=20)
    assert r.returncode == 0 and daemon.status()["pid"] == pid
    # Nothing left to watch -> the controller exits by itself.
    reg.Registry().update("w", autostop=-1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and daemon.status()["running"]:
        time.sleep(0.1)
    assert not daemon.status()["running"]
    assert "nothing left to watch" in daemon.log_path().read_text()
    daemon.stop_running()


def test_controller_restarts_cleanly_after_kill(skyc_home, monkeypatch):
    monkeypatch.setenv("SKYC_CONTROLLER_INTERVAL", "0.3")
    from skyc import registry as reg

    reg.Registry().add(reg.Cluster(name="w", status=reg.UP, stack="w", autostop=5,
                                   inventory={"stack": "w", "provider": "local", "nodes": []}))
    first = daemon.ensure_running()
    while not daemon.status()["running"]:
        time.sleep(0.05)
    os.kill(first, 9)
    os.waitpid(first, 0)
    assert not daemon.status()["running"]  # the flock died with it: no stale pidfile trap
    second = daemon.ensure_running()
    assert second and second != first
    while not daemon.status()["running"]:
        time.sleep(0.05)
    assert daemon.stop_running()
    os.waitpid(second, 0)
