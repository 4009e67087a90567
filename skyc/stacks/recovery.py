"""Clean-up after an interrupted Pulumi operation, run while holding the stack's lock.

A worker killed mid-operation can leave: its Pulumi CLI and dynamic-provider plugin running
(re-parented to init), Pulumi's own lock file for the stack, and in a file backend half-written
blob files (a 0-byte `.attrs` sidecar, a temp file never renamed) that make the next operation
fail with "failed to load checkpoint: EOF".
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from skyc import paths
from skyc.stacks.lock import pid_alive


def reap_orphans() -> None:
    """Stop Pulumi CLIs and dynamic-provider plugins of this SKYC_HOME whose parent died (a
    killed worker leaves them running). Live operations on other stacks are left alone: their
    CLI's parent is a Python process and their plugin's parent is a CLI."""
    marker = f"PULUMI_HOME={paths.pulumi_home()}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if b"pulumi" not in cmdline or marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            parent = Path(f"/proc/{ppid}/cmdline").read_bytes() if ppid > 1 else b""
        except (OSError, ValueError, IndexError):
            continue
        plugin = b"pulumi.dynamic" in cmdline
        is_cli = is_pulumi_process(int(entry.name))
        # A CLI's parent is a Python process (worker, or a caller doing a read); once that dies the
        # CLI is re-parented to init or a subreaper.
        if plugin and not is_pulumi_process(ppid) or is_cli and b"python" not in parent.split(b"\0")[0]:
            terminate(int(entry.name), timeout=5.0)


def is_pulumi_process(pid: int) -> bool:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    return os.path.basename(exe).startswith("pulumi")


def terminate(pid: int, timeout: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGINT)  # Pulumi's graceful cancel
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):  # gone, or a zombie nobody reaps
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def clear_stale_pulumi_locks(backend_dir: Path, project: str, stack: str) -> None:
    """Drop Pulumi's lock files (and their sidecars) of the stack."""
    lock_dir = backend_dir / ".pulumi" / "locks" / "organization" / project / stack
    # Their owners were orphans, stopped by reap_orphans (a pid in the file may be reused by now).
    for f in lock_dir.iterdir() if lock_dir.is_dir() else []:
        f.unlink(missing_ok=True)


def repair_file_state(backend_dir: Path, project: str, stack: str) -> list[str]:
    """Undo half-finished blob writes of the stack in a file backend; returns what was fixed."""
    root = backend_dir / ".pulumi"
    fixed: list[str] = []
    stacks = root / "stacks" / project
    history = root / "history" / project / stack
    candidates = list(stacks.glob(f"{stack}.json*")) if stacks.is_dir() else []
    candidates += list(history.iterdir()) if history.is_dir() else []
    for f in candidates:
        name = f.name
        if name.endswith(".tmp"):  # a write that never got renamed into place
            f.unlink(missing_ok=True)
            fixed.append(name)
        elif name.endswith(".attrs") and not _valid_json(f):
            f.unlink(missing_ok=True)  # no sidecar is valid (no metadata); a broken one is not
            fixed.append(name)
    checkpoint = stacks / f"{stack}.json"
    backup = stacks / f"{stack}.json.bak"
    if checkpoint.exists() and not _valid_json(checkpoint) and backup.exists() and _valid_json(backup):
        os.replace(backup, checkpoint)
        (stacks / f"{stack}.json.attrs").unlink(missing_ok=True)
        fixed.append(checkpoint.name)
    return fixed


def _valid_json(path: Path) -> bool:
    try:
        json.loads(path.read_bytes() or b"x")
        return True
    except (OSError, ValueError):
        return False
