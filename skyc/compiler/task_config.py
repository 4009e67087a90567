"""The task's `config:` block: the per-task overrides of config.yaml keys SkyPilot accepts, each with
the value type SkyPilot's config schema gives it (`hooks` are checked by `spec.HookSpec`)."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)  # built when a task has a config block


Object = dict[str, Any]
Number = Union[int, float]


class DockerConfig(_Cfg):
    run_options: str | list[str] | None = None


class NvidiaGpusConfig(_Cfg):
    disable_ecc: bool | None = None


class SSHConfig(_Cfg):
    custom_metadata: Object | None = None
    pod_config: Object | None = None
    provision_timeout: int | None = None


class DwsConfig(_Cfg):
    enabled: bool | None = None
    max_run_duration: int | Annotated[str, StringConstraints(pattern=r"^[0-9]+[mhdwMHDW]?$")] | None = None


class KueueConfig(_Cfg):
    local_queue_name: str | None = None
    admission_timeout: int | None = None


class KubernetesQuota(_Cfg):
    queue: str | None = None


class DockerBuildConfig(_Cfg):
    mode: Literal["ALL", "BUILD"]
    cache_volume: str | None = None


class KubernetesConfig(SSHConfig):
    dws: DwsConfig | None = None
    kueue: KueueConfig | None = None
    quota: KubernetesQuota | None = None
    remote_identity: str | dict[str, str] | None = None
    enable_docker: bool | Literal["ALL", "BUILD"] | DockerBuildConfig | None = None
    set_pod_resource_limits: bool | Annotated[Number, Field(ge=1)] | None = None


class AzureConfig(_Cfg):
    remote_identity: Annotated[str, StringConstraints(min_length=1)] | list[dict[str, str]] | None = None
    vpc_name: str | None = None


class ManagedInstanceGroup(_Cfg):
    run_duration: int
    provision_timeout: int | None = None


class GCPConfig(_Cfg):
    vpc_name: Annotated[str, StringConstraints(pattern=r"^(?:[-a-z0-9]+/)?[-a-z0-9]+$")] | None = None
    subnet_names: str | list[str] | None = None
    managed_instance_group: ManagedInstanceGroup | None = None
    enable_gvnic: bool | None = None
    enable_gpu_direct: bool | None = None
    placement_policy: str | None = None


class VastConfig(_Cfg):
    datacenter_only: bool | None = None
    create_instance_kwargs: Object | None = None


class SlurmQuota(_Cfg):
    queue: str | None = None
    account: str | None = None


class SlurmConfig(_Cfg):
    sbatch_options: Object | None = None
    quota: SlurmQuota | None = None
    cpu_partition: str | None = None


class TaskConfig(_Cfg):
    """Every key a task may override; anything else is refused with the allowed list."""

    docker: DockerConfig | None = None
    nvidia_gpus: NvidiaGpusConfig | None = None
    ssh: SSHConfig | None = None
    kubernetes: KubernetesConfig | None = None
    azure: AzureConfig | None = None
    gcp: GCPConfig | None = None
    vast: VastConfig | None = None
    slurm: SlurmConfig | None = None
    active_workspace: str | None = None
    hooks: list[Any] | None = None


@functools.cache
def allowed_keys() -> dict[str, tuple[str, ...] | None]:
    """top-level key -> its overridable sub-keys (None = the value is not a section)."""
    from skyc.compiler.spec_issues import _models_in

    out: dict[str, tuple[str, ...] | None] = {}
    for name, field in TaskConfig.model_fields.items():
        models = _models_in(field.annotation)
        out[name] = tuple(models[0].model_fields) if models else None
    return out
