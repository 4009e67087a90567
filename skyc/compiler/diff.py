"""Resource diffs: what a new stack spec changes against the stack's current state.

Pure functions. Two sources feed the same model:
- `diff_resources(old, new)`: rendered resources (`[{type, name, inputs}]`) of the last applied
  spec vs the new one, property by property, with replacement decided by `forces_replacement`;
- `from_preview(steps)`: the engine's real preview steps.
Actions use Terraform's vocabulary and symbols; a replace counts as one add and one destroy.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field

Action = Literal["create", "update", "replace", "delete", "no-op"]

SYMBOLS: dict[str, str] = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "no-op": " "}

# Input keys (normalised: lower case, no separators) whose change recreates the resource,
# with the reason shown to the user. Nodes are cattle: a new machine shape or place is a new node.
_REPLACING_KEYS: dict[str, str] = {
    "instancetype": "instance type changed",
    "machinetype": "machine type changed",
    "vmsize": "VM size changed",
    "ami": "image changed",
    "image": "image changed",
    "imageid": "image changed",
    "sourceimage": "image changed",
    "zone": "zone changed",
    "availabilityzone": "zone changed",
    "region": "region changed",
    "location": "location changed",
    "subnetid": "subnet changed",
    "keyname": "SSH key changed",
    "sshpublickey": "SSH key changed",
    "publickey": "SSH key changed",
    "instancemarketoptions": "spot/on-demand changed",
    "usespot": "spot/on-demand changed",
    "preemptible": "spot/on-demand changed",
    "spot": "spot/on-demand changed",
    "priority": "spot/on-demand changed",
    "address": "node address changed",
    "acceleratorname": "accelerator changed",
    "guestaccelerators": "accelerator changed",
    "disksize": "disk size changed",
    "rootblockdevice": "root disk changed",
    "bootdisk": "boot disk changed",
    "osdisk": "OS disk changed",
    "disktier": "disk tier changed",
    "provider": "provider changed",
}


def _norm_key(segment: str) -> str:
    return re.sub(r"[^a-z0-9]", "", segment.lower())


def _top_key(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def replace_reason(path: str) -> str | None:
    """Why a change at this property path recreates the resource, or None if it updates in place.

    Any segment of the path may force replacement (`rootBlockDevice.volumeSize` -> root disk changed).
    """
    for seg in re.split(r"[.\[\]]", path):
        if seg and not seg.isdigit():
            reason = _REPLACING_KEYS.get(_norm_key(seg))
            if reason:
                return reason
    return None


def describe_property(path: str) -> str:
    """A replace reason for a property the engine named (falls back to '<path> changed')."""
    return replace_reason(path) or f"{path} changed"


class PropertyChange(BaseModel):
    """One changed input, at a dotted path (`tags.Name`, `ports[0]`)."""

    model_config = ConfigDict(extra="forbid")

    path: str
    kind: Literal["add", "update", "delete"]
    old: Any = None
    new: Any = None
    forces_replacement: bool = False


class ResourceChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    name: str
    action: Action
    changes: list[PropertyChange] = Field(default_factory=list)
    replace_reasons: list[str] = Field(default_factory=list)

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.action]


class Summary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    add: int = 0
    change: int = 0
    destroy: int = 0

    @property
    def has_changes(self) -> bool:
        return bool(self.add or self.change or self.destroy)

    def line(self) -> str:
        if not self.has_changes:
            return "No changes. Infrastructure matches the configuration."
        return f"Plan: {self.add} to add, {self.change} to change, {self.destroy} to destroy."


class StackDiff(BaseModel):
    """The diff of one stack: per-resource actions, the summary and the hourly cost before/after."""

    model_config = ConfigDict(extra="forbid")

    stack: str
    source: Literal["render", "preview", "spec", "none"] = "render"
    base_version: int | None = None
    resources: list[ResourceChange] = Field(default_factory=list)
    summary: Summary = Field(default_factory=Summary)
    hourly_cost_before: float | None = None
    hourly_cost_after: float | None = None

    @property
    def has_changes(self) -> bool:
        return self.summary.has_changes

    @property
    def cost_delta(self) -> float | None:
        if self.hourly_cost_after is None or self.hourly_cost_before is None:
            return None
        return self.hourly_cost_after - self.hourly_cost_before

    @property
    def changed(self) -> list[ResourceChange]:
        return [r for r in self.resources if r.action != "no-op"]


def summarize(changes: Iterable[ResourceChange]) -> Summary:
    s = Summary()
    for c in changes:
        if c.action == "create":
            s.add += 1
        elif c.action == "update":
            s.change += 1
        elif c.action == "delete":
            s.destroy += 1
        elif c.action == "replace":
            s.add += 1
            s.destroy += 1
    return s


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a nested value keyed by path; empty containers below the top are leaves too."""
    if not prefix and not value:
        return {}
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k in sorted(value, key=str):
            out.update(_flatten(value[k], f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, (list, tuple)) and value:
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def diff_inputs(old: dict[str, Any], new: dict[str, Any]) -> list[PropertyChange]:
    """Property-level changes between two input maps, in path order."""
    # Pulumi drops null inputs: a key set to None and a missing key are the same state.
    a = {k: v for k, v in _flatten(old or {}).items() if v is not None}
    b = {k: v for k, v in _flatten(new or {}).items() if v is not None}
    changes = []
    for path in sorted(set(a) | set(b)):
        if path in a and path in b:
            if a[path] == b[path]:
                continue
            kind = "update"
        else:
            kind = "add" if path in b else "delete"
        # Adding or removing a field the resource did not have ({} -> value) never needs a new node
        # unless the field itself is one that forces replacement.
        changes.append(
            PropertyChange(
                path=path, kind=kind, old=a.get(path), new=b.get(path),
                forces_replacement=replace_reason(path) is not None,
            )
        )
    return changes


def _key(res: dict[str, Any]) -> tuple[str, str]:
    return (str(res.get("type", "")), str(res.get("name", "")))


def _managed(resources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in resources if not any(str(r.get("type", "")).startswith(h) for h in _HIDDEN_TYPES)]


def diff_resources(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]]) -> list[ResourceChange]:
    """Match resources by (type, name); new order first, then deletions in old order.
    Provider instances and the stack itself are not shown (as in Terraform's plan)."""
    old, new = _managed(old), _managed(new)
    old_by_key = {_key(r): r for r in old}
    out: list[ResourceChange] = []
    seen = set()
    for res in new:
        key = _key(res)
        seen.add(key)
        before = old_by_key.get(key)
        if before is None:
            changes = diff_inputs({}, res.get("inputs") or {})
            for c in changes:
                c.forces_replacement = False
            out.append(ResourceChange(type=key[0], name=key[1], action="create", changes=changes))
            continue
        changes = diff_inputs(before.get("inputs") or {}, res.get("inputs") or {})
        reasons = list(dict.fromkeys(replace_reason(c.path) for c in changes if c.forces_replacement))
        action: Action = "replace" if reasons else ("update" if changes else "no-op")
        out.append(ResourceChange(type=key[0], name=key[1], action=action, changes=changes, replace_reasons=reasons))
    for key, res in old_by_key.items():
        if key not in seen:
            changes = diff_inputs(res.get("inputs") or {}, {})
            for c in changes:
                c.forces_replacement = False
            out.append(ResourceChange(type=key[0], name=key[1], action="delete", changes=changes))
    return out


