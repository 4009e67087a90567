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
