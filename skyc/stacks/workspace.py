"""How every Pulumi workspace is configured: backend, passphrase, PULUMI_HOME, work dir, CLI.

Shared by the engine (read-only operations, in process) and the worker (operations that run
a program, one process each).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Callable

from skyc import paths

PROJECT = "skyc"


def backend_url(explicit: str | None = None) -> str:
    """Explicit > $SKYC_BACKEND_URL > config.yaml `backend_url` > file://$SKYC_HOME/state."""
    url = explicit or os.environ.get("SKYC_BACKEND_URL")
    if not url:
        from skyc import config

        url = config.get("backend_url")
    if not url:
        paths.state_dir().mkdir(parents=True, exist_ok=True)
        return paths.state_dir().as_uri()
    if url.startswith("file://"):
        # A relative path would resolve against the work dir; anchor it and make sure it exists.
        local = Path(os.path.expanduser(url[len("file://"):])).absolute()
        local.mkdir(parents=True, exist_ok=True)
        return local.as_uri()
    return url


def file_backend_dir(url: str) -> Path | None:
    return Path(url[len("file://"):]) if url.startswith("file://") else None


def passphrase_env() -> dict[str, str]:
    """The user's passphrase settings if any, else a generated passphrase file (0600)."""
    if "PULUMI_CONFIG_PASSPHRASE" in os.environ or "PULUMI_CONFIG_PASSPHRASE_FILE" in os.environ:
        return {}
    path = paths.home() / "pulumi" / "passphrase"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
        try:
            os.link(tmp, path)  # first writer wins; a racing process keeps the existing file
        except FileExistsError:
            pass
        tmp.unlink()
    return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(path)}


def env_vars(url: str) -> dict[str, str]:
    env = {
        "PULUMI_BACKEND_URL": url,
        "PULUMI_HOME": str(paths.pulumi_home()),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # The stack's secrets manager survives a lost Pulumi.<stack>.yaml in the work dir.
        "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER": "true",
        "PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS": "true",
        # Engine, program and provider talk gRPC on loopback: never through a proxy.
        "NO_PROXY": _no_proxy(os.environ.get("NO_PROXY")),
        "no_proxy": _no_proxy(os.environ.get("no_proxy")),
    }
    env.update(passphrase_env())
    return env


def _no_proxy(current: str | None) -> str:
    parts = [p for p in (current or "").split(",") if p]
    for host in ("127.0.0.1", "localhost"):
        if host not in parts:
            parts.append(host)
    return ",".join(parts)


def noop_program() -> None:
    """Stands in for the program where none runs (destroy, refresh, reads): keeps the inline
    `--client` path so the CLI never looks for a language plugin."""


def local_workspace(program: Callable[[], None] | None = None, url: str | None = None):
    """A LocalWorkspace of project `skyc` with skyc's settings (no stack selected)."""
    from pulumi import automation as auto

    from skyc.stacks import pulumi_cli

    url = url or backend_url()
    for d in (paths.pulumi_home(), paths.pulumi_workdir()):
        d.mkdir(parents=True, exist_ok=True)
    _write_project_file(paths.pulumi_workdir())
    # No project_settings here: the SDK would rewrite Pulumi.yaml in place on every operation,
    # racing the CLI of a concurrent operation on another stack that reads it.
    return auto.LocalWorkspace(
        work_dir=str(paths.pulumi_workdir()),
        pulumi_home=str(paths.pulumi_home()),
        program=program or noop_program,
        env_vars=env_vars(url),
        pulumi_command=pulumi_cli.command(),
    )


def stack_handle(stack: str, program: Callable[[], None] | None = None, url: str | None = None, *, create: bool = True):
    """A `pulumi.automation.Stack` for `stack` in project `skyc` (created if missing when asked)."""
    from pulumi import automation as auto

    url = url or backend_url()
    ws = local_workspace(program, url)
    if stack_exists(url, stack):
        # Every command passes --stack: `stack select` (one CLI start) would only set a default.
        ws.select_stack = lambda _name: None
        return auto.Stack.select(stack, ws)
    return auto.Stack.create_or_select(stack, ws) if create else auto.Stack.select(stack, ws)


def _write_project_file(work_dir: Path) -> None:
    """Pulumi.yaml of project `skyc`, written atomically and only when missing or different."""
    text = f"name: {PROJECT}\nruntime: python\n"
    path = work_dir / "Pulumi.yaml"
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    tmp = work_dir / f".Pulumi.yaml.{os.getpid()}"
    tmp.write_text(text)
    os.replace(tmp, path)


def stack_exists(url: str, stack: str) -> bool:
    """Known without a CLI call for file backends; False (= ask the CLI) otherwise."""
    local = file_backend_dir(url)
    if local is None:
        return False
    d = local / ".pulumi" / "stacks" / PROJECT
    return any((d / f"{stack}{ext}").exists() for ext in (".json", ".json.gz", ".json.zst"))


def checkpoint_outputs(url: str, stack: str) -> dict | None:
    """The stack's outputs read straight from a file backend's checkpoint (no CLI start), or None
    when that is not possible (other backend, compressed, missing, or secret values inside)."""
    local = file_backend_dir(url)
    if local is None:
        return None
    try:
        checkpoint = json.loads((local / ".pulumi" / "stacks" / PROJECT / f"{stack}.json").read_text())
    except (OSError, ValueError):
        return None
    resources = ((checkpoint.get("checkpoint") or {}).get("latest") or {}).get("resources") or []
    root = next((r for r in resources if r.get("type") == "pulumi:pulumi:Stack"), None)
    outputs = (root or {}).get("outputs") or {}
    if SECRET_SIG in json.dumps(outputs):
        return None
    return outputs


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value in state