# Engine preview ops -> our actions. A replacement shows up as several steps on one URN.
_PREVIEW_OPS: dict[str, Action] = {
    "create": "create",
    "update": "update",
    "delete": "delete",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "discard-replaced": "replace",
    "import-replacement": "replace",
    "import": "create",
    "same": "no-op",
    "read": "no-op",
    "refresh": "no-op",
    "read-replacement": "replace",
    "discard": "delete",
}

_HIDDEN_TYPES = ("pulumi:pulumi:Stack", "pulumi:providers:")


def from_preview(steps: Iterable[dict[str, Any]]) -> list[ResourceChange]:
    """Engine preview steps -> resource changes (one per URN; the stack and providers hidden)."""
    by_urn: dict[str, ResourceChange] = {}
    for step in steps:
        rtype = str(step.get("type") or "")
        if any(rtype.startswith(h) for h in _HIDDEN_TYPES):
            continue
        action = _PREVIEW_OPS.get(str(step.get("op")), "update")
        urn = str(step.get("urn") or f"{rtype}::{step.get('name')}")
        name = str(step.get("name") or urn.rsplit("::", 1)[-1])
        # The dynamic provider's pickled code is not a property anyone reviews.
        old_in = {k: v for k, v in (step.get("old_inputs") or {}).items() if k != "__provider"}
        new_in = {k: v for k, v in (step.get("new_inputs") or {}).items() if k != "__provider"}
        changes = diff_inputs(old_in, new_in) if action != "no-op" else []
        named = set(step.get("diffs") or [])
        replace_keys = list(step.get("replace_reasons") or [])
        for c in changes:
            c.forces_replacement = action == "replace" and (_top_key(c.path) in replace_keys or c.path in replace_keys)
        if action == "update" and not changes and named:
            changes = [PropertyChange(path=k, kind="update") for k in sorted(named)]
        reasons = list(dict.fromkeys(describe_property(k) for k in replace_keys))
        if action == "replace" and not reasons:
            reasons = list(dict.fromkeys(r for c in changes if (r := replace_reason(c.path)))) or ["provider requires replacement"]
        prev = by_urn.get(urn)
        if prev is not None:
            # create-replacement + delete-replaced (or a replace step) on one URN: one replace.
            if _rank(action) > _rank(prev.action):
                prev.action = action
            prev.replace_reasons = list(dict.fromkeys(prev.replace_reasons + reasons))
            if not prev.changes:
                prev.changes = changes
            continue
        by_urn[urn] = ResourceChange(type=rtype, name=name, action=action, changes=changes, replace_reasons=reasons)
    return list(by_urn.values())


