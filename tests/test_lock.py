"""Per-stack locks: busy errors name the holder; a dead holder's lock is recovered."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from skyc.errors import StackBusyError
from skyc.stacks.lock import FileLock, StackLock


def test_second_acquire_fails_at_once_with_holder():
    first = StackLock("s1", "up")
    first.acquire()
    try:
        t = time.monotonic()
        with pytest.raises(StackBusyError, match=rf"cluster s1 is busy \(pid {os.getpid()}, operation up\)"):
            StackLock("s1", "destroy").acquire()
        assert time.monotonic() - t < 0.5  # holder alive: no waiting
        assert StackLock("s1", "x").held_by_other()  # flock is per open file, even in one process
    finally:
        first.release()
    again = StackLock("s1", "destroy")
    again.acquire()
    again.release()


def test_other_stacks_are_independent():
    a, b = StackLock("a", "up"), StackLock("b", "up")
    a.acquire()
    b.acquire()
    a.release()
    b.release()


def test_lock_of_killed_process_is_recovered(skyc_home):
    code = (
        "from skyc.stacks.lock import StackLock; import os, sys\n"
        "StackLock('dead', 'up').acquire(); print('held', flush=True); os.kill(os.getpid(), 9)"
    )
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "SKYC_HOME": str(skyc_home)},
                         capture_output=True, text=True)
    assert out.stdout.strip() == "held" and out.returncode == -9
    lock = StackLock("dead", "refresh")
    assert lock.holder()["operation"] == "up"  # the dead holder's record is still there...
    lock.acquire()  # ...but the kernel dropped its flock
    assert lock.holder()["operation"] == "refresh" and lock.holder()["pid"] == os.getpid()
    lock.release()


def test_held_by_live_child_process_is_busy(skyc_home):
    code = "from skyc.stacks.lock import StackLock; import time; StackLock('live', 'up').acquire(); print('held', flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "SKYC_HOME": str(skyc_home)},
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(StackBusyError, match=rf"pid {child.pid}, operation up"):
            StackLock("live", "up").acquire()
        assert StackLock("live", "x").held_by_other()
    finally:
        child.kill()
        child.wait()
    assert not StackLock("live", "x").held_by_other()


def test_filelock_blocks_until_released(tmp_path):
    path = tmp_path / "l"
    with FileLock(path):
        probe = FileLock(path)
        assert probe.try_acquire() is False
    assert probe.try_acquire() is True
    probe.release()


def test_lock_stays_held_by_a_child_that_inherited_it(skyc_home):
    """The engine hands its lock descriptor to the worker: the caller closing its copy (or dying)
    must not free the stack while the worker still runs."""
    lock = StackLock("shared", "up")
    lock.acquire()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], pass_fds=(lock.fd,))
    try:
        lock.release()
        with pytest.raises(StackBusyError):
            StackLock("shared", "destroy").acquire()
    finally:
        child.kill()
        child.wait()
    again = StackLock("shared", "destroy")
    again.acquire()
    again.release()
