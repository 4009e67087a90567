"""Audit and drift over the engine's stacks: list, history, redacted export, drift detection.

Reads the file backend's JSON directly where it can (fast, no Pulumi CLI start) and goes
through the engine otherwise. Returns models; the CLI renders them.
"""

from __future__ import annotations

import gzip
import json
import pwd
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from skyc.stacks import workspace
from skyc.stacks.base import StackSpec

PROVIDER_BLOB = "[dynamic provider code]"
_HIDDEN = ("pulumi:pulumi:Stack", "pulumi:providers:")


class StackRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str | None = None  # cluster | service
    provider: str | None = None
    infra: str | None = None
    backend: str
    version: int | None = None
    last_update: str | None = None  # ISO time (UTC)
    resources: int = 0
    num_nodes: int | None = None
    hourly_cost: float | None = None


class HistoryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    kind: str  # update | refresh | destroy | ...
    result: str
    start_time: str | None = None
    end_time: str | None = None
    user: str | None = None
    resource_changes: dict[str, int] = Field(default_factory=dict)
    changes: list[str] = Field(default_factory=list)  # spec fields changed: "num_nodes: 1 -> 2"


class Drift(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    type: str
    change: str  # deleted | updated


def _engine(engine=None):
    if engine is not None:
        return engine
    from skyc.stacks.engine import Engine

    return Engine()


def _read_json(path: Path) -> Any:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return json.loads(data)


def _stack_file(root: Path, stack: str) -> Path | None:
    d = root / ".pulumi" / "stacks" / workspace.PROJECT
    for name in (f"{stack}.json", f"{stack}.json.gz"):
        if (d / name).is_file():
            return d / name
    return None


def _history_dir(root: Path, stack: str) -> Path:
    return root / ".pulumi" / "history" / workspace.PROJECT / stack


def _deployment(engine, stack: str) -> dict:
    """The latest deployment (resources, outputs) of a stack: from the file, else an export."""
    root = workspace.file_backend_dir(engine.backend_url)
    if root is not None:
        f = _stack_file(root, stack)
        if f is not None:
            return (_read_json(f).get("checkpoint") or {}).get("latest") or {}
    return engine.export(stack).get("deployment") or {}


def visible_resources(deployment: dict) -> list[dict]:
    """Managed resources of a deployment (not the stack itself, not provider instances)."""
    return [r for r in deployment.get("resources") or [] if not any(str(r.get("type", "")).startswith(h) for h in _HIDDEN)]


def state_resources(stack: str, engine=None) -> list[dict]:
    """Current resources as `[{type, name, inputs}]` (the dynamic provider blob dropped),
    the shape `skyc.compiler.diff.diff_resources` compares."""
    eng = _engine(engine)
    out = []
    for r in visible_resources(_deployment(eng, stack)):
        inputs = {k: v for k, v in (r.get("inputs") or {}).items() if k != "__provider"}
        out.append({"type": r.get("type"), "name": str(r.get("urn", "")).rsplit("::", 1)[-1], "inputs": inputs})
    return out


def _infra(spec: StackSpec) -> str:
    return "/".join(p for p in (spec.provider, spec.region, spec.zone) if p)


def list_stacks(engine=None, costs: dict[str, float] | None = None) -> list[StackRow]:
    """Every stack of the backend. `costs`: known $/h per stack (e.g. from the cluster registry)."""
    eng = _engine(engine)
    rows = []
    for name in eng.stacks():
        dep = _deployment(eng, name)
        spec_data = None
        for r in dep.get("resources") or []:
            if r.get("type") == "pulumi:pulumi:Stack":
                spec_data = (r.get("outputs") or {}).get("spec")
        spec = StackSpec.model_validate(spec_data) if spec_data else None
        cost = (costs or {}).get(name)
        if cost is None and spec is not None and spec.provider == "local":
            cost = 0.0
        rows.append(
            StackRow(
                name=name,
                kind=spec.kind if spec else None,
                provider=spec.provider if spec else None,
                infra=_infra(spec) if spec else None,
                backend=eng.backend_url,
                version=eng.version(name),
                last_update=((dep.get("manifest") or {}).get("time") or None),
                resources=len(visible_resources(dep)),
                num_nodes=spec.num_nodes if spec else None,
                hourly_cost=cost,
            )
        )
    return rows


def _iso(ts: Any) -> str | None:
    if ts in (None, 0):
        return None
    if isinstance(ts, (int, float)):
        return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")
    return str(ts)


def _spec_of(checkpoint: dict) -> dict | None:
    latest = (checkpoint.get("checkpoint") or {}).get("latest") or {}
    for r in latest.get("resources") or []:
        if r.get("type") == "pulumi:pulumi:Stack":
            return (r.get("outputs") or {}).get("spec")
    return None


def spec_changes(old: dict | None, new: dict | None) -> list[str]:
    """Readable spec field changes between two updates ("num_nodes: 1 -> 2")."""
    if new is None:
        return ["all resources removed"] if old else []
    if old is None:
        return ["created"]
    out = []
    for key in sorted(set(old) | set(new)):
        if key in ("ssh_public_key", "version"):
            continue  # the key is filled at apply time; not a change anyone reviews
        if old.get(key) != new.get(key):
            out.append(f"{key}: {json.dumps(old.get(key))} -> {json.dumps(new.get(key))}")
    return out


def history(stack: str, engine=None) -> list[HistoryEntry]:
    """Every update of a stack, newest first, with who ran it and which spec fields changed."""
    eng = _engine(engine)
    root = workspace.file_backend_dir(eng.backend_url)
    if root is None:
        eng._require(stack)
        return [
            HistoryEntry(
                version=h["version"], kind=h["kind"], result=h["result"], start_time=h["start_time"],
                end_time=h["end_time"], user=h.get("user"), resource_changes=h.get("resource_changes") or {},
            )
            for h in eng.history(stack)
        ]
    eng._require(stack)
    d = _history_dir(root, stack)
    files = sorted(
        (p for p in d.glob("*.history.json*") if p.name.endswith((".history.json", ".history.json.gz"))),
        key=lambda p: int(p.name[len(stack) + 1:].split(".", 1)[0]),
    )
    entries = []
    prev_spec: dict | None = None
    for version, f in enumerate(files, start=1):
        h = _read_json(f)
        ck = Path(str(f).replace(".history.json", ".checkpoint.json"))
        spec = _spec_of(_read_json(ck)) if ck.is_file() else prev_spec
        try:
            user = pwd.getpwuid(f.stat().st_uid).pw_name  # who wrote this update to the backend
        except KeyError:
            user = str(f.stat().st_uid)
        env = h.get("environment") or {}
        entries.append(
            HistoryEntry(
                version=version,
                kind=h.get("kind") or "update",
                result=h.get("result") or "unknown",
                start_time=_iso(h.get("startTime")),
                end_time=_iso(h.get("endTime")),
                user=env.get("exec.user") or env.get("git.author") or user,
                resource_changes=dict(h.get("resourceChanges") or {}),
                changes=spec_changes(prev_spec, spec) if h.get("kind") in ("update", "destroy", None) else [],
            )
        )
        prev_spec = spec
    return list(reversed(entries))


def redact(value: Any) -> Any:
    """Secrets and the dynamic provider's pickled code out of an exported deployment."""
    if isinstance(value, dict):
        if value.get(workspace.SECRET_SIG) is not None:
            return "[secret]"
        return {k: (PROVIDER_BLOB if k == "__provider" else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def export_state(stack: str, engine=None) -> dict:
    """The stack's Pulumi state ({version, deployment}), safe to share."""
    eng = _engine(engine)
    exported = eng.export(stack)
    return {"version": exported.get("version"), "deployment": redact(exported.get("deployment"))}


def detect_drift(stack: str, engine=None) -> list[Drift]:
    """Refresh the stack against reality (updates the state) and return what had drifted,
    e.g. a local node whose sshd was killed outside skyc."""
    eng = _engine(engine)
    result = eng.refresh(stack)
    return [Drift.model_validate(d) for d in result.get("drifted") or []]
