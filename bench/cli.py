"""CLI wall times, whole process as a user feels them: --help, status (0 / 50 clusters),
launch to first output line, exec to first output on the live cluster, down.

Goals: --help and status <= 0.2 s, launch to first line <= 10 s, exec <= 1 s.
Runs in a temporary SKYC_HOME and HOME (no ~/.ssh/config is touched).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKYC = [sys.executable, "-m", "skyc"]
REPEAT = 5


def _env(home: Path) -> dict:
    env = dict(os.environ)
    env.setdefault("XDG_CACHE_HOME", str(Path("~/.cache").expanduser()))
    env.update(SKYC_HOME=str(home / "skyc"), HOME=str(home / "user"), PYTHONPATH=str(ROOT))
    (home / "user").mkdir(parents=True, exist_ok=True)
    return env


def whole(env: dict, *args: str) -> float:
    t = time.perf_counter()
    r = subprocess.run([*SKYC, *args], env=env, capture_output=True, cwd=ROOT)
    if r.returncode != 0:
        print(f"skyc {' '.join(args)} failed: {r.stderr.decode().strip().splitlines()[-1:]}", file=sys.stderr)
        return float("nan")
    return time.perf_counter() - t


def to_first_line(env: dict, *args: str) -> tuple[float, float]:
    """(seconds to the first stdout line, seconds to exit)."""
    t = time.perf_counter()
    p = subprocess.Popen([*SKYC, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert p.stdout is not None
    p.stdout.readline()
    first = time.perf_counter() - t
    p.communicate()
    if p.returncode != 0:
        raise SystemExit(f"skyc {' '.join(args)} exited {p.returncode}")
    return first, time.perf_counter() - t


def best(fn, n: int = REPEAT) -> float:
    return min((fn() for _ in range(n)), key=lambda x: (x != x, x))  # nan (failed) sorts last


def fill_registry(env: dict, n: int) -> None:
    code = (
        "from skyc import registry as r\n"
        "s = r.Registry()\n"
        f"for i in range({n}):\n"
        "    s.add(r.Cluster(name=f'b{i:02d}', status=r.UP, stack=f'b{i:02d}', provider='aws', region='us-east-1',"
        " resources_str='1x aws(m6i.2xlarge)', hourly_price=0.38))\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory(prefix="skyc-bench-", dir="/tmp") as tmp:
        env = _env(Path(tmp) / "a")
        rows.append(("skyc --help", best(lambda: whole(env, "--help")), 0.2))
        rows.append(("skyc status (0 clusters)", best(lambda: whole(env, "status")), 0.2))
        launch_first, launch_total = to_first_line(env, "launch", "-y", "-c", "b", "examples/hello.yaml")
        rows.append(("skyc launch -y hello.yaml: first line", launch_first, 10.0))
        rows.append(("skyc launch -y hello.yaml: exit", launch_total, None))
        exec_first = min(to_first_line(env, "exec", "b", "echo hi")[0] for _ in range(REPEAT))
        rows.append(("skyc exec b 'echo hi': first line", exec_first, 1.0))
        rows.append(("skyc status (1 live cluster)", best(lambda: whole(env, "status")), 0.2))
        rows.append(("skyc down -y b", whole(env, "down", "-y", "b"), None))
        env50 = _env(Path(tmp) / "b")
        fill_registry(env50, 50)
        rows.append(("skyc status (50 clusters)", best(lambda: whole(env50, "status")), 0.2))
        rows.append(("skyc status -o json (50 clusters)", best(lambda: whole(env50, "status", "-o", "json")), 0.2))
    print(f"{'command':44} {'seconds':>8} {'goal':>6}  ")
    for name, secs, goal in rows:
        mark = "" if goal is None else ("ok" if secs <= goal else "FAILED" if secs != secs else "SLOW")
        print(f"{name:44} {secs:8.3f} {'' if goal is None else f'{goal:.1f}':>6}  {mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
