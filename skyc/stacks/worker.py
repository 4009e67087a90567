"""One Pulumi operation in its own process: `python -m skyc.stacks.worker <fd>`.

Inline-program state in the Pulumi SDK is process-global, so each up/preview/refresh/destroy
runs here. The request is JSON on stdin; events, then one result or error, are JSON lines
written to file descriptor <fd>. The stack lock's descriptor is inherited, so the lock stays
held until this process ends even if the caller dies.
"""

from __future__ import annotations

import enum
import json
import os
import re
import signal
import sys
import traceback
from pathlib import Path
from typing import Any


class _Channel:
    def __init__(self, fd: int):
        self.out = os.fdopen(fd, "w", buffering=1)

    def send(self, kind: str, payload: Any) -> None:
        if kind == "event" and payload.get("kind") == "diagnostic" and payload.get("severity") == "debug":
            return  # the SDK's own chatter
        try:
            self.out.write(json.dumps({kind: payload}, default=str) + "\n")
            self.out.flush()
        except (BrokenPipeError, OSError):
            pass  # the caller is gone; finish the operation anyway so the state stays whole


def _plain(value: Any) -> Any:
    """Engine event objects (dataclass-like, enums) -> JSON-able data."""
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "__dict__"):
        return {k: _plain(v) for k, v in vars(value).items() if v is not None and not k.startswith("_")}
    return str(value)


def event_dict(event: Any) -> dict:
    """The interesting part of an EngineEvent, flattened: {kind, op, urn, type, name, ...}."""
    for attr, kind in (
        ("resource_pre_event", "resource_pre"),
        ("res_outputs_event", "resource_done"),
        ("res_op_failed_event", "resource_failed"),
        ("diagnostic_event", "diagnostic"),
        ("summary_event", "summary"),
        ("prelude_event", "prelude"),
        ("cancel_event", "cancel"),
    ):
        ev = getattr(event, attr, None)
        if ev is None:
            continue
        data: dict[str, Any] = {"kind": kind, "sequence": event.sequence, "timestamp": event.timestamp}
        md = getattr(ev, "metadata", None)
        if md is not None:
            urn = md.urn or ""
            data.update(
                op=_plain(md.op),
                urn=urn,
                type=md.type,
                name=urn.rsplit("::", 1)[-1],
                old_inputs=_plain(md.old.inputs) if md.old else None,
                new_inputs=_plain(md.new.inputs) if md.new else None,
                old_outputs=_plain(md.old.outputs) if md.old else None,
                new_outputs=_plain(md.new.outputs) if md.new else None,
                diffs=list(md.diffs or []),
                replace_reasons=list(md.keys or []) if _plain(md.op) in ("replace", "create-replacement", "delete-replaced") else [],
                detailed_diff=_plain(md.detailed_diff) if md.detailed_diff else None,
            )
        if kind == "diagnostic":
            data.update(severity=ev.severity, message=ev.message.rstrip(), urn=ev.urn or "")
        elif kind == "summary":
            data.update(changes=_plain(ev.resource_changes), duration_seconds=ev.duration_seconds)
        elif kind == "resource_failed":
            data.update(status=getattr(ev, "status", None))
        return data
    return {"kind": "other", "sequence": event.sequence}


def _program(spec: dict):
    from skyc.stacks import registry
    from skyc.stacks.base import StackSpec

    s = StackSpec.model_validate(spec)
    program = registry.get(s.provider).program(s)

    def with_spec() -> None:
        import pulumi

        program()
        # Every stack records the spec it was last applied with (Engine.last_spec, plan staleness).
        pulumi.export("spec", s.model_dump(mode="json"))

    return with_spec


