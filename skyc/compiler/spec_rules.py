"""Rules SkyPilot applies when it builds a task from a type-checked document: env/secret layering,
`$VAR` substitution, file mounts, volumes, service, config whitelist, pipeline headers."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from pydantic import ValidationError

from skyc.compiler import envs as envs_mod
from skyc.compiler.resource_parser import parse_resources
from skyc.compiler.spec import (HookSpec, ReadinessProbe, ReplicaPolicy, ServiceSpec, StorageSpec, Task, TaskSpec,
                                VolumeMount, WorkdirGit)
from skyc.compiler.spec_issues import Collector, pydantic_problems
from skyc.compiler.units import parse_seconds, parse_size_gb
from skyc.compiler.yaml_loader import Document, locate
from skyc.errors import SpecIssue

STORAGE_MODES = ("MOUNT", "COPY", "MOUNT_CACHED")
LB_POLICIES = ("round_robin", "least_load", "instance_aware_least_load")
_URL_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]+")
_SECRET_SCOPES = ("personal.", "workspace.", "global.")
_DOCKER_LOGIN = ("SKYPILOT_DOCKER_USERNAME", "SKYPILOT_DOCKER_PASSWORD", "SKYPILOT_DOCKER_SERVER")
_HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def coerce_env_values(data: dict) -> dict:
    """envs/secrets values become strings the way Python's str() shows them (`1` -> "1", `true` -> "True")."""
    out = dict(data)
    for key in ("envs", "secrets"):
        val = out.get(key)
        if isinstance(val, dict):
            out[key] = {str(k): (None if v is None else (v if isinstance(v, str) else str(v))) for k, v in val.items()}
        elif key == "secrets" and isinstance(val, list):
            out[key] = [v if isinstance(v, str) else str(v) for v in val]
    return out


def _secrets_dict(raw: dict | list | None, ctx: Collector) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            if not item.startswith("secrets:"):
                ctx.error(("secrets", i), f"secret list entries must look like 'secrets:NAME', got {item!r}")
                continue
            out[item[len("secrets:"):]] = None
    elif raw:
        for key, val in raw.items():
            if key.startswith("secrets:"):
                if val is not None:
                    ctx.error(("secrets", key), f"{key!r} is a reference and cannot carry a value; "
                              f"write {key[len('secrets:'):]}: <value> for an inline secret")
                    continue
                key = key[len("secrets:"):]
            out[key] = val
    for key in list(out):
        bare = next((key[len(p):] for p in _SECRET_SCOPES if key.startswith(p)), key)
        if not envs_mod.ENV_NAME_RE.match(bare):
            ctx.error(("secrets", key), f"{key!r} is not a valid variable name", at_key=True)
    return out


def build_task(spec: TaskSpec, data: dict, ctx: Collector, file_envs: dict, cli_envs: dict,
               cli_secrets: dict) -> Task | None:
    envs = dict(spec.envs or {})
    for key in envs:
        if not envs_mod.ENV_NAME_RE.match(key):
            ctx.error(("envs", key), f"{key!r} is not a valid variable name (letters, digits, _; not starting "
                      "with a digit)", at_key=True)
    envs.update(file_envs)
    envs.update(cli_envs)
    for key, val in envs.items():
        if val is None:
            ctx.error(("envs", key), f"env {key} has no value; set it in the YAML or pass --env {key}=VALUE "
                      '(use "" for an empty value)')
    secrets = _secrets_dict(data.get("secrets"), ctx)
    secrets.update(file_envs)
    secrets.update(cli_secrets)
    _check_docker_login(envs, secrets, ctx)
    if spec.managed_secrets:
        ctx.warn("managed_secrets are not supported by skyc and are ignored")

    values = {k: v for k, v in envs.items() if v is not None}
    values.update({k: v for k, v in secrets.items() if v is not None})
    hooks: list = []
    task: dict[str, Any] = {
        "name": spec.name,
        "num_nodes": spec.num_nodes or 1,
        "envs": {k: v for k, v in envs.items() if v is not None},
        "secrets": secrets,
        "setup": spec.setup,
        "run": spec.run,
        "event_callback": spec.event_callback,
        "pool": spec.pool,
    }
    if spec.workdir is not None:
        task["workdir"] = _revalidate(ctx, ("workdir",), spec.workdir, values)
    task["resources"] = parse_resources(data.get("resources"), ctx, hooks)
    if spec.file_mounts:
        task["file_mounts"] = _file_mounts(envs_mod.substitute(data["file_mounts"], values), ctx,
                                           workdir_set=spec.workdir is not None)
    if spec.volumes:
        task["volumes"] = _volumes(envs_mod.substitute(data["volumes"], values), ctx)
    if spec.service is not None:
        if spec.pool is not None:
            ctx.error(("pool",), "a task has either a service or a pool, not both", at_key=True)
        task["service"] = _service(envs_mod.substitute(data["service"], values), task["resources"], ctx)
    task["config"] = _config(data.get("config") or {}, hooks, ctx)
    if ctx.problems:
        return None
    return Task(**{k: v for k, v in task.items() if v is not None})


