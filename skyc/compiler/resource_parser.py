"""`resources:` (already type-checked) -> the canonical `ResourceChoice`, and back to YAML form.

The optimizer only sees the result: one tuple of `Resources` candidates and how to choose among them.
"""

from __future__ import annotations

from typing import Any

from skyc.compiler.accelerators import is_tpu, parse_accelerator_str, parse_accelerators
from skyc.compiler.cloud_rules import check_candidate
from skyc.compiler.infra import canonical_cloud, format_infra, parse_infra
from skyc.compiler.resources import (Accelerator, AutostopConfig, JobRecovery, ResourceChoice, Resources,
                                     ResourceVolume)
from skyc.compiler.spec_issues import Collector
from skyc.compiler.units import format_number, parse_count, parse_disk_size, parse_minutes, parse_ports, parse_size_gb

DISK_TIERS = ("low", "medium", "high", "ultra", "best")
NETWORK_TIERS = ("standard", "best")
RECOVERY_STRATEGIES = ("EAGER_NEXT_REGION", "FAILOVER")
_DEFAULT_DISK = 256
_CANDIDATE_ONLY = ("any_of", "ordered")


def tpu_default_args(name: str) -> dict[str, Any]:
    """SkyPilot's defaults for a TPU VM: runtime by generation, tpu_vm on."""
    low = name.lower()
    runtime = "tpu-vm-base"
    if "v5" in low:
        runtime = "v2-alpha-tpuv5"
    elif "v6e" in low:
        runtime = "v2-alpha-tpuv6e"
    return {"runtime_version": runtime, "tpu_vm": True}


def parse_autostop(value: Any) -> tuple[AutostopConfig | None, dict | None]:
    """autostop forms -> (config, hook-entry-for-config.hooks or None)."""
    if value is None:
        return None, None
    if value is False:
        return AutostopConfig(enabled=False), None
    if value is True:
        return AutostopConfig(enabled=True), None
    if isinstance(value, (int, str)):
        return AutostopConfig(idle_minutes=parse_minutes(value, "autostop")), None
    if isinstance(value, dict):
        idle = value.get("idle_minutes")
        cfg = AutostopConfig(
            idle_minutes=0 if idle is None else parse_minutes(idle, "autostop.idle_minutes"),
            down=bool(value.get("down") or False),
            wait_for=value.get("wait_for") or "jobs_and_ssh",
        )
        hook = None
        if value.get("hook"):
            hook = {"run": value["hook"], "events": ["down" if cfg.down else "stop"]}
            if value.get("hook_timeout") is not None:
                hook["timeout"] = value["hook_timeout"]
        return cfg, hook
    raise ValueError(f"autostop must be true/false, minutes, a time like '2h' or a mapping, got {value!r}")


def parse_job_recovery(value: Any) -> JobRecovery | None:
    if value is None or value == "none":
        return None
    if isinstance(value, str):
        strategy: str | None = value
        restarts, codes = 0, ()
    else:
        strategy = value.get("strategy")
        restarts = value.get("max_restarts_on_errors") or 0
        raw_codes = value.get("recover_on_exit_codes")
        codes_list = [] if raw_codes is None else ([raw_codes] if isinstance(raw_codes, int) else list(raw_codes))
        for c in codes_list:
            if not 0 <= c <= 255:
                raise ValueError(f"recover_on_exit_codes: {c} is not an exit code (0-255)")
        if len(set(codes_list)) != len(codes_list):
            raise ValueError("recover_on_exit_codes must not repeat a code")
        codes = tuple(codes_list)
    if strategy is not None:
        if strategy == "none":
            strategy = None
        else:
            strategy = strategy.upper()
            if strategy not in RECOVERY_STRATEGIES:
                raise ValueError(f"unknown job_recovery strategy {strategy!r}; use one of {', '.join(RECOVERY_STRATEGIES)}")
    return JobRecovery(strategy=strategy, max_restarts_on_errors=restarts, recover_on_exit_codes=codes)


