"""The Pulumi engine behind skyc: one stack per cluster/service in project `skyc`.

Operations that run a program (up, preview, refresh, destroy) each run in a worker process
(`skyc.stacks.worker`) under a per-stack lock; reads (outputs, history, export, ...) run here.
The engine prints nothing: progress goes to the `on_event` callback as plain dicts:

    {"kind": "resource_pre" | "resource_done" | "resource_failed", "op": "create" | "update" | "same" |
     "delete" | "replace" | "refresh" | ..., "name": "head", "type": "pulumi-python:dynamic:Resource",
     "urn": ..., "diffs": [...], ...}
    {"kind": "diagnostic", "severity": "info" | "warning" | "error", "message": ..., "urn": ...}
    {"kind": "summary", "changes": {"create": 2, "same": 1}, "duration_seconds": 3}
    {"kind": "prelude" | "cancel", ...}

A Ctrl-C (KeyboardInterrupt) in the caller during an operation asks the worker to cancel, waits
for Pulumi to save the state, then re-raises KeyboardInterrupt.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from skyc import errors, paths
from skyc.errors import ClusterNotFoundError, EngineError
from skyc.stacks import recovery, workspace
from skyc.stacks.base import Inventory, StackSpec
from skyc.stacks.keys import check_name, cluster_host_key, cluster_key
from skyc.stacks.lock import StackLock

OnEvent = Callable[[dict], None]
_SECRET_SIG = workspace.SECRET_SIG


class Engine:
    def __init__(self, backend_url: str | None = None):
        self.backend_url = workspace.backend_url(backend_url)

    # ------------------------------------------------------------ operations (worker process)

    def up(self, spec: StackSpec, on_event: OnEvent | None = None) -> Inventory:
        """Create or update the stack to match `spec` (stop/start: flip `spec.stopped`)."""
        key_path, spec = _with_keys(spec)
        self._remember(spec)
        result = self._run("up", spec.stack, on_event, spec=spec.model_dump(mode="json"))
        return self._inventory(spec, result["outputs"], key_path)

    def preview(self, spec: StackSpec) -> dict:
        """Steps the engine would take: {steps: [{op, type, name, urn, old_inputs, new_inputs,
        diffs, replace_reasons}], summary: {op: count}}."""
        _, spec = _with_keys(spec)
        return self._run("preview", spec.stack, None, spec=spec.model_dump(mode="json"))

    def refresh(self, stack: str) -> dict:
        """Reconcile state with reality: {changes: {...}, drifted: [{name, type, change}]}."""
        self._require(stack)
        return self._run("refresh", stack, None)

    def destroy(self, stack: str, on_event: OnEvent | None = None) -> None:
        """Delete every resource and the stack itself; also sweeps provider leftovers (e.g. a
        node started by an interrupted `up` before it was recorded)."""
        check_name(stack)
        provider = self._provider_of(stack)
        try:
            if stack in self.stacks():
                self._run("destroy", stack, on_event)
        finally:
            # Even when Pulumi fails, nothing of the cluster may keep running (a later refresh
            # reconciles the state). A busy stack is left alone: its operation is still live.
            if provider is not None and not StackLock(stack, "destroy").held_by_other():
                from skyc.stacks import registry

                registry.get(provider).cleanup(stack)
        (self._pending_dir() / f"{stack}.json").unlink(missing_ok=True)
        from skyc.stacks.keys import remove_cluster_key

        remove_cluster_key(stack)

    # ------------------------------------------------------------ reads (this process)

    def stacks(self) -> list[str]:
        local = workspace.file_backend_dir(self.backend_url)
        if local is not None:
            d = local / ".pulumi" / "stacks" / workspace.PROJECT
            found = d.glob("*.json*") if d.is_dir() else []
            return sorted({p.name.split(".json")[0] for p in found if p.name.endswith((".json", ".json.gz", ".json.zst"))})
        return sorted(s.name for s in workspace.local_workspace(None, self.backend_url).list_stacks())

    def outputs(self, stack: str) -> dict:
        fast = self._outputs_from_file(stack)
        if fast is not None:
            return fast
        h = self._handle(stack)
        return {k: v.value for k, v in h.outputs().items()}

    def _outputs_from_file(self, stack: str) -> dict | None:
        out = workspace.checkpoint_outputs(self.backend_url, stack)
        if out is None and stack not in self.stacks():
            raise ClusterNotFoundError(f"no stack named {stack!r}; `skyc status` lists clusters")
        return out

    def last_spec(self, stack: str) -> StackSpec | None:
        if stack not in self.stacks():
            return None
        spec = self.outputs(stack).get("spec")
        return StackSpec.model_validate(spec) if spec else None

    def inventory(self, stack: str) -> Inventory | None:
        if stack not in self.stacks():
            return None
        outs = self.outputs(stack)
        if not outs.get("spec"):
            return None
        spec = StackSpec.model_validate(outs["spec"])
        return self._inventory(spec, outs, paths.keys_dir() / stack)

    def history(self, stack: str) -> list[dict]:
        """Updates, newest first."""
        h = self._handle(stack)
        rows = []
        updates = h.history()
        for i, u in enumerate(updates):
            env = u.environment or {}
            rows.append(
                {
                    # file backends record no version: number the updates oldest = 1
                    "version": u.version or len(updates) - i,
                    "kind": u.kind,
                    "result": u.result,
                    "start_time": u.start_time.isoformat() if u.start_time else None,
                    "end_time": u.end_time.isoformat() if u.end_time else None,
                    "resource_changes": dict(u.resource_changes or {}),
                    "user": env.get("exec.user") or env.get("git.author"),
                }
            )
        return rows

    def version(self, stack: str) -> int | None:
        """Latest update version; a plan made at version N is stale once this moves on."""
        if stack not in self.stacks():
            return None
        local = workspace.file_backend_dir(self.backend_url)
        if local is not None:
            d = local / ".pulumi" / "history" / workspace.PROJECT / stack
            found = d.glob("*.history.json*") if d.is_dir() else []
            return len([p for p in found if p.name.endswith((".history.json", ".history.json.gz", ".history.json.zst"))])
        page = self._handle(stack).history(page_size=1)
        return page[0].version if page else None

    def export(self, stack: str) -> dict:
        deployment = self._handle(stack).export_stack()
        return {"version": deployment.version, "deployment": _redact(deployment.deployment)}

    # ------------------------------------------------------------ internals

    def _inventory(self, spec: StackSpec, outputs: dict, key_path: Path) -> Inventory:
        from skyc.stacks import registry

        inv = registry.get(spec.provider).inventory(spec, outputs)
        if inv.ssh_private_key is None:
            inv = inv.model_copy(update={"ssh_private_key": str(key_path)})
        return inv

    def _handle(self, stack: str):
        if stack not in self.stacks():
            raise ClusterNotFoundError(f"no stack named {stack!r}; `skyc status` lists clusters")
        return workspace.stack_handle(stack, None, self.backend_url, create=False)

    def _require(self, stack: str) -> None:
        if stack not in self.stacks():
            raise ClusterNotFoundError(f"no stack named {stack!r}; `skyc status` lists clusters")

    def _pending_dir(self) -> Path:
        return paths.home() / "pulumi" / "pending"

    def _remember(self, spec: StackSpec) -> None:
        """Record the provider of a stack before its first `up` ends, so `destroy` can sweep
        whatever an interrupted `up` left behind."""
        d = self._pending_dir()
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{spec.stack}.json").write_text(json.dumps({"provider": spec.provider}))

    def _provider_of(self, stack: str) -> str | None:
        try:
            return json.loads((self._pending_dir() / f"{stack}.json").read_text())["provider"]
        except (OSError, ValueError, KeyError):
            pass
        try:
            spec = self.last_spec(stack)
        except errors.SkycError:
            return None
        return spec.provider if spec else None

    def _run(self, op: str, stack: str, on_event: OnEvent | None, **payload: Any) -> dict:
        lock = StackLock(stack, op)
        lock.acquire()  # raises StackBusyError at once when another operation holds it
        try:
            # We hold the stack's lock: whatever an earlier, interrupted operation left is stale.
            recovery.reap_orphans()
            local = workspace.file_backend_dir(self.backend_url)
            if local is not None:
                recovery.clear_stale_pulumi_locks(local, workspace.PROJECT, stack)
                recovery.repair_file_state(local, workspace.PROJECT, stack)
            return self._spawn(op, stack, lock.fd, on_event, payload)
        finally:
            lock.release()

    def _spawn(self, op: str, stack: str, lock_fd: int | None, on_event: OnEvent | None, payload: dict) -> dict:
        read_fd, write_fd = os.pipe()
        log_dir = paths.home() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"engine-{stack}.log"
        if log_path.exists() and log_path.stat().st_size > 5_000_000:
            os.replace(log_path, log_path.with_suffix(".log.1"))  # keep one old log
        from skyc.stacks import pulumi_cli

        cli = pulumi_cli.resolve()  # fails here, before any process starts, when there is no CLI
        request = {
            "op": op,
            "stack": stack,
            "backend_url": self.backend_url,
            "lock_fd": lock_fd,
            "pulumi": {"pulumi": str(cli.pulumi), "version": cli.version, "source": cli.source, "root": str(cli.root)},
            **payload,
        }
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "skyc.stacks.worker", str(write_fd)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                pass_fds=(write_fd,) + ((lock_fd,) if lock_fd is not None else ()),
                start_new_session=True,  # a Ctrl-C of the caller is forwarded, not broadcast
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        os.close(write_fd)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(request).encode())
        proc.stdin.close()
        result: dict | None = None
        error: dict | None = None
        interrupted = False
        callback_error: Exception | None = None
        with os.fdopen(read_fd, "r") as channel:
            while True:
                try:
                    line = channel.readline()
                except KeyboardInterrupt:
                    # Ask the worker to cancel; keep reading so the state is saved before we return.
                    interrupted = True
                    proc.send_signal(signal.SIGTERM)
                    continue
                if not line:
                    break
                msg = json.loads(line)
                if "event" in msg:
                    if on_event is not None and callback_error is None:
                        try:
                            on_event(msg["event"])
                        except Exception as e:  # noqa: BLE001 - re-raised once the worker is done
                            callback_error = e
                elif "result" in msg:
                    result = msg["result"]
                elif "error" in msg:
                    error = msg["error"]
        proc.wait()
        if interrupted:
            raise KeyboardInterrupt
        if callback_error is not None:
            raise callback_error
        if error is not None:
            cls = getattr(errors, error.get("class", ""), None)
            if isinstance(cls, type) and issubclass(cls, errors.SkycError) and cls is not errors.SpecError:
                raise cls(error["message"])
            raise EngineError(f"pulumi {op} of {stack} failed: {error['message']}")
        if result is None:
            raise EngineError(f"pulumi {op} of {stack} ended without a result (exit {proc.returncode}); see {log_dir / f'engine-{stack}.log'}")
        return result


def _with_keys(spec: StackSpec) -> tuple[Path, StackSpec]:
    """The cluster's login key path, and the spec with its public login and host keys filled in."""
    check_name(spec.stack)
    key_path, public_key = cluster_key(spec.stack)
    _, host_key = cluster_host_key(spec.stack)
    return key_path, spec.model_copy(update={"ssh_public_key": public_key, "ssh_host_key": host_key})


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
            return "[secret]"
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value
