"""Find (or build) the Pulumi CLI and give the engine a `PulumiCommand` that can run dynamic providers.

Resolution order: a `pulumi` on PATH at least MIN_VERSION; the cached build
`<cache>/pulumi/<PINNED_VERSION>/bin/pulumi`; else build it from Go modules with
`scripts/build-pulumi.sh`. The chosen binary is linked into a private root next to the
`pulumi-resource-pulumi-python` launcher that runs this interpreter's `pulumi.dynamic`.

`python -m skyc.stacks.pulumi_cli ensure` resolves (building if needed) and prints what it found.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from skyc import paths
from skyc.errors import PulumiCLIError

MIN_VERSION = (3, 181, 0)  # inline refresh/destroy need it
PINNED_VERSION = os.environ.get("SKYC_PULUMI_VERSION", "3.274.1")
LAUNCHER = "pulumi-resource-pulumi-python"
INSTALL_HELP = (
    "install the Pulumi CLI (https://www.pulumi.com/docs/install/) or Go >= 1.25 "
    "(https://go.dev/doc/install) so skyc can build it, then run scripts/setup"
)

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class Resolved:
    pulumi: Path  # the real binary
    version: str
    source: str  # "path" | "cache" | "build"
    root: Path  # PulumiCommand root: <root>/bin has pulumi + the launcher


def parse_version(text: str) -> tuple[int, int, int] | None:
    m = _VERSION_RE.match(text.strip())
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def cli_version(exe: Path | str) -> str | None:
    """What `<exe> version` prints, or None when it cannot run. Memoised per binary (path, size,
    mtime) in the cache: every engine operation resolves the CLI, and a CLI start costs ~0.2 s."""
    try:
        st = os.stat(exe)
    except OSError:
        return None
    key = f"{os.path.abspath(exe)}|{st.st_size}|{st.st_mtime_ns}"
    memo_path = paths.cache_dir() / "pulumi" / "versions.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    if key in memo:
        return memo[key]
    ver = _run_version(exe)
    if ver is not None:
        memo[key] = ver
        try:
            memo_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo_path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(memo))
            os.replace(tmp, memo_path)
        except OSError:
            pass
    return ver


def _run_version(exe: Path | str) -> str | None:
    try:
        out = subprocess.run(
            [str(exe), "version"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _usable(exe: Path | str | None, want: str | None = None) -> str | None:
    """The version of `exe` if it runs and is new enough (or exactly `want`)."""
    if not exe or not os.access(exe, os.X_OK):
        return None
    ver = cli_version(exe)
    parsed = parse_version(ver or "")
    if parsed is None or parsed[0] != 3:
        return None
    if want is not None:
        return ver if parsed == parse_version(want) else None
    return ver if parsed >= MIN_VERSION else None


def cached_binary(version: str = PINNED_VERSION) -> Path:
    return paths.cache_dir() / "pulumi" / version / "bin" / "pulumi"


def build_script() -> Path:
    return Path(__file__).resolve().parents[2] / "scripts" / "build-pulumi.sh"


def build(version: str = PINNED_VERSION, log=None) -> Path:
    """Build the CLI from Go modules into the cache (minutes on first run)."""
    if not shutil.which("go"):
        raise PulumiCLIError(f"no Pulumi CLI >= {'.'.join(map(str, MIN_VERSION))} found and Go is not installed: {INSTALL_HELP}")
    script = build_script()
    if not script.exists():
        raise PulumiCLIError(f"no Pulumi CLI found and the build script is missing ({script}): {INSTALL_HELP}")
    target = cached_binary(version)
    env = {**os.environ, "PREFIX": str(target.parent.parent)}
    proc = subprocess.run(["bash", str(script), version], env=env, stdout=log, stderr=subprocess.STDOUT if log else None)
    if proc.returncode != 0 or not _usable(target, version):
        raise PulumiCLIError(f"building Pulumi CLI v{version} failed (exit {proc.returncode}); see the output above or {INSTALL_HELP}")
    return target


def find(build_if_missing: bool = True, log=None) -> tuple[Path, str, str]:
    """(binary, version, source) following the resolution order."""
    on_path = shutil.which("pulumi")
    if on_path and (ver := _usable(on_path)):
        return Path(on_path), ver, "path"
    cached = cached_binary()
    if ver := _usable(cached, PINNED_VERSION):
        return cached, ver, "cache"
    if not build_if_missing:
        why = f"the Pulumi CLI on PATH ({on_path}) is older than {'.'.join(map(str, MIN_VERSION))}" if on_path else "no Pulumi CLI found"
        raise PulumiCLIError(f"{why}: {INSTALL_HELP}")
    built = build(log=log)
    return built, _usable(built, PINNED_VERSION) or PINNED_VERSION, "build"


def launcher_text(python: str | None = None) -> str:
    # The venv's interpreter as invoked (not symlink-resolved), so the venv's packages are found.
    py = python or sys.executable
    return f'#!/bin/sh\nexec "{py}" -u -m pulumi.dynamic "$@"\n'


def prepare_root(pulumi: Path, python: str | None = None) -> Path:
    """The root whose bin/ holds `pulumi` and the launcher: private per (binary, interpreter).

    The CLI prefers a plugin found next to its own executable over one on PATH, so the launcher
    must sit beside the `pulumi` that runs. Writing it beside a shared binary would let two
    virtualenvs on one machine (two checkouts, CI beside a dev tree) overwrite each other's
    launcher; instead each interpreter gets its own root with a hard link to the binary (the
    kernel reports a hard link's own path as the executable), or a copy across filesystems."""
    py = python or sys.executable
    real = pulumi.resolve()
    digest = hashlib.sha256(f"{real}\0{py}".encode()).hexdigest()[:16]
    root = paths.cache_dir() / "pulumi" / "roots" / digest
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    _link_binary(real, bin_dir / "pulumi")
    _write_launcher(bin_dir, py)
    return root


def _link_binary(real: Path, link: Path) -> None:
    try:
        st, have = real.stat(), link.stat()
        if (st.st_dev, st.st_ino) == (have.st_dev, have.st_ino) or (
                have.st_size == st.st_size and have.st_mtime_ns >= st.st_mtime_ns and not link.is_symlink()):
            return
    except OSError:
        pass
    tmp = link.with_name(f".pulumi.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(real, tmp)
    except OSError:
        shutil.copy2(real, tmp)
    os.replace(tmp, link)


def _write_launcher(bin_dir: Path, python: str) -> None:
    launcher = bin_dir / LAUNCHER
    text = launcher_text(python)
    if not launcher.exists() or launcher.read_text() != text:
        tmp = bin_dir / f".launcher.{os.getpid()}"
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, launcher)


_chosen: Resolved | None = None  # set once per process by `use()` (the engine's worker)


def use(resolved: Resolved) -> None:
    """Pin the CLI for this process (the worker gets the caller's choice instead of resolving again)."""
    global _chosen
    _chosen = resolved


def resolve(build_if_missing: bool = False) -> Resolved:
    if _chosen is not None:
        return _chosen
    exe, ver, source = find(build_if_missing=build_if_missing)
    return Resolved(pulumi=exe, version=ver, source=source, root=prepare_root(exe))


def command(resolved: Resolved | None = None):
    """A `PulumiCommand` rooted at `resolved.root` (the SDK prepends its bin/ to PATH).

    Built without the SDK's own `pulumi version` run: the resolver already checked the version."""
    from pulumi.automation import PulumiCommand
    from semver import VersionInfo

    resolved = resolved or resolve()
    cmd = PulumiCommand.__new__(PulumiCommand)
    cmd.command = str(resolved.root / "bin" / "pulumi")
    cmd.version = VersionInfo.parse(resolved.version.lstrip("v"))
    return cmd


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["ensure"]:
        print("usage: python -m skyc.stacks.pulumi_cli ensure", file=sys.stderr)
        return 2
    try:
        exe, ver, source = find(build_if_missing=True, log=None)
        root = prepare_root(exe)
    except PulumiCLIError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    where = {"path": "on PATH", "cache": "cached build", "build": "built from Go modules"}[source]
    print(f"pulumi {ver} ({where}): {exe}")
    print(f"dynamic-provider launcher: {root / 'bin' / LAUNCHER}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