def _up(req: dict, chan: _Channel) -> dict:
    from skyc.stacks.workspace import checkpoint_outputs, stack_handle

    program = _program(req["spec"])
    stack = stack_handle(req["stack"], program, req["backend_url"])
    summary: dict = {}
    on_event = _summarising(chan, summary)
    fast = _skip_post_update_reads(stack, req["backend_url"])
    res = stack.up(on_event=on_event, program=program)
    outputs = checkpoint_outputs(req["backend_url"], req["stack"]) if fast else None
    if outputs is None:
        # the class's method: the instance one may be the skipped stand-in
        outputs = {k: v.value for k, v in (res.outputs or type(stack).outputs(stack)).items()}
    return {"outputs": outputs, "changes": summary or dict(res.summary.resource_changes or {})}


def _skip_post_update_reads(stack, url: str) -> bool:
    """After an operation the SDK starts the CLI again for its summary (history) and, after
    `up`, twice for the outputs. With a file backend the checkpoint holds the outputs and the
    summary event the changes, so those calls are skipped (this process ends after one op)."""
    import datetime

    from pulumi.automation import UpdateSummary

    from skyc.stacks.workspace import file_backend_dir

    if file_backend_dir(url) is None:
        return False
    now = datetime.datetime.now()
    stack.outputs = lambda: {}
    stack.info = lambda *_a, **_k: UpdateSummary(
        kind="update", start_time=now, message="", environment={}, config={}, result="succeeded"
    )
    return True


def _summarising(chan: _Channel, summary: dict, also=None):
    """An on_event callback that forwards events and keeps the summary's change counts."""

    def on_event(e) -> None:
        d = event_dict(e)
        if d["kind"] == "summary":
            summary.update(d.get("changes") or {})
        if also is not None:
            also(d)
        chan.send("event", d)

    return on_event


def _preview(req: dict, chan: _Channel) -> dict:
    from skyc.stacks.workspace import stack_handle

    from skyc.stacks.workspace import file_backend_dir, stack_exists

    program = _program(req["spec"])
    # Previewing a new cluster needs a stack; do not leave an empty one behind (file backends,
    # where existence is known for sure).
    temporary = file_backend_dir(req["backend_url"]) is not None and not stack_exists(req["backend_url"], req["stack"])
    stack = stack_handle(req["stack"], program, req["backend_url"])
    steps: list[dict] = []

    def on_event(e) -> None:
        d = event_dict(e)
        if d["kind"] == "resource_pre" and d.get("type") != "pulumi:pulumi:Stack":
            step = {k: d.get(k) for k in ("op", "type", "name", "urn", "old_inputs", "new_inputs", "diffs", "replace_reasons")}
            if not step["diffs"] and step["op"] not in ("same", "create", "delete"):
                step["diffs"] = _changed_keys(step["old_inputs"] or {}, step["new_inputs"] or {})
            steps.append(step)
        chan.send("event", d)

    try:
        res = stack.preview(on_event=on_event, program=program)
    finally:
        if temporary:
            stack.workspace.remove_stack(req["stack"])
    return {"steps": steps, "summary": dict(res.change_summary or {})}


def _changed_keys(old: dict, new: dict) -> list[str]:
    """Input keys that differ (dynamic providers report changes but not which keys)."""
    return sorted(k for k in set(old) | set(new) if k != "__provider" and old.get(k) != new.get(k))


def _refresh(req: dict, chan: _Channel) -> dict:
    from skyc.stacks.workspace import stack_handle

    stack = stack_handle(req["stack"], None, req["backend_url"], create=False)
    drifted: list[dict] = []
    summary: dict = {}

    def on_done(d: dict) -> None:
        if d["kind"] == "resource_done" and d.get("type") != "pulumi:pulumi:Stack" and not d.get("type", "").startswith("pulumi:providers:"):
            op = d.get("op")
            gone = op in ("delete", "deleted", "read-discard", "discard") or (op == "refresh" and not d.get("new_outputs") and d.get("old_outputs"))
            if gone:
                drifted.append({"name": d["name"], "type": d["type"], "change": "deleted"})
            elif op in ("update", "refresh") and d.get("diffs"):
                drifted.append({"name": d["name"], "type": d["type"], "change": "updated"})

    _skip_post_update_reads(stack, req["backend_url"])
    res = stack.refresh(on_event=_summarising(chan, summary, on_done), clear_pending_creates=True)
    return {"changes": summary or dict(res.summary.resource_changes or {}), "drifted": drifted}


