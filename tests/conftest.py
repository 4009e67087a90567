"""Shared fixtures: every test gets its own SKYC_HOME; the real ~/.skyc is never touched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def skyc_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Short path: sshd and unix sockets dislike long paths.
    home = Path(tmp_path_factory.mktemp("skyc-home"))
    monkeypatch.setenv("SKYC_HOME", str(home))
    return home


@pytest.fixture(scope="session", autouse=True)
def _never_real_home() -> None:
    os.environ.setdefault("SKYC_HOME", "/nonexistent/skyc-tests-must-set-SKYC_HOME")


@pytest.fixture
def engine(skyc_home: Path):
    """The real engine on this test's SKYC_HOME (skipped, saying why, without a Pulumi CLI); every
    stack is destroyed and every node's sshd gone afterwards. `~/.ssh/config` is never edited."""
    import signal

    from skyc.errors import EngineError, PulumiCLIError
    from skyc.stacks import pulumi_cli
    from skyc.stacks.engine import Engine
    from tests.nodes import sshd_pids_under

    try:
        pulumi_cli.find(build_if_missing=False)
    except PulumiCLIError as e:  # depends on the machine
        pytest.skip(f"no Pulumi CLI: {e}")
    (skyc_home / "config.yaml").write_text("ssh_config: false\n")
    eng = Engine()
    yield eng
    for stack in eng.stacks():
        try:
            eng.destroy(stack)
        except EngineError:
            pass  # e.g. a stack a fault test left busy; its nodes are killed below
    for leftover in sshd_pids_under(skyc_home):
        os.kill(leftover, signal.SIGKILL)
