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


def load_tasks(words, ov: Overrides) -> list[Any]:
    """Tasks for an entrypoint (file or command) with overrides applied; [] for no entrypoint."""
    path, command = split_entrypoint(words)
    spec = _spec()
    env_kw = {"env_overrides": list(ov.envs), "env_file": ov.env_file, "secret_overrides": list(ov.secrets)}
    if path is not None:
        tasks = spec.load_tasks(str(path), **env_kw)
    else:
        import yaml

        doc: dict[str, Any] = {}
        if command is not None:
            doc = {"name": "sky-cmd", "run": command}
        tasks = spec.load_tasks_from_text(yaml.safe_dump(doc), **env_kw) if hasattr(spec, "load_tasks_from_text") \
            else [spec.load_task_from_text(yaml.safe_dump(doc), **env_kw)]
    out = []
    for t in tasks:
        kw = ov.resource_kwargs()
        if ov.workdir is not None:
            kw["workdir"] = ov.workdir
        if ov.name is not None:
            kw["name"] = ov.name
        out.append(spec.apply_overrides(t, **kw) if kw else t)
    return out


def single_task(tasks: list[Any], what: str) -> Any:
    if len(tasks) != 1:
        raise SpecError(f"{what} takes one task; this file has {len(tasks)} (multi-task pipelines run with `skyc jobs launch`)")
    return tasks[0]


def build_plan(task: Any, cluster: str, blocked: list[Any] | None = None) -> Any:
    """A plan for one task on `cluster`; `blocked` lists placements to avoid (failover)."""
    from skyc.compiler import plan as plan_mod

    kwargs: dict[str, Any] = {"cluster": cluster}
    if blocked:
        kwargs["blocked"] = blocked
    return plan_mod.build_plan([task], **kwargs)


def render_plan(plan: Any) -> str:
    for attr in ("render_text", "render"):
        fn = getattr(plan, attr, None)
        if callable(fn):
            try:
                return fn() if attr == "render_text" else fn("text")
            except TypeError:
                continue
    try:
        from skyc.compiler import plan as plan_mod

        if hasattr(plan_mod, "render_text"):
            return plan_mod.render_text(plan)
    except ImportError:
        pass
    lines = []
    for t in plan.tasks:
        s = t.stack
        lines.append(f"{s.stack}: {s.provider}{'/' + s.region if s.region else ''} "
                     f"{s.instance_type or ''} x{s.num_nodes}  ${float(getattr(t, 'hourly_cost', 0) or 0):.2f}/h")
    return "\n".join(lines)