def _destroy(req: dict, chan: _Channel) -> dict:
    from skyc.stacks.workspace import stack_handle

    stack = stack_handle(req["stack"], None, req["backend_url"], create=False)
    summary: dict = {}
    _skip_post_update_reads(stack, req["backend_url"])
    res = stack.destroy(on_event=_summarising(chan, summary), remove=True)
    return {"changes": summary or dict(res.summary.resource_changes or {})}


OPERATIONS = {"up": _up, "preview": _preview, "refresh": _refresh, "destroy": _destroy}


def _interrupt_children(signum, _frame) -> None:
    """SIGTERM/SIGINT: ask the Pulumi CLI to cancel gracefully; it finishes in-flight steps and
    saves the state, then the SDK call returns with an error."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == me:
                    os.kill(int(entry.name), signal.SIGINT)
            except (OSError, IndexError, ValueError):
                pass


def main() -> int:
    chan = _Channel(int(sys.argv[1]))
    signal.signal(signal.SIGTERM, _interrupt_children)
    signal.signal(signal.SIGINT, _interrupt_children)
    req = json.loads(sys.stdin.read())
    if req.get("pulumi"):
        from skyc.stacks import pulumi_cli

        c = req["pulumi"]
        pulumi_cli.use(pulumi_cli.Resolved(Path(c["pulumi"]), c["version"], c["source"], Path(c["root"])))
    if req.get("lock_fd") is not None:
        from skyc.stacks.lock import StackLock

        # Name this process as the holder: it keeps the lock even if the caller dies.
        StackLock(req["stack"], req["op"]).adopt(int(req["lock_fd"]))
    from skyc.errors import SkycError

    try:
        result = OPERATIONS[req["op"]](req, chan)
    except SkycError as e:
        chan.send("error", {"class": type(e).__name__, "message": str(e)})
        return 1
    except Exception as e:  # noqa: BLE001 - every failure goes back to the caller as data
        chan.send("error", {"class": type(e).__name__, "message": _pulumi_message(e), "traceback": traceback.format_exc()})
        return 1
    chan.send("result", result)
    return 0


_NOISE = ("update failed", "preview failed", "destroy failed", "refresh failed",
          "Resource monitor has terminated, shutting down")
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)*([A-Z]\w*(?:Error|Exception)): (.+)$")
_RESOURCE_HEADER = re.compile(r"^  (\S+) \((.+)\):$")


def _pulumi_message(e: Exception) -> str:
    """The causes in a failed CLI run's diagnostics, one per resource (`head: ProviderError: …`),
    without the progress lines and tracebacks around them; else the error's own text."""
    text = "\n".join(t for t in (getattr(e, "stderr", ""), getattr(e, "stdout", ""), str(e)) if t)
    diag = text.split("Diagnostics:", 1)[1] if "Diagnostics:" in text else text
    diag = re.split(r"\n\s*(?:Resources|Outputs|Duration):", diag, maxsplit=1)[0]
    causes: list[str] = []
    resource = None
    for line in diag.splitlines():
        header = _RESOURCE_HEADER.match(line)
        if header:
            resource = None if header.group(1) == "pulumi:pulumi:Stack" else header.group(2)
            continue
        item = line.strip().removeprefix("error: ")
        exc = _EXCEPTION_LINE.match(item)
        if exc:
            item = f"{exc.group(1)}: {exc.group(2)}"
        elif not line.strip().startswith("error: ") or item.startswith("Traceback") or item in _NOISE:
            continue
        causes.append(f"{resource}: {item}" if resource else item)
    return "\n".join(dict.fromkeys(causes))[:4000] or str(e)[:4000]


if __name__ == "__main__":
    sys.exit(main())
