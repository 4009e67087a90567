"""The task YAML schema (SkyPilot-compatible) as strict pydantic models, and the normalised `Task`.

`TaskSpec` and friends describe what a user may write (the JSON schema comes from them). `load_tasks`
parses every document, type-checks it, applies env/secret overrides and `$VAR` substitution, runs the
cross-field rules and returns `Task`s whose `resources` is the canonical `ResourceChoice`. Every problem
of a file is reported at once as a `SpecError` of located `SpecIssue`s; nothing else escapes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from skyc.compiler import envs as envs_mod
from skyc.compiler import local_paths
from skyc.compiler.local_paths import base_dir
from skyc.compiler.resource_parser import choice_to_yaml
from skyc.compiler.resources import ResourceChoice
from skyc.compiler.spec_issues import Collector, Problem, format_path, pydantic_problems
from skyc.compiler.yaml_loader import Document, YamlSyntaxError, locate, parse_documents
from skyc.errors import SkycError, SpecError, SpecIssue

PositiveInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
Number = Union[int, float]
AcceleratorValue = Union[str, dict[str, Union[int, float, str, None]], list[str]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


# --- resources ------------------------------------------------------------------------------------------


class AcceleratorArgs(_Strict):
    runtime_version: str | None = None
    tpu_name: str | None = None
    tpu_vm: bool | None = None
    gcp_queued_resource: bool | None = None


class AutostopSpec(_Strict):
    idle_minutes: NonNegInt | None = None
    down: bool | None = None
    wait_for: Literal["jobs_and_ssh", "jobs", "none"] | None = None
    hook: str | None = None
    hook_timeout: PositiveInt | None = None


class JobRecoverySpec(_Strict):
    strategy: str | None = None
    max_restarts_on_errors: NonNegInt | None = None
    recover_on_exit_codes: int | list[int] | None = None


class ResourceVolumeSpec(_Strict):
    path: str
    name: str | None = None
    disk_size: PositiveInt | None = None
    disk_tier: str | None = None
    storage_type: Literal["network", "instance"] | None = None
    attach_mode: Literal["read_write", "read_only"] | None = None
    auto_delete: bool | None = None


class CandidateSpec(_Strict):
    """The fields of one resources candidate (also the entries of any_of / ordered)."""

    infra: str | None = Field(None, description="cloud[/region[/zone]], k8s/<context>, ssh/<pool>, '*' wildcards")
    cloud: str | None = Field(None, description="deprecated: use infra")
    region: str | None = Field(None, description="deprecated: use infra")
    zone: str | None = Field(None, description="deprecated: use infra")
    accelerators: AcceleratorValue | None = Field(None, description="'A100:8', {A100: 8}, [A100, V100], '80GB+'")
    gpus: AcceleratorValue | None = Field(None, description="alias of accelerators")
    accelerator_args: AcceleratorArgs | None = None
    cpus: Number | str | None = Field(None, description="8 or '8+'")
    memory: Number | str | None = Field(None, description="GB: 32, '32+', '32GB+'")
    instance_type: str | None = None
    use_spot: bool | None = None
    job_recovery: str | JobRecoverySpec | None = None
    disk_size: PositiveInt | str | None = Field(None, description="GB or '<int><unit>'; default 256")
    disk_tier: str | None = Field(None, description="low | medium | high | ultra | best")
    network_tier: str | None = Field(None, description="standard | best")
    local_disk: str | None = None
    max_hourly_cost: Number | None = None
    ports: int | str | list[int | str] | None = None
    image_id: str | dict[str, str] | None = None
    labels: dict[str, str] | None = None
    autostop: bool | int | str | AutostopSpec | None = None
    priority: Annotated[int, Field(ge=-1000, le=1000)] | None = None
    priority_class: str | None = None
    volumes: list[ResourceVolumeSpec] | None = None
    ephemeral_storage: Any = Field(None, description="deprecated; ignored")


class ResourcesSpec(CandidateSpec):
    any_of: list[CandidateSpec] | None = Field(None, description="candidates; the cheapest wins")
    ordered: list[CandidateSpec] | None = Field(None, description="candidates in order of preference")


# --- other sections ---------------------------------------------------------------------------------------


class WorkdirGit(_Strict):
    url: str
    ref: str | None = None


class StorageSpec(_Strict):
    name: str | None = None
    source: str | list[str] | None = None
    store: Literal["s3", "gcs", "azure", "r2", "ibm", "oci", "nebius", "coreweave", "vastdata", "hf",
                   "volume"] | None = None
    mode: str | None = Field(None, description="MOUNT (default) | COPY | MOUNT_CACHED")
    persistent: bool | None = None
    type: str | None = None
    config: dict[str, Any] | None = None


class VolumeMount(_Strict):
    name: str | None = None
    sub_path: str | None = None
    size: int | str | None = None
    type: str | None = None
    labels: dict[str, str] | None = None
    config: dict[str, Any] | None = None


class ReadinessProbe(_Strict):
    path: str
    initial_delay_seconds: NonNegInt = 1200
    timeout_seconds: PositiveInt = 15
    post_data: dict[str, Any] | str | None = None
    headers: dict[str, str] | None = None
    endpoint_probe_interval_seconds: Number = 10
    consecutive_failure_threshold_timeout: Number = 180


class ReplicaPolicy(_Strict):
    min_replicas: NonNegInt
    max_replicas: NonNegInt | None = None
    target_qps_per_replica: Number | dict[str, Number] | None = None
    num_overprovision: NonNegInt | None = None
    upscale_delay_seconds: Number | None = None
    downscale_delay_seconds: Number | None = None
    base_ondemand_fallback_replicas: NonNegInt | None = None
    dynamic_ondemand_fallback: bool | None = None
    spot_placer: Literal["dynamic_fallback"] | None = None


class LoadBalancerSpec(_Strict):
    stream_timeout_seconds: Number | None = None


class TlsSpec(_Strict):
    keyfile: str
    certfile: str


class ServiceSpec(_Strict):
    """`service:`; after loading, readiness_probe is always a mapping and replicas is folded into replica_policy."""

    readiness_probe: str | ReadinessProbe = "/"
    replicas: NonNegInt | None = None
    replica_policy: ReplicaPolicy | None = None
    ports: Annotated[int, Field(ge=1, le=65535)] | None = None
    load_balancing_policy: str | None = None
    load_balancer: LoadBalancerSpec | None = None
    tls: TlsSpec | None = None


class HookSpec(_Strict):
    run: Annotated[str, Field(min_length=1, max_length=16384)]
    events: list[Literal["stop", "preemption", "down"]] = ["stop", "preemption", "down"]
    timeout: PositiveInt = 3600


class TaskSpec(_Strict):
    """One task document, exactly as written (top-level nulls dropped)."""

    name: str | None = None
    workdir: str | WorkdirGit | None = None
    num_nodes: PositiveInt | None = None
    resources: ResourcesSpec | None = None
    envs: dict[str, str | None] | None = None
    secrets: dict[str, str | None] | list[str] | None = None
    managed_secrets: list[str | dict[str, dict[str, str]]] | None = None
    file_mounts: dict[str, str | StorageSpec] | None = None
    volumes: dict[str, str | VolumeMount] | None = None
    setup: str | None = None
    run: str | None = None
    service: ServiceSpec | None = None
    pool: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    event_callback: str | None = None
    inputs: dict[str, Number] | None = Field(None, max_length=1)
    outputs: dict[str, Number] | None = Field(None, max_length=1)
    api_server_access: bool | None = None
    file_mounts_mapping: dict[str, Any] | None = None
    volume_mounts: list[Any] | None = None
    metadata: dict[str, Any] | None = Field(None, alias="_metadata")


# --- the normalised task -----------------------------------------------------------------------------------


class Task(BaseModel):
    """A validated, normalised task. `resources` is all the optimizer reads (with `num_nodes`)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    workdir: str | WorkdirGit | None = None
    num_nodes: int = 1
    resources: ResourceChoice = ResourceChoice()
    envs: dict[str, str] = {}
    # None = a reference to be supplied at launch (`--secret NAME`); see `missing_secrets`.
    secrets: dict[str, str | None] = {}
    file_mounts: dict[str, str | StorageSpec] = {}
    volumes: dict[str, str | VolumeMount] = {}
    setup: str | None = None
    run: str | None = None
    service: ServiceSpec | None = None
    pool: dict[str, Any] | None = None
    config: dict[str, Any] = {}
    event_callback: str | None = None
    dag_name: str | None = None  # from a pipeline header document
    source_file: str | None = None
    warnings: list[str] = []

    def missing_secrets(self) -> list[str]:
        return [k for k, v in self.secrets.items() if v is None]

    def redacted(self) -> dict:
        """JSON-able dump; secret values (also where substituted into other fields) become '<redacted>'."""
        data = self.model_dump(mode="json")
        data["secrets"] = envs_mod.redact(self.secrets)
        values = sorted({v for v in self.secrets.values() if v}, key=len, reverse=True)
        return _scrub(data, values) if values else data

    def __repr__(self) -> str:  # secrets never reach logs through repr()/str()
        return "Task(" + ", ".join(f"{k}={v!r}" for k, v in self.redacted().items()) + ")"

    __str__ = __repr__

    def to_yaml_config(self) -> dict[str, Any]:
        """The task as a SkyPilot-style YAML mapping (secrets in clear) that loads back to an equal Task."""
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        if self.workdir is not None:
            out["workdir"] = self.workdir if isinstance(self.workdir, str) else self.workdir.model_dump(exclude_none=True)
        if self.num_nodes != 1:
            out["num_nodes"] = self.num_nodes
        res = choice_to_yaml(self.resources)
        if res:
            out["resources"] = res
        for key in ("envs", "secrets"):
            if getattr(self, key):
                out[key] = dict(getattr(self, key))
        for key in ("file_mounts", "volumes"):
            val = getattr(self, key)
            if val:
                out[key] = {k: (v if isinstance(v, str) else v.model_dump(exclude_none=True)) for k, v in val.items()}
        for key in ("setup", "run", "event_callback"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.service is not None:
            out["service"] = self.service.model_dump(exclude_none=True)
        if self.pool is not None:
            out["pool"] = self.pool
        if self.config:
            out["config"] = self.config
        return out


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for s in secrets:
            if s in value:
                value = value.replace(s, envs_mod.REDACTED)
        return value
    if isinstance(value, dict):
        return {k: (v if k == "secrets" else _scrub(v, secrets)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    return value


# --- loading ---------------------------------------------------------------------------------------------------

from skyc.compiler import spec_rules as _rules  # noqa: E402  (rules need the models above)

_FIELD_NAMES = {f.alias or name for name, f in TaskSpec.model_fields.items()}
EMPTY_FILE_WARNING = "the file is empty: an empty task (default resources, nothing to run)"


def load_tasks(path: str | Path, *, env_overrides: dict[str, str | None] | None = None,
               env_file: str | None = None, secret_overrides: dict[str, str | None] | None = None) -> list[Task]:
    """Load and validate every task of a YAML file (one task, or a pipeline)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(SpecIssue(f"no such file: {path}", file=str(path))) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(SpecIssue(f"cannot read task file: {e}", file=str(path))) from None
    return load_task_from_text(text, filename=str(path), env_overrides=env_overrides, env_file=env_file,
                               secret_overrides=secret_overrides, local_base=base_dir(str(path)))


def load_task_from_text(text: str, *, filename: str = "<string>",
                        env_overrides: dict[str, str | None] | None = None, env_file: str | None = None,
                        secret_overrides: dict[str, str | None] | None = None,
                        local_base: Path | None = None) -> list[Task]:
    """Like `load_tasks`, from YAML text; local paths are checked only when `local_base` is given."""
    try:
        return _load(text, filename, env_overrides, env_file, secret_overrides, local_base)
    except (SpecError, SkycError):
        raise
    except RecursionError:
        raise SpecError(SpecIssue("the task is nested too deeply", file=filename)) from None
    except Exception as e:  # never a traceback for bad input
        raise SpecError(SpecIssue(f"could not load the task ({type(e).__name__}: {e})", file=filename)) from None


def _resolve_overrides(overrides: dict[str, str | None] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, val in (overrides or {}).items():
        if val is None:
            if key not in os.environ:
                from skyc.errors import UsageError

                raise UsageError(f"{flag} {key}: {key} is not set in the local environment; use {flag} {key}=VALUE")
            val = os.environ[key]
        out[key] = val
    return out


def _load(text, filename, env_overrides, env_file, secret_overrides, local_base=None) -> list[Task]:
    """`local_base`: the task file's directory; its local workdir and file-mount sources must exist."""
    try:
        docs = parse_documents(text, filename)
    except YamlSyntaxError as e:
        raise SpecError(e.issue) from None
    docs = [d for d in docs if d.data is not None]
    if not docs:
        # SkyPilot loads an empty file as one empty task (default resources, nothing to run); so
        # does skyc, saying so, since an empty file is more often a mistake than a wish.
        (task,) = _load("{}", filename, env_overrides, env_file, secret_overrides, local_base)
        return [task.model_copy(update={"warnings": [EMPTY_FILE_WARNING, *task.warnings]})]
    file_envs = envs_mod.read_env_file(env_file) if env_file else {}
    cli_envs = _resolve_overrides(env_overrides, "--env")
    cli_secrets = _resolve_overrides(secret_overrides, "--secret")

    issues: list[SpecIssue] = []
    header: dict = {}
    task_docs = docs
    first = docs[0].data
    if isinstance(first, dict) and "name" in first and set(first) <= {"name", "execution"} and (
            len(docs) > 1 or "execution" in first):
        header, task_docs = first, docs[1:]
    elif isinstance(first, dict) and len(docs) > 1 and first.get("execution") == "parallel" and set(first) <= {
            "name", "execution", "primary_tasks", "termination_delay", "inter_connection"}:
        header, task_docs = first, docs[1:]
    if header:
        issues.extend(_rules.check_header(header, docs[0], filename))
    tasks: list[Task] = []
    for doc in task_docs or [Document({"name": header.get("name")}, docs[0].node)]:
        ctx = Collector()
        task = _load_document(doc, ctx, file_envs, cli_envs, cli_secrets)
        if task is not None and local_base is not None:
            for path, message in local_paths.problems(task.workdir, task.file_mounts, local_base):
                ctx.error(path, message)
        issues.extend(_issues_of(ctx.problems, doc, filename))
        if task is not None and not ctx.problems:
            tasks.append(task.model_copy(update={"source_file": filename, "warnings": ctx.warnings,
                                                 "dag_name": header.get("name")}))
    if header and not issues:
        tasks = _rules.name_pipeline(tasks, header, issues, filename)
    if issues:
        raise SpecError(issues)
    return tasks


def _issues_of(problems: list[Problem], doc: Document, filename: str) -> list[SpecIssue]:
    out = []
    for p in problems:
        line, col = locate(doc.node, p.path, at_key=p.at_key)
        out.append(SpecIssue(p.message, file=filename, line=line, column=col, field=format_path(p.path) or None))
    out.sort(key=lambda i: (i.line or 0, i.column or 0))
    return out


def _load_document(doc: Document, ctx: Collector, file_envs: dict, cli_envs: dict, cli_secrets: dict) -> Task | None:
    data = doc.data
    if not isinstance(data, dict):
        ctx.error((), f"a task document must be a mapping of fields, got {type(data).__name__}: {str(data)[:60]!r}")
        return None
    bad_keys = [k for k in data if not isinstance(k, str)]
    for k in bad_keys:
        ctx.error((k,), f"field names must be strings, got {k!r}", at_key=True)
    if bad_keys:
        return None
    # An empty known field is as if absent (SkyPilot drops them too); an unknown one stays, to be refused.
    data = {k: v for k, v in data.items() if v is not None or k not in _FIELD_NAMES}
    data = _rules.coerce_env_values(data)
    if isinstance(data.get("resources"), dict) and "hooks" in data["resources"]:
        ctx.error(("resources", "hooks"), "hooks belong under config.hooks, not resources", at_key=True)
    try:
        spec = TaskSpec.model_validate(data)
    except ValidationError as e:
        problems = pydantic_problems(e, data, TaskSpec)
        ctx.problems.extend(problems)
        # Run the remaining rules on what type-checked, so every problem shows up at once: first drop just
        # the offending keys, and if that is not enough, the whole top-level fields they sit in.
        if any(not p.path for p in problems):
            return None
        spec = None
        for pruned in (_without(data, [p.path for p in problems]),
                       {k: v for k, v in data.items() if k not in {p.path[0] for p in problems}}):
            try:
                spec = TaskSpec.model_validate(pruned)
                data = pruned
                break
            except ValidationError:
                continue
        if spec is None:
            return None
    return _rules.build_task(spec, data, ctx, file_envs, cli_envs, cli_secrets)


def _without(data: dict, paths: list[tuple]) -> dict:
    """A deep copy of `data` without the keys/items at `paths`."""
    import copy

    out = copy.deepcopy(data)
    for path in sorted(paths, key=len, reverse=True):
        parent = out
        for part in path[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                parent = None
                break
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif isinstance(parent, list) and isinstance(path[-1], int) and path[-1] < len(parent):
            parent[path[-1]] = {} if isinstance(parent[path[-1]], dict) else parent[path[-1]]
    return out


def apply_overrides(task: Task, **overrides: Any) -> Task:
    """Apply CLI resource flags (`gpus`, `cpus`, `memory`, `infra`, `use_spot`, `num_nodes`, `instance_type`,
    `disk_size`, `ports`, `image_id`) to every candidate; the string 'none' clears a field."""
    from skyc.compiler.overrides import apply_overrides as _apply

    return _apply(task, **overrides)


def json_schema() -> dict:
    """JSON schema of one task document, for editors."""
    schema = TaskSpec.model_json_schema(by_alias=True)
    schema["title"] = "skyc task"
    return schema


def dumps_redacted(tasks: list[Task]) -> str:
    return json.dumps([t.redacted() for t in tasks], indent=2)
