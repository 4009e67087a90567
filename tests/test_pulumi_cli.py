"""Pulumi CLI resolution: PATH (if new enough) > cached build > build from Go modules.

Fake `pulumi`/`go` executables that print a version exercise the resolver's own logic.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from skyc.errors import PulumiCLIError
from skyc.stacks import pulumi_cli


def _exe(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """An empty PATH (plus basic tools) and a private cache dir."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("sh", "bash", "cat", "mkdir", "mv", "grep", "chmod", "echo", "cut", "dirname", "env"):
        real = subprocess.run(["bash", "-c", f"command -v {name}"], capture_output=True, text=True).stdout.strip()
        if real.startswith("/"):
            (tools / name).symlink_to(real)
    monkeypatch.setenv("PATH", str(tools))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_parse_version():
    assert pulumi_cli.parse_version("v3.274.1") == (3, 274, 1)
    assert pulumi_cli.parse_version("3.181.0-dev.0") == (3, 181, 0)
    assert pulumi_cli.parse_version("") is None and pulumi_cli.parse_version("garbage") is None


def test_path_cli_new_enough_wins(sandbox):
    _exe(sandbox / "tools" / "pulumi", "echo v3.200.0")
    _exe(pulumi_cli.cached_binary(), f"echo v{pulumi_cli.PINNED_VERSION}")
    exe, ver, source = pulumi_cli.find(build_if_missing=False)
    assert (source, ver, exe) == ("path", "v3.200.0", sandbox / "tools" / "pulumi")


def test_path_cli_too_old_falls_back_to_cache(sandbox):
    _exe(sandbox / "tools" / "pulumi", "echo v3.100.0")
    cached = _exe(pulumi_cli.cached_binary(), f"echo v{pulumi_cli.PINNED_VERSION}")
    exe, ver, source = pulumi_cli.find(build_if_missing=False)
    assert (source, exe) == ("cache", cached)


def test_unstamped_or_major_4_cli_is_not_used(sandbox):
    _exe(sandbox / "tools" / "pulumi", "echo ''")
    with pytest.raises(PulumiCLIError, match="older than 3.181.0"):
        pulumi_cli.find(build_if_missing=False)
    _exe(sandbox / "tools" / "pulumi", "echo v4.1.0")
    with pytest.raises(PulumiCLIError):
        pulumi_cli.find(build_if_missing=False)


def test_cache_with_wrong_version_is_ignored(sandbox):
    _exe(pulumi_cli.cached_binary(), "echo v3.190.0")
    with pytest.raises(PulumiCLIError, match="no Pulumi CLI found"):
        pulumi_cli.find(build_if_missing=False)


def test_no_cli_and_no_go_gives_install_instructions(sandbox):
    with pytest.raises(PulumiCLIError) as err:
        pulumi_cli.find(build_if_missing=True)
    msg = str(err.value)
    assert "Go is not installed" in msg and "https://www.pulumi.com/docs/install/" in msg


def test_build_path_runs_script_with_go_and_caches(sandbox, monkeypatch):
    # A fake `go` whose `build -o X` writes an executable that prints the stamped version.
    _exe(sandbox / "tools" / "go", r'''
case "$1" in
  mod) exit 0 ;;
  list) echo "v$SKYC_PULUMI_VERSION_FAKE" ;;
  build)
    out=""; ver=""
    while [ $# -gt 0 ]; do
      case "$1" in -o) out="$2"; shift ;; -ldflags) ver="${2##*Version=}"; ver="${ver%% *}"; shift ;; esac; shift
    done
    printf '#!/bin/sh\necho %s\n' "$ver" > "$out"; chmod +x "$out" ;;
esac''')
    monkeypatch.setenv("SKYC_PULUMI_VERSION_FAKE", pulumi_cli.PINNED_VERSION)
    exe, ver, source = pulumi_cli.find(build_if_missing=True, log=subprocess.DEVNULL)
    assert source == "build" and exe == pulumi_cli.cached_binary()
    assert ver == f"v{pulumi_cli.PINNED_VERSION}"
    assert (exe.parent.parent / "src" / "go.mod").read_text().count(f"v{pulumi_cli.PINNED_VERSION}") == 2
    # Second time: the cache answers, no build.
    os.remove(sandbox / "tools" / "go")
    assert pulumi_cli.find(build_if_missing=True)[2] == "cache"


def test_prepare_root_is_private_per_interpreter(sandbox):
    cached = _exe(pulumi_cli.cached_binary(), f"echo v{pulumi_cli.PINNED_VERSION}")
    a = pulumi_cli.prepare_root(cached, python="/opt/venv-a/bin/python")
    b = pulumi_cli.prepare_root(cached, python="/opt/venv-b/bin/python")
    assert a != b and a.parent.name == "roots"
    for root, py in ((a, "/opt/venv-a/bin/python"), (b, "/opt/venv-b/bin/python")):
        exe = root / "bin" / "pulumi"
        # A hard link, not a symlink: the CLI looks for plugins next to its own executable.
        assert not exe.is_symlink() and exe.stat().st_ino == cached.stat().st_ino
        launcher = root / "bin" / pulumi_cli.LAUNCHER
        assert launcher.read_text() == f'#!/bin/sh\nexec "{py}" -u -m pulumi.dynamic "$@"\n'
        assert os.access(launcher, os.X_OK)
    assert not (cached.parent / pulumi_cli.LAUNCHER).exists()  # the shared binary's directory is untouched
    assert pulumi_cli.prepare_root(cached, python="/opt/venv-a/bin/python") == a  # stable


def test_prepare_root_relinks_a_rebuilt_binary(sandbox):
    cached = _exe(pulumi_cli.cached_binary(), f"echo v{pulumi_cli.PINNED_VERSION}")
    root = pulumi_cli.prepare_root(cached, python="/usr/bin/python3")
    cached.unlink()
    cached = _exe(cached, "echo v3.999.0")
    pulumi_cli.prepare_root(cached, python="/usr/bin/python3")
    assert (root / "bin" / "pulumi").stat().st_ino == cached.stat().st_ino


def test_ensure_command_reports_and_exits_nonzero_without_cli(sandbox, capsys):
    assert pulumi_cli.main(["ensure"]) == 3
    assert "https://www.pulumi.com/docs/install/" in capsys.readouterr().err
    _exe(pulumi_cli.cached_binary(), f"echo v{pulumi_cli.PINNED_VERSION}")
    assert pulumi_cli.main(["ensure"]) == 0
    out = capsys.readouterr().out
    assert "cached build" in out and pulumi_cli.LAUNCHER in out
