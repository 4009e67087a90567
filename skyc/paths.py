"""Where skyc keeps its state: everything lives under $SKYC_HOME (default ~/.skyc)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The root of all client-side state; tests point SKYC_HOME at a temp dir."""
    return Path(os.environ.get("SKYC_HOME") or "~/.skyc").expanduser().absolute()


def _sub(*parts: str) -> Path:
    return home().joinpath(*parts)


def state_dir() -> Path:
    """Default Pulumi file backend directory."""
    return _sub("state")


def pulumi_home() -> Path:
    return _sub("pulumi", "home")


def pulumi_workdir() -> Path:
    """Persistent Automation API work dir (keeps Pulumi.<stack>.yaml and its salt)."""
    return _sub("pulumi", "project")


def keys_dir() -> Path:
    return _sub("keys")


def locks_dir() -> Path:
    return _sub("locks")


def local_nodes_dir() -> Path:
    return _sub("local")


def ssh_dir() -> Path:
    return _sub("ssh")


def registry_db() -> Path:
    return _sub("skyc.db")


def config_file() -> Path:
    return _sub("config.yaml")


def cache_dir() -> Path:
    """Machine-wide build cache (the Pulumi CLI), shared across SKYC_HOMEs."""
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "skyc"


def catalog_dir() -> Path:
    """User catalog CSVs (`skyc catalog update`), overriding the bundled ones per cloud."""
    return _sub("catalog")


def catalog_cache_dir() -> Path:
    """Pre-processed catalog (rebuilt whenever a source CSV changes)."""
    return _sub("cache")
