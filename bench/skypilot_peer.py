"""The peer for side-by-side benchmarks: SkyPilot 0.14.1 from PyPI in its own virtualenv.

`python()` returns that venv's interpreter, creating it on first use under the user cache
(`$XDG_CACHE_HOME/skyc/bench/skypilot-<version>`); nothing of it is imported into skyc's venv.
Returns None (with the reason on stderr) when it cannot be installed, so a benchmark can still
print its own figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

VERSION = os.environ.get("SKYC_BENCH_SKYPILOT_VERSION", "0.14.1")


def venv_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "skyc" / "bench" / f"skypilot-{VERSION}"


def python(extras: str = "") -> Path | None:
    """The peer interpreter; `extras` such as "[serve]" are installed too (once)."""
    root = venv_dir()
    py = root / "bin" / "python"
    stamp = root / f".installed{extras}"
    if stamp.exists():
        return py
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", f"skypilot{extras}=={VERSION}"], check=True)
    except (subprocess.CalledProcessError, OSError) as e:
        print(f"peer SkyPilot {VERSION} unavailable: {e}", file=sys.stderr)
        return None
    stamp.write_text(VERSION + "\n")
    return py


if __name__ == "__main__":
    print(python(sys.argv[1] if len(sys.argv) > 1 else ""))
