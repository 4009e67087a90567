"""CLI resource flags applied to every candidate of a task (`--gpus`, `--infra`, `--cpus`, ...)."""

from __future__ import annotations

from typing import Any

from skyc.compiler.accelerators import is_tpu, parse_accelerator_str
from skyc.compiler.cloud_rules import check_candidate
from skyc.compiler.infra import parse_infra
from skyc.compiler.resource_parser import parse_image_id, tpu_default_args
from skyc.compiler.resources import ResourceChoice, Resources
from skyc.compiler.units import parse_count, parse_disk_size, parse_ports, parse_size_gb
from skyc.errors import UsageError

_KNOWN = {"gpus", "cpus", "memory", "infra", "use_spot", "num_nodes", "instance_type", "disk_size", "ports",
          "image_id"}


def _none(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == "none"


def _flag(name: str, fn):  # noqa: ANN001, ANN202
    try:
        return fn()
    except ValueError as e:
        raise UsageError(f"--{name.replace('_', '-')}: {e}") from None


def _updates(overrides: dict[str, Any]) -> dict[str, Any]:
    upd: dict[str, Any] = {}
    if overrides.get("cpus") is not None:
        v = overrides["cpus"]
        upd.update(dict(zip(("cpus", "cpus_at_least"), (None, False) if _none(v) else
                            _flag("cpus", lambda: parse_count(v, "cpus")))))
    if overrides.get("memory") is not None:
        v = overrides["memory"]
        upd.update(dict(zip(("memory", "memory_at_least"), (None, False) if _none(v) else
                            _flag("memory", lambda: parse_size_gb(v, "memory")))))
    if overrides.get("infra") is not None:
        v = overrides["infra"]
        info = (None, None, None) if _none(v) else _flag("infra", lambda: parse_infra(v))
        upd.update(cloud=info[0], region=info[1], zone=info[2])  # all three reset, like SkyPilot
    if overrides.get("use_spot") is not None:
        upd["use_spot"] = bool(overrides["use_spot"])
    if overrides.get("instance_type") is not None:
        v = overrides["instance_type"]
        upd["instance_type"] = None if _none(v) else v
    if overrides.get("disk_size") is not None:
        v = overrides["disk_size"]
        upd["disk_size"] = 256 if _none(v) else _flag("disk_size", lambda: parse_disk_size(v))
    if overrides.get("ports") is not None:
        v = overrides["ports"]
        items = list(v) if isinstance(v, (list, tuple)) else [v]
        upd["ports"] = () if any(_none(i) for i in items) else _flag("ports", lambda: parse_ports(
            [i if isinstance(i, int) else str(i) for i in items]))
    if overrides.get("image_id") is not None:
        v = overrides["image_id"]
        upd["image_id"] = None if _none(v) else _flag("image_id", lambda: parse_image_id(v))
    return upd


def _accelerator_update(r: Resources, acc) -> dict[str, Any]:  # noqa: ANN001
    """A TPU brings its defaults (GCP, TPU VM args) as in the YAML; any other accelerator clears TPU args."""
    if not is_tpu(acc.name):
        return {"accelerator": acc, "accelerator_args": None}
    if r.cloud not in (None, "gcp", "kubernetes"):
        raise UsageError(f"--gpus {acc.name}: TPUs are only available on gcp or kubernetes, not {r.cloud}")
    return {"accelerator": acc, "accelerator_args": tpu_default_args(acc.name), "cloud": r.cloud or "gcp"}


def _raise_for(overrides: dict[str, Any]):  # noqa: ANN202
    """Report a problem of an overridden candidate as a usage error naming the flag most likely at fault."""
    flags = {"infra": "infra", "instance_type": "instance-type", "image_id": "image-id", "cpus": "cpus",
             "memory": "memory", "labels": "infra"}

    def report(field: str, message: str) -> None:
        flag = flags.get(field, "infra")
        raise UsageError(f"--{flag}: {message}" if overrides.get(flag.replace("-", "_")) is not None else message)

    return report


def apply_overrides(task, **overrides: Any):  # noqa: ANN001, ANN201 - Task in, Task out
    """Return a copy of `task` with the flags applied to every resource candidate."""
    unknown = set(overrides) - _KNOWN
    if unknown:
        raise TypeError(f"unknown override(s): {', '.join(sorted(unknown))}")
    upd = _updates(overrides)
    choice: ResourceChoice = task.resources
    candidates: list[Resources] = [r.model_copy(update=upd) for r in choice.candidates]
    mode = choice.mode
    gpus = overrides.get("gpus")
    if gpus is not None:
        if _none(gpus):
            candidates = [r.model_copy(update={"accelerator": None, "accelerator_args": None}) for r in candidates]
        else:
            accs = _flag("gpus", lambda: parse_accelerator_str(gpus))
            candidates = [r.model_copy(update=_accelerator_update(r, a)) for r in candidates for a in accs]
            if len(accs) > 1 and mode == "single":
                mode = "any_of"
    if {"infra", "instance_type", "image_id", "cpus", "memory"} & {k for k, v in overrides.items() if v is not None}:
        candidates = [check_candidate(r, _raise_for(overrides)) for r in candidates]
    unique: list[Resources] = []
    for r in candidates:
        if r not in unique:
            unique.append(r)
    if len(unique) == 1 and mode != "single" and len(choice.candidates) == 1:
        mode = "single"
    update: dict[str, Any] = {"resources": ResourceChoice(mode=mode, candidates=tuple(unique))}
    if overrides.get("num_nodes") is not None:
        n = overrides["num_nodes"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise UsageError(f"--num-nodes must be a positive integer, got {n!r}")
        update["num_nodes"] = n
    return task.model_copy(update=update)