def _revalidate(ctx: Collector, path: tuple, model_value: Any, values: dict) -> Any:
    if isinstance(model_value, str):
        return envs_mod.substitute(model_value, values)
    raw = envs_mod.substitute(model_value.model_dump(exclude_none=True), values)
    return WorkdirGit.model_validate(raw)


def _check_docker_login(envs: dict, secrets: dict, ctx: Collector) -> None:
    in_envs = [k for k in _DOCKER_LOGIN if k in envs]
    in_secrets = [k for k in _DOCKER_LOGIN if k in secrets]
    if (in_envs or in_secrets) and not (len(in_envs) == 3 and not in_secrets or len(in_secrets) == 3 and not in_envs):
        where = "envs" if in_envs else "secrets"
        ctx.error((where,), f"docker login needs {', '.join(_DOCKER_LOGIN)} all together, all in envs or all "
                  "in secrets")


def _file_mounts(raw: dict, ctx: Collector, *, workdir_set: bool) -> dict:
    out: dict[str, Any] = {}
    for dst, src in raw.items():
        path = ("file_mounts", dst)
        if _URL_RE.match(dst):
            ctx.error(path, f"the destination {dst!r} must be a path on the node, not a URL", at_key=True)
        if len(dst) > 1 and dst.endswith("/"):
            ctx.error(path, f"the destination {dst!r} must not end with '/'", at_key=True)
        if workdir_set and dst.rstrip("/") in ("~/sky_workdir",):
            ctx.error(path, "~/sky_workdir is where workdir is synced; mount somewhere else", at_key=True)
        if isinstance(src, str):
            if not src:
                ctx.error(path, "the source must not be empty")
            elif len(src) > 1 and src.endswith("/") and not _URL_RE.match(src):
                ctx.error(path, f"the source {src!r} must not end with '/'")
            out[dst] = src
            continue
        try:
            storage = StorageSpec.model_validate(src)
        except ValidationError as e:
            for p in pydantic_problems(e, src, StorageSpec):
                ctx.error(path + p.path, p.message, at_key=p.at_key)
            continue
        out[dst] = _storage(storage, path, ctx)
    return out


def _storage(s: StorageSpec, path: tuple, ctx: Collector) -> StorageSpec:
    update: dict[str, Any] = {}
    mode = (s.mode or "MOUNT").upper()
    if mode not in STORAGE_MODES:
        ctx.error(path + ("mode",), f"unknown mode {s.mode!r}; use one of {', '.join(STORAGE_MODES)}")
    update["mode"] = mode
    if s.persistent is None:
        update["persistent"] = True
    if s.name is not None and _URL_RE.match(s.name):
        ctx.error(path + ("name",), f"name {s.name!r} must be a bucket name, not a URL; put URLs in source")
    if isinstance(s.source, list):
        if not s.source:
            ctx.error(path + ("source",), "source list must not be empty")
        elif mode != "COPY":
            ctx.error(path + ("source",), "a list of sources works only with mode: COPY")
    elif isinstance(s.source, str):
        if _URL_RE.match(s.source):
            if s.name is not None:
                ctx.error(path + ("name",), "give either a bucket URL as source or a name, not both")
        elif s.name is None and s.store != "volume":
            ctx.error(path + ("name",), "a local source needs a bucket name (name: my-bucket)")
    elif s.name is None:
        ctx.error(path, "a storage mount needs a name or a source")
    return s.model_copy(update=update)


