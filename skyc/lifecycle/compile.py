"""Entrypoint -> tasks -> plan, through the compiler (`skyc.compiler.spec` / `plan`).

The lifecycle never parses YAML or prices placements itself; this module only decides whether
the entrypoint is a task file or a shell command, applies the CLI's overrides and asks the
compiler for a plan (with failed placements blocked, for failover).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skyc.errors import SpecError, UsageError


@dataclass
class Overrides:
    """Task and resource flags shared by launch and exec."""

    envs: tuple[str, ...] = ()
    env_file: str | None = None
    secrets: tuple[str, ...] = ()
    gpus: str | None = None
    cpus: str | None = None
    memory: str | None = None
    infra: str | None = None
    use_spot: bool | None = None
    num_nodes: int | None = None
    workdir: str | None = None
    git_url: str | None = None
    git_ref: str | None = None
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def resource_kwargs(self) -> dict[str, Any]:
        kw = {"gpus": self.gpus, "cpus": self.cpus, "memory": self.memory, "infra": self.infra,
              "use_spot": self.use_spot, "num_nodes": self.num_nodes}
        return {k: v for k, v in kw.items() if v is not None}


def split_entrypoint(words: tuple[str, ...] | list[str]) -> tuple[Path | None, str | None]:
    """(task file, None) when the words name a readable YAML mapping; (None, command) otherwise."""
    if not words:
        return None, None
    text = " ".join(words)
    p = Path(text).expanduser()
    if p.is_file():
        return p, None
    if len(words) == 1 and text.endswith((".yaml", ".yml")):
        raise UsageError(f"task file {text} not found; give an existing YAML path or quote a shell command")
    return None, text


def _spec():
    from skyc.compiler import spec

    return spec


def _pairs(pairs: tuple[str, ...], flag: str) -> dict[str, str | None]:
    """`K=V` -> {K: V}; bare `K` -> {K: None} (the compiler copies it from this environment)."""
    out: dict[str, str | None] = {}
    for pair in pairs:
        key, sep, val = pair.partition("=")
        if not key.strip():
            raise UsageError(f"{flag} {pair!r}: expected KEY=VALUE or KEY")
        out[key.strip()] = val if sep else None
    return out


def load_tasks(words, ov: Overrides) -> list[Any]:
    """Tasks for an entrypoint (file or command) with overrides applied; a no-run task for none."""
    path, command = split_entrypoint(words)
    spec = _spec()
    env_kw = {"env_overrides": _pairs(ov.envs, "--env"), "env_file": ov.env_file,
              "secret_overrides": _pairs(ov.secrets, "--secret")}
    if path is not None:
        tasks = spec.load_tasks(str(path), **env_kw)
    else:
        import yaml

        doc: dict[str, Any] = {"name": "sky-cmd", "run": command} if command is not None else {}
        tasks = spec.load_task_from_text(yaml.safe_dump(doc) if doc else "{}\n", filename="<command>", **env_kw)
    out = []
    kw = ov.resource_kwargs()
    for t in tasks:
        if kw:
            t = spec.apply_overrides(t, **kw)
        extra = {}
        if ov.workdir is not None and ov.git_url is not None:
            raise UsageError("--workdir and --git-url both set the workdir; give one")
        if ov.git_ref is not None and ov.git_url is None:
            raise UsageError("--git-ref needs --git-url")
        if ov.workdir is not None:
            extra["workdir"] = ov.workdir
        if ov.git_url is not None:
            extra["workdir"] = spec.WorkdirGit(url=ov.git_url, ref=ov.git_ref)
        if ov.name is not None:
            extra["name"] = ov.name
        if extra:
            t = t.model_copy(update=extra)
        t = with_git_credentials(t)
        missing = t.missing_secrets()
        if missing:
            raise UsageError(f"secret(s) {', '.join(missing)} have no value; pass --secret {missing[0]}=VALUE "
                             f"(or export {missing[0]} and pass --secret {missing[0]})")
        out.append(t)
    return out


def with_git_credentials(task: Any) -> Any:
    """A git workdir takes this machine's GIT_TOKEN and the key at GIT_SSH_KEY_PATH as the task's
    secrets GIT_TOKEN / GIT_SSH_KEY (as SkyPilot): they clone on the nodes and stay redacted."""
    import os

    if isinstance(task.workdir, str) or task.workdir is None:
        return task
    found = {}
    if os.environ.get("GIT_TOKEN"):
        found["GIT_TOKEN"] = os.environ["GIT_TOKEN"]
    key_path = os.environ.get("GIT_SSH_KEY_PATH")
    if key_path:
        try:
            found["GIT_SSH_KEY"] = Path(key_path).expanduser().read_text()
        except OSError as e:
            raise UsageError(f"GIT_SSH_KEY_PATH={key_path}: {e.strerror}") from None
    found = {k: v for k, v in found.items() if k not in task.secrets}  # the task's own values win
    return task.model_copy(update={"secrets": {**task.secrets, **found}}) if found else task


def single_task(tasks: list[Any], what: str) -> Any:
    if len(tasks) != 1:
        raise SpecError(f"{what} takes one task; this file has {len(tasks)} (multi-task pipelines run with `skyc jobs launch`)")
    return tasks[0]


def build_plan(task: Any, cluster: str, blocked: list[Any] | None = None, *, render: bool = True) -> Any:
    """A plan for one task on `cluster`; `blocked` lists placements to avoid (failover).
    `render=False` skips the per-resource listing, which only a reader of the plan needs."""
    from skyc.compiler import plan as plan_mod

    return plan_mod.build_plan([task], cluster=cluster, blocked=blocked or (), render=render)


def render_plan(plan: Any) -> str:
    from skyc.compiler import plan as plan_mod

    return plan_mod.render(plan, "text")