def _rank(action: Action) -> int:
    return ["no-op", "update", "create", "delete", "replace"].index(action)


def make_diff(
    stack: str,
    changes: list[ResourceChange],
    *,
    source: str = "render",
    base_version: int | None = None,
    hourly_cost_before: float | None = None,
    hourly_cost_after: float | None = None,
) -> StackDiff:
    return StackDiff(
        stack=stack,
        source=source,  # type: ignore[arg-type]
        base_version=base_version,
        resources=sorted(changes, key=lambda r: (r.type, r.name)),  # stable order, as Terraform's addresses
        summary=summarize(changes),
        hourly_cost_before=hourly_cost_before,
        hourly_cost_after=hourly_cost_after,
    )


def total_summary(diffs: Iterable[StackDiff]) -> Summary:
    s = Summary()
    for d in diffs:
        s.add += d.summary.add
        s.change += d.summary.change
        s.destroy += d.summary.destroy
    return s


def format_value(value: Any, width: int = 60) -> str:
    """Short display form of an input value (secrets are never in rendered inputs)."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = f'"{value}"'
    else:
        text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def spec_resources(spec: Any) -> list[dict[str, Any]]:
    """A provider-neutral resource view of a StackSpec: one node resource per rank.

    Used when the provider's rendered resources are unavailable, so a spec change still diffs
    per node (num_nodes 1 -> 2 is one node added, an instance type change replaces every node).
    """
    data = spec.model_dump(mode="json") if hasattr(spec, "model_dump") else dict(spec)
    shared = {k: v for k, v in data.items() if k not in ("num_nodes", "stack", "version") and v not in (None, [], {})}
    return [
        {"type": f"skyc:{data.get('provider', 'node')}:Node", "name": "head" if rank == 0 else f"worker{rank}", "inputs": dict(shared)}
        for rank in range(int(data.get("num_nodes") or 1))
    ]


def diff_against_state(
    spec: Any,
    engine: Any = None,
    *,
    preview: bool = False,
    hourly_cost_before: float | None = None,
    hourly_cost_after: float | None = None,
    rendered: list[dict] | None = None,
) -> StackDiff:
    """Diff a new StackSpec against its stack's current state.

    Default: the state's recorded resource inputs vs the new spec rendered offline (fast, no
    engine run); `preview=True` asks the engine for a real preview instead. A spec the provider
    cannot render offline falls back to a per-node diff of the specs. A missing stack diffs
    against nothing (everything is created); then `rendered` (the plan's own rendering of the
    spec, `[{type, name, inputs}]`) saves rendering it again.
    """
    from skyc.errors import SkycError

    if engine is None:
        from skyc.stacks.engine import Engine

        engine = Engine()
    old_spec = engine.last_spec(spec.stack)
    base_version = engine.version(spec.stack) if old_spec is not None else None
    if old_spec is not None and not spec.ssh_public_key:
        spec = spec.with_keys_of(old_spec)
    if preview:
        steps = engine.preview(spec).get("steps") or []
        return make_diff(spec.stack, from_preview(steps), source="preview", base_version=base_version,
                         hourly_cost_before=hourly_cost_before, hourly_cost_after=hourly_cost_after)
    from skyc.stacks import audit, render

    try:
        new_res = rendered if rendered and old_spec is None else render.render_resources(spec)
        old_res = audit.state_resources(spec.stack, engine) if old_spec is not None else []
        source = "render"
    except SkycError:
        raise
    except Exception:  # noqa: BLE001 - a provider program that cannot run offline: diff the specs
        new_res = spec_resources(spec)
        old_res = spec_resources(old_spec) if old_spec is not None else []
        source = "spec"
    return make_diff(spec.stack, diff_resources(old_res, new_res), source=source, base_version=base_version,
                     hourly_cost_before=hourly_cost_before, hourly_cost_after=hourly_cost_after)


def _money(x: float) -> str:
    return f"${x:,.2f}/h"


def _delta(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{'+' if x >= 0 else '-'}${abs(x):,.2f}/h"


def render(diffs: list[StackDiff], fmt: Literal["text", "markdown"] = "text", *, policy: Any = None,
           title: str = "skyc plan") -> str:
    """Text for a terminal or Markdown for a pull-request comment (templates diff.*.j2)."""
    from skyc import templating

    env = templating.environment()
    name = {"text": "diff.txt.j2", "markdown": "diff.md.j2"}[fmt]
    out = env.get_template(name).render(
        diffs=diffs, total=total_summary(diffs), policy=policy, title=title,
        fmt_value=format_value, fmt_money=_money, fmt_delta=_delta,
    )
    if fmt == "text" and policy is not None:
        out += env.get_template("policy.txt.j2").render(policy=policy)
    return out.strip("\n") + "\n"


def plan_diffs(plan: Any, engine: Any = None, *, preview: bool = False,
               costs_before: dict[str, float] | None = None) -> list[StackDiff]:
    """Diff every stack of a plan against its current state and record each entry's
    `base_version` (the version `apply` will insist on). `costs_before`: $/h of the running
    clusters (default: the cluster registry's figures; a local stack costs nothing)."""
    from skyc.registry import hourly_prices

    if engine is None:
        from skyc.stacks.engine import Engine

        engine = Engine()
    if costs_before is None:
        costs_before = hourly_prices(include_stopped=False)
    out = []
    for task in plan.tasks:
        spec = task.stack
        after = task.hourly_cost
        rendered = [r.model_dump(include={"type", "name", "inputs"}) for r in task.resources]
        d = diff_against_state(spec, engine, preview=preview, hourly_cost_after=after, rendered=rendered)
        if d.base_version is not None:
            before = costs_before.get(spec.stack)
            if before is None and spec.provider == "local":
                before = 0.0
            d.hourly_cost_before = before
        else:
            d.hourly_cost_before = 0.0
        task.base_version = d.base_version
        out.append(d)
    return out


def detailed_exit_code(diffs: Iterable[StackDiff]) -> int:
    """`plan --detailed-exitcode`: 0 no changes, 2 changes (1 is left for errors), as Terraform."""
    return 2 if any(d.has_changes for d in diffs) else 0
