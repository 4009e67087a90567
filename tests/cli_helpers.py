"""Helpers for the CLI end-to-end tests: run `skyc` as a subprocess with an isolated home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKYC = [sys.executable, "-m", "skyc"]


def cli_env(skyc_home: Path, user_home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # The Pulumi CLI build lives in the real user cache; keep finding it under a test HOME.
    env.setdefault("XDG_CACHE_HOME", str(Path("~/.cache").expanduser()))
    env.update(SKYC_HOME=str(skyc_home), HOME=str(user_home), PYTHONPATH=str(ROOT), **extra)
    return env


def skyc(env: dict, *args: str, timeout: float = 180, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*SKYC, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, stdin=subprocess.DEVNULL)


def procs_using(path: Path) -> list[tuple[int, str]]:
    """Processes (other than this one) whose command line or environment mentions `path`."""
    needle = str(path).encode()
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
            env = (d / "environ").read_bytes()
        except OSError:
            continue
        if needle in cmd or needle in env:
            found.append((int(d.name), cmd.replace(b"\0", b" ").decode(errors="replace")[:200]))
    return found


def stop_controller(env: dict) -> None:
    subprocess.run([*SKYC[:1], "-c", "from skyc.controller import daemon; daemon.stop_running()"], env=env,
                   capture_output=True, timeout=30)