def _volumes(raw: dict, ctx: Collector) -> dict:
    out: dict[str, Any] = {}
    for mount, val in raw.items():
        path = ("volumes", mount)
        if not (mount.startswith("/") or mount.startswith("~")):
            ctx.error(path, f"volume path {mount!r} must be absolute or start with ~", at_key=True)
        if isinstance(val, str):
            out[mount] = val
            continue
        try:
            vol = VolumeMount.model_validate(val)
        except ValidationError as e:
            for p in pydantic_problems(e, val, VolumeMount):
                ctx.error(path + p.path, p.message, at_key=p.at_key)
            continue
        if vol.name is None and vol.size is None:
            ctx.error(path, "a volume needs a name (existing volume) or a size (ephemeral volume)")
        if vol.size is not None:
            with ctx.guard(path + ("size",)):
                gb, _ = parse_size_gb(vol.size, "size", allow_plus=False)
                if gb < 1:
                    raise ValueError("an ephemeral volume must be at least 1Gi")
        out[mount] = vol
    return out


def _service(raw: dict, resources, ctx: Collector) -> ServiceSpec | None:  # noqa: ANN001
    try:
        svc = ServiceSpec.model_validate(raw)
    except ValidationError as e:
        for p in pydantic_problems(e, raw, ServiceSpec):
            ctx.error(("service",) + p.path, p.message, at_key=p.at_key)
        return None
    base = ("service",)
    probe = svc.readiness_probe
    if isinstance(probe, str):
        probe = ReadinessProbe(path=probe)
    if not probe.path.startswith("/"):
        ctx.error(base + ("readiness_probe",), f"readiness probe path {probe.path!r} must start with '/'")
    if isinstance(probe.post_data, str):
        try:
            parsed = json.loads(probe.post_data)
            if not isinstance(parsed, dict):
                raise ValueError
            probe = probe.model_copy(update={"post_data": parsed})
        except ValueError:
            ctx.error(base + ("readiness_probe", "post_data"), "post_data must be a mapping or a JSON object string")
    policy = svc.replica_policy
    if svc.replicas is not None and policy is not None:
        ctx.error(base + ("replicas",), "use either replicas or replica_policy, not both", at_key=True)
    if policy is None:
        n = 1 if svc.replicas is None else svc.replicas
        policy = ReplicaPolicy(min_replicas=n, max_replicas=n)
    qps = policy.target_qps_per_replica
    if policy.max_replicas is None:
        if qps is not None:
            ctx.error(base + ("replica_policy",), "target_qps_per_replica needs max_replicas")
        policy = policy.model_copy(update={"max_replicas": policy.min_replicas})
    if policy.max_replicas < policy.min_replicas:
        ctx.error(base + ("replica_policy", "max_replicas"), "max_replicas must be >= min_replicas")
    elif policy.max_replicas != policy.min_replicas and qps is None:
        ctx.error(base + ("replica_policy", "max_replicas"),
                  "autoscaling (max_replicas != min_replicas) needs target_qps_per_replica")
    lb = None
    if svc.load_balancing_policy is not None:
        lb = svc.load_balancing_policy.lower()
        if lb not in LB_POLICIES:
            ctx.error(base + ("load_balancing_policy",), f"unknown load_balancing_policy "
                      f"{svc.load_balancing_policy!r}; use one of {', '.join(LB_POLICIES)}")
    if isinstance(qps, dict) != (lb == "instance_aware_least_load"):
        ctx.error(base + ("replica_policy", "target_qps_per_replica") if isinstance(qps, dict)
                  else base + ("load_balancing_policy",),
                  "a per-accelerator target_qps_per_replica map and load_balancing_policy: "
                  "instance_aware_least_load go together")
    spots = {r.use_spot for r in resources.candidates}
    if len(spots) > 1:
        ctx.error(("resources",), "a service needs all resource candidates spot or all on-demand")
    if (policy.base_ondemand_fallback_replicas or policy.dynamic_ondemand_fallback or policy.spot_placer) \
            and spots != {True}:
        ctx.error(base + ("replica_policy",), "on-demand fallback and spot_placer need use_spot: true resources")
    if any(r.job_recovery is not None for r in resources.candidates):
        ctx.error(("resources", "job_recovery"), "job_recovery is for managed jobs; a service cannot use it")
    ports = svc.ports
    if ports is None:
        port_sets = {r.ports for r in resources.candidates}
        only = next(iter(port_sets)) if len(port_sets) == 1 else ()
        if len(only) == 1 and "-" not in only[0]:
            ports = int(only[0])
        else:
            ctx.error(base + ("ports",), "the service needs one port: set service.ports, or exactly one port in "
                      "resources.ports", at_key=False)
    return svc.model_copy(update={"readiness_probe": probe, "replicas": None, "replica_policy": policy,
                                  "ports": ports, "load_balancing_policy": lb})


