"""The background controller: one detached process per SKYC_HOME that acts when no `skyc` runs.

Started on demand (`ensure_running`) when something needs it (a cluster with autostop); holds
an exclusive flock for its whole life, so a second start exits at once and a crashed one is
replaced cleanly. Each concern (autostop now; managed jobs and services later) is one step
function `tick(store) -> bool` ("still has work"); the loop exits when none has work left.
Poll interval: `SKYC_CONTROLLER_INTERVAL` seconds (default 15).
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from skyc import paths

DEFAULT_INTERVAL = 15.0


def controller_dir() -> Path:
    return paths.home() / "controller"


def lock_path() -> Path:
    return controller_dir() / "daemon.lock"


def pid_path() -> Path:
    return controller_dir() / "daemon.pid"


def log_path() -> Path:
    return controller_dir() / "controller.log"


def interval() -> float:
    try:
        return max(0.2, float(os.environ.get("SKYC_CONTROLLER_INTERVAL", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def concerns() -> list[Callable]:
    """The step functions the loop runs, in order."""
    from skyc.controller import autostop

    return [autostop.tick]


def status() -> dict:
    """{"running": bool, "pid": int | None} without disturbing a running controller."""
    lock = lock_path()
    if not lock.exists():
        return {"running": False, "pid": None}
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                pid = int(pid_path().read_text().strip())
            except (OSError, ValueError):
                pid = None
            return {"running": True, "pid": pid}
        fcntl.flock(fh, fcntl.LOCK_UN)
    return {"running": False, "pid": None}


def ensure_running() -> int | None:
    """Start the controller unless one holds the lock; returns the new process id (or None)."""
    if status()["running"]:
        return None
    controller_dir().mkdir(parents=True, exist_ok=True)
    with open(log_path(), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "skyc.controller.daemon"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # detached: survives the skyc command and its terminal
            close_fds=True,
            cwd="/",
        )
    return proc.pid


def stop_running(timeout: float = 10.0) -> bool:
    """Terminate the running controller (tests, `skyc down --all`); True if one was stopped."""
    st = status()
    if not st["running"] or not st["pid"]:
        return False
    import signal

    try:
        os.kill(st["pid"], signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and status()["running"]:
        time.sleep(0.05)
    return True


def run_forever() -> int:
    controller_dir().mkdir(parents=True, exist_ok=True)
    fh = open(lock_path(), "a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another controller is running
    pid_path().write_text(f"{os.getpid()}\n")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    log = logging.getLogger("skyc.controller")
    import signal

    stopping = {"flag": False}

    def _term(*_):
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    from skyc import registry as reg

    store = reg.Registry()
    log.info("controller started (pid %d, interval %.1fs)", os.getpid(), interval())
    try:
        while not stopping["flag"]:
            busy = False
            for step in concerns():
                try:
                    busy = bool(step(store)) or busy
                except Exception as e:  # noqa: BLE001 - a failing concern must not kill the others
                    log.exception("controller step %s failed: %s", getattr(step, "__module__", step), e)
                    busy = True
            if not busy:
                log.info("nothing left to watch; exiting")
                break
            end = time.monotonic() + interval()
            while not stopping["flag"] and time.monotonic() < end:
                time.sleep(min(0.2, interval()))
    finally:
        pid_path().unlink(missing_ok=True)
        store.close()
        fh.close()
    return 0


if __name__ == "__main__":
    sys.exit(run_forever())