def parse_image_id(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("image_id must not be empty")
        if value.startswith("docker:"):
            return {"docker": value[len("docker:"):]}
        return {"*": value}
    if not value:
        raise ValueError("image_id mapping is empty")
    if "docker" in value and any(isinstance(v, str) and v.startswith("docker:") for v in value.values()):
        raise ValueError("image_id: use either a 'docker' key or 'docker:'-prefixed values, not both")
    return dict(value)


def parse_local_disk(value: str) -> str:
    text = value.strip().lower()
    kind, sep, size = text.partition(":")
    if not sep:
        if kind in ("nvme", "ssd"):
            return f"{kind}:100+"
        kind, size = "nvme", text
    if kind not in ("nvme", "ssd"):
        raise ValueError(f"local_disk {value!r}: disk type must be nvme or ssd")
    amount, plus = parse_count(size, "local_disk size")
    return f"{kind}:{format_number(amount)}{'+' if plus else ''}"


class _Located:
    """Field path of each key of a merged candidate: from the any_of entry or from the outer mapping."""

    def __init__(self, outer: tuple, entry: tuple | None, entry_keys: set):
        self.outer, self.entry, self.entry_keys = outer, entry, entry_keys

    def __call__(self, key: str) -> tuple:
        if self.entry is not None and key in self.entry_keys:
            return self.entry + (key,)
        return self.outer + (key,)


def _single(d: dict, acc: Accelerator | None, where: _Located, ctx: Collector, hooks: list) -> Resources | None:
    """One merged candidate mapping -> Resources; problems go to ctx."""
    ok = True
    kw: dict[str, Any] = {}

    def guarded(key: str, fn):  # noqa: ANN001, ANN202
        nonlocal ok
        try:
            return fn()
        except ValueError as e:
            ctx.error(where(key), str(e))
            ok = False
            return None

    deprecated = [k for k in ("cloud", "region", "zone") if d.get(k) is not None]
    if d.get("infra") is not None:
        if deprecated:
            ctx.error(where("infra"), f"infra cannot be combined with {'/'.join(deprecated)}; put everything in infra")
            ok = False
        info = guarded("infra", lambda: parse_infra(d["infra"]))
        if info:
            kw.update(cloud=info.cloud, region=info.region, zone=info.zone)
    elif deprecated:
        ctx.warn(f"resources.{'/'.join(deprecated)} are deprecated; use infra: "
                 f"{format_infra((d.get('cloud') or '').lower() or None, d.get('region'), d.get('zone'))}")
        if d.get("cloud") is not None:
            kw["cloud"] = guarded("cloud", lambda: canonical_cloud(d["cloud"]))
        kw["region"], kw["zone"] = d.get("region"), d.get("zone")

    args = d.get("accelerator_args")
    if acc is not None:
        kw["accelerator"] = acc
        if is_tpu(acc.name):
            cloud = kw.get("cloud")
            if cloud is None:
                kw["cloud"] = "gcp"
            elif cloud not in ("gcp", "kubernetes"):
                ctx.error(where("accelerators"), f"TPU {acc.name} is only available on gcp or kubernetes, not {cloud}")
                ok = False
            merged = {**tpu_default_args(acc.name), **{k: v for k, v in (args or {}).items() if v is not None}}
            kw["accelerator_args"] = merged
            if merged.get("tpu_vm") and d.get("instance_type") not in (None, "TPU-VM"):
                ctx.error(where("instance_type"), f"instance_type {d['instance_type']!r} conflicts with TPU VM "
                          f"{acc.name}; drop instance_type (or set accelerator_args.tpu_vm: false)")
                ok = False
    if args is not None and (acc is None or not is_tpu(acc.name)):
        ctx.error(where("accelerator_args"), "accelerator_args applies to TPU accelerators only")
        ok = False

    if d.get("cpus") is not None:
        r = guarded("cpus", lambda: parse_count(d["cpus"], "cpus"))
        if r:
            kw["cpus"], kw["cpus_at_least"] = r
    if d.get("memory") is not None:
        r = guarded("memory", lambda: parse_size_gb(d["memory"], "memory"))
        if r:
            kw["memory"], kw["memory_at_least"] = r
    for key in ("instance_type", "priority_class"):
        if d.get(key) is not None:
            kw[key] = d[key]
    kw["use_spot"] = bool(d.get("use_spot") or False)
    if d.get("disk_size") is not None:
        kw["disk_size"] = guarded("disk_size", lambda: parse_disk_size(d["disk_size"]))
        if kw["disk_size"] is None:
            kw.pop("disk_size")
    if d.get("disk_tier") is not None:
        tier = d["disk_tier"].lower()
        if tier not in DISK_TIERS:
            ctx.error(where("disk_tier"), f"unknown disk_tier {d['disk_tier']!r}; use one of {', '.join(DISK_TIERS)}")
            ok = False
        kw["disk_tier"] = tier
    if d.get("network_tier") is not None:
        tier = d["network_tier"].lower()
        if tier not in NETWORK_TIERS:
            ctx.error(where("network_tier"), f"unknown network_tier {d['network_tier']!r}; use one of "
                      f"{', '.join(NETWORK_TIERS)}")
            ok = False
        kw["network_tier"] = tier
    if d.get("local_disk") is not None:
        kw["local_disk"] = guarded("local_disk", lambda: parse_local_disk(d["local_disk"]))
    if d.get("max_hourly_cost") is not None:
        if not d["max_hourly_cost"] > 0:
            ctx.error(where("max_hourly_cost"), "max_hourly_cost must be greater than 0 (USD per hour)")
            ok = False
        kw["max_hourly_cost"] = float(d["max_hourly_cost"])
    if d.get("ports") is not None:
        kw["ports"] = guarded("ports", lambda: parse_ports(d["ports"])) or ()
    if d.get("image_id") is not None:
        image = guarded("image_id", lambda: parse_image_id(d["image_id"]))
        if image:
            if kw.get("cloud") == "kubernetes" and "*" in image and "docker" not in image:
                image = {"docker": image.pop("*"), **image}
            vm_keys = [k for k in image if k != "docker"]
            if vm_keys and kw.get("cloud") is None:
                ctx.error(where("image_id"), "a VM image_id needs a cloud; set infra (e.g. infra: aws/us-east-1) "
                          "or use a docker: image")
                ok = False
            elif "*" in image and kw.get("cloud") == "aws" and image["*"].startswith("ami-") and not kw.get("region"):
                ctx.error(where("image_id"), "an AWS AMI id is per region; set a region in infra "
                          "(infra: aws/<region>) or map regions to AMIs")
                ok = False
            region_keys = [k for k in vm_keys if k != "*"]
            if region_keys and kw.get("region") and kw["region"] not in image:
                ctx.error(where("image_id"), f"image_id has no entry for region {kw['region']!r}")
                ok = False
            kw["image_id"] = image
    if d.get("labels"):
        kw["labels"] = dict(d["labels"])
    if "autostop" in d and d["autostop"] is not None:
        r = guarded("autostop", lambda: parse_autostop(d["autostop"]))
        if r:
            kw["autostop"], hook = r
            if hook and hook not in hooks:
                hooks.append(hook)
    if d.get("job_recovery") is not None:
        kw["job_recovery"] = guarded("job_recovery", lambda: parse_job_recovery(d["job_recovery"]))
    if d.get("priority") is not None:
        kw["priority"] = d["priority"]
    if d.get("volumes"):
        kw["volumes"] = tuple(ResourceVolume(**v) for v in d["volumes"])
    if not ok:
        return None
    try:
        r = Resources(**kw)
    except ValueError as e:  # a model constraint not caught above: still a located problem, never a crash
        ctx.error(where("infra"), str(e))
        return None
    place_key = next((k for k in ("infra", "region", "zone", "cloud") if d.get(k) is not None), "infra")

    def report(field: str, message: str) -> None:
        ctx.error(where(place_key if field == "infra" else field), message)

    return check_candidate(r, report)


def _accelerator_value(d: dict, base: tuple, ctx: Collector) -> tuple[str, Any] | None:
    """Merge the `gpus` alias into `accelerators`; both given is an error."""
    if d.get("gpus") is not None and d.get("accelerators") is not None:
        ctx.error(base + ("gpus",), "use either gpus or accelerators, not both", at_key=True)
        return None
    if d.get("gpus") is not None:
        return "gpus", d["gpus"]
    if d.get("accelerators") is not None:
        return "accelerators", d["accelerators"]
    return None


def parse_resources(raw: dict | None, ctx: Collector, hooks: list, base: tuple = ("resources",)) -> ResourceChoice:
    """Type-checked `resources` mapping -> ResourceChoice. Problems are recorded, not raised."""
    if not raw:
        return ResourceChoice()
    any_of, ordered = raw.get("any_of"), raw.get("ordered")
    if any_of is not None and ordered is not None:
        ctx.error(base + ("ordered",), "use either any_of or ordered, not both", at_key=True)
        return ResourceChoice()
    outer = {k: v for k, v in raw.items() if k not in _CANDIDATE_ONLY and v is not None}
    outer_acc = _accelerator_value(outer, base, ctx)
    outer.pop("gpus", None)
    container, outer_accs = "single", [None]
    if outer_acc is not None:
        key, val = outer_acc
        try:
            container, accs = parse_accelerators(val)
            outer_accs = list(accs)
        except ValueError as e:
            # Keep checking the other fields so the user sees every problem at once.
            ctx.error(base + (key,), str(e))
    entries_key = "any_of" if any_of is not None else ("ordered" if ordered is not None else None)
    entries = any_of if any_of is not None else ordered
    out: list[Resources] = []
    if entries_key is None:
        where = _Located(base, None, set())
        for acc in outer_accs:
            r = _single(outer, acc, where, ctx, hooks)
            if r is not None:
                out.append(r)
        mode = {"single": "single", "set": "any_of", "list": "ordered"}[container]
    else:
        if not entries:
            ctx.error(base + (entries_key,), f"{entries_key} must list at least one candidate")
            return ResourceChoice()
        if container == "list" and entries_key == "any_of":
            ctx.error(base + ("accelerators",), "an ordered list of accelerators cannot be combined with any_of; "
                      "write each accelerator as an any_of entry")
            return ResourceChoice()
        if len(outer_accs) > 1 and entries_key == "ordered":
            ctx.error(base + ("accelerators",), "several accelerators cannot be combined with ordered; "
                      "write each accelerator as an ordered entry")
            return ResourceChoice()
        mode = entries_key
        for i, entry in enumerate(entries):
            epath = base + (entries_key, i)
            entry = {k: v for k, v in entry.items() if v is not None}
            acc_val = _accelerator_value(entry, epath, ctx)
            merged = {**outer, **entry}
            merged.pop("gpus", None)
            merged.pop("accelerators", None)
            if outer.get("labels") and entry.get("labels"):
                merged["labels"] = {**outer["labels"], **entry["labels"]}
            where = _Located(base, epath, set(entry))
            accs: list[Accelerator | None] = outer_accs
            if acc_val is not None:
                key, val = acc_val
                if isinstance(val, list) or (isinstance(val, dict) and len(val) > 1):
                    ctx.error(epath + (key,), f"inside {entries_key}, accelerators must name one accelerator "
                              "(a string or a one-key mapping)")
                    val = None
                if val is None:
                    accs = [None]
                else:
                    try:
                        _, accs = parse_accelerators(val)
                    except ValueError as e:
                        ctx.error(epath + (key,), str(e))
                        accs = [None]
            for acc in accs:
                r = _single(merged, acc, where, ctx, hooks)
                if r is not None:
                    out.append(r)
    if not out:
        return ResourceChoice()
    unique: list[Resources] = []
    for r in out:
        if r not in unique:
            unique.append(r)
    for attr in ("autostop", "job_recovery", "priority"):
        if len({repr(getattr(r, attr)) for r in unique}) > 1:
            ctx.error(base + (attr,), f"all resource candidates must use the same {attr}")
    return ResourceChoice(mode=mode, candidates=tuple(unique))


def parse_gpus_override(value: str) -> list[Accelerator]:
    return parse_accelerator_str(value)


# --- canonical form -> YAML --------------------------------------------------------------------------


def _autostop_yaml(a: AutostopConfig) -> Any:
    if not a.enabled:
        return False
    return {"idle_minutes": a.idle_minutes, "down": a.down, "wait_for": a.wait_for}


def candidate_to_yaml(r: Resources) -> dict[str, Any]:
    """One Resources -> the YAML mapping that loads back to it."""
    out: dict[str, Any] = {}
    infra = format_infra(r.cloud, r.region, r.zone)
    if infra:
        out["infra"] = infra
    if r.accelerator is not None:
        out["accelerators"] = str(r.accelerator)
    if r.accelerator_args:
        out["accelerator_args"] = dict(r.accelerator_args)
    if r.cpus is not None:
        out["cpus"] = f"{format_number(r.cpus)}{'+' if r.cpus_at_least else ''}"
    if r.memory is not None:
        out["memory"] = f"{format_number(r.memory)}{'+' if r.memory_at_least else ''}"
    if r.instance_type:
        out["instance_type"] = r.instance_type
    if r.use_spot:
        out["use_spot"] = True
    if r.disk_size != _DEFAULT_DISK:
        out["disk_size"] = r.disk_size
    for key in ("disk_tier", "network_tier", "local_disk", "max_hourly_cost", "priority", "priority_class"):
        if getattr(r, key) is not None:
            out[key] = getattr(r, key)
    if r.ports:
        out["ports"] = list(r.ports)
    if r.image_id:
        if list(r.image_id) == ["*"]:
            out["image_id"] = r.image_id["*"]
        elif list(r.image_id) == ["docker"]:
            out["image_id"] = "docker:" + r.image_id["docker"]
        else:
            out["image_id"] = dict(r.image_id)
    if r.labels:
        out["labels"] = dict(r.labels)
    if r.autostop is not None:
        out["autostop"] = _autostop_yaml(r.autostop)
    if r.job_recovery is not None:
        jr = r.job_recovery
        out["job_recovery"] = {"strategy": jr.strategy, "max_restarts_on_errors": jr.max_restarts_on_errors,
                               "recover_on_exit_codes": list(jr.recover_on_exit_codes)}
    if r.volumes:
        out["volumes"] = [v.model_dump(exclude_none=True) for v in r.volumes]
    return out


def choice_to_yaml(choice: ResourceChoice) -> dict[str, Any]:
    if choice.mode == "single":
        return candidate_to_yaml(choice.candidates[0])
    return {choice.mode: [candidate_to_yaml(r) for r in choice.candidates]}