def _config(raw: dict, hooks: list, ctx: Collector) -> dict:
    out: dict[str, Any] = {}
    if raw:  # the models load only for tasks that have a config block
        from skyc.compiler.task_config import allowed_keys

        whitelist = allowed_keys()
    for key, val in raw.items():
        path = ("config", key)
        if key not in whitelist:
            close = difflib.get_close_matches(str(key), whitelist, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(whitelist)}"
            ctx.error(path, f"{key!r} cannot be set per task{hint}", at_key=True)
            continue
        allowed = whitelist[key]
        if allowed is not None:
            if not isinstance(val, dict):
                ctx.error(path, f"config.{key} must be a mapping")
                continue
            unknown = [sub for sub in val if sub not in allowed]
            for sub in unknown:
                close = difflib.get_close_matches(str(sub), allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
                ctx.error(path + (sub,), f"config.{key}.{sub} cannot be set per task{hint}", at_key=True)
            if not unknown:
                _config_values(key, val, ctx)
        elif key != "hooks":
            _config_values(key, val, ctx)
        out[key] = val
    all_hooks = list(raw.get("hooks") or []) if isinstance(raw.get("hooks"), list) else []
    if "hooks" in raw and not isinstance(raw["hooks"], list):
        ctx.error(("config", "hooks"), "config.hooks must be a list of {run, events, timeout}")
    checked = []
    for i, h in enumerate(all_hooks + [h for h in hooks if h not in all_hooks]):
        try:
            checked.append(HookSpec.model_validate(h).model_dump())
        except ValidationError as e:
            for p in pydantic_problems(e, h, HookSpec):
                ctx.error(("config", "hooks", i) + p.path, p.message, at_key=p.at_key)
    if len(checked) > 32:
        ctx.error(("config", "hooks"), "at most 32 hooks")
    if checked:
        out["hooks"] = checked
    return out


def _config_values(key: str, value: Any, ctx: Collector) -> None:
    """Each overridden value must have the type SkyPilot's config schema gives it."""
    from skyc.compiler.task_config import TaskConfig

    try:
        TaskConfig.model_validate({key: value})
    except ValidationError as e:
        for p in pydantic_problems(e, {key: value}, TaskConfig):
            ctx.error(("config",) + p.path, p.message, at_key=p.at_key)


def check_header(header: dict, doc: Document, filename: str) -> list[SpecIssue]:
    issues = []

    def issue(key: str, msg: str) -> None:
        line, col = locate(doc.node, (key,))
        issues.append(SpecIssue(msg, file=filename, line=line, column=col, field=key))

    name = header.get("name")
    if name is not None and not isinstance(name, str):
        issue("name", f"the pipeline name must be a string, got {name!r}")
    execution = header.get("execution", "serial")
    if execution not in ("serial", "parallel"):
        issue("execution", f"execution must be serial (a pipeline) or parallel (a job group), got {execution!r}")
    if execution == "parallel" and not (isinstance(name, str) and _HEADER_NAME_RE.match(name)):
        issue("name", "a job group needs a name of letters, digits, '-' and '_'")
    delay = header.get("termination_delay")
    for value in (delay.values() if isinstance(delay, dict) else [] if delay is None else [delay]):
        try:
            parse_seconds(value, "termination_delay")
        except ValueError as e:
            issue("termination_delay", f"termination_delay: {e}")
            break
    return issues


def name_pipeline(tasks: list[Task], header: dict, issues: list[SpecIssue], filename: str) -> list[Task]:
    """Unnamed pipeline tasks are called `<pipeline>-<i>`; job-group tasks need unique names."""
    dag = header.get("name")
    if header.get("execution") == "parallel":
        names = [t.name for t in tasks]
        if None in names or len(set(names)) != len(names):
            issues.append(SpecIssue("every task of a job group needs a unique name", file=filename))
        return tasks
    if len(tasks) == 1:
        return [tasks[0].model_copy(update={"name": tasks[0].name or dag})]
    return [t if t.name or not dag else t.model_copy(update={"name": f"{dag}-{i}"}) for i, t in enumerate(tasks)]
