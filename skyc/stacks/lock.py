"""Exclusive, non-blocking file locks (`fcntl.flock`) that record who holds them.

flock is released by the kernel when the holder dies, so a lock left by a crashed process is
recovered without any clean-up. The lock file's body (JSON: pid, operation) only names the holder
for the busy message.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from skyc import paths
from skyc.errors import StackBusyError


class FileLock:
    """`with FileLock(path): ...` blocks until held; `try_acquire()` never blocks."""

    def __init__(self, path: Path, *, info: dict | None = None):
        self.path = Path(path)
        self.info = info or {}
        self.fd: int | None = None

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    def _record(self) -> None:
        body = json.dumps({"pid": os.getpid(), "since": time.time(), **self.info}).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, body, 0)

    def acquire(self) -> None:
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        self.fd = fd
        self._record()

    def try_acquire(self) -> bool:
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        self._record()
        return True

    def adopt(self, fd: int) -> None:
        """Take over an inherited, already locked descriptor and record this process as holder."""
        self.fd = fd
        self._record()

    def holder(self) -> dict:
        """What the current holder recorded ({} if unreadable)."""
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def release(self) -> None:
        # Close, never LOCK_UN: a worker process that inherited this descriptor shares the lock,
        # and LOCK_UN would drop it for the worker too. The kernel frees it when the last copy closes.
        if self.fd is None:
            return
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class StackLock(FileLock):
    """One operation at a time per stack; a second one fails at once with StackBusyError."""

    def __init__(self, stack: str, operation: str):
        super().__init__(paths.locks_dir() / f"{stack}.lock", info={"stack": stack, "operation": operation})
        self.stack = stack

    def held_by_other(self) -> bool:
        if self.try_acquire():
            self.release()
            return False
        return True

    def acquire(self) -> None:  # type: ignore[override]
        if self.try_acquire():
            return
        # A holder that was just killed may still be releasing its descriptors: give it a moment.
        deadline = time.monotonic() + 2.0
        while not pid_alive(self.holder().get("pid")) and time.monotonic() < deadline:
            if self.try_acquire():
                return
            time.sleep(0.05)
        if not self.try_acquire():
            held = self.holder()
            who = f"pid {held.get('pid', '?')}, operation {held.get('operation', '?')}"
            raise StackBusyError(f"cluster {self.stack} is busy ({who}); retry when it finishes")


def pid_alive(pid: object) -> bool:
    """Whether `pid` runs. A zombie counts as dead, though its other threads may still be
    dropping the descriptors for a moment: the caller retries briefly."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True
