"""One exception hierarchy; the CLI maps each class to an exit code and a one-line message."""

from __future__ import annotations

from dataclasses import dataclass, field


class SkycError(Exception):
    """Base of every error a user may see. `str(err)` is the actionable message."""

    exit_code = 1


class UsageError(SkycError):
    """Bad command-line usage (exit 2, like click)."""

    exit_code = 2


@dataclass
class SpecIssue:
    """One located problem in a task file."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def format(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)
        head = f"{where}: " if where else ""
        fld = f"{self.field}: " if self.field else ""
        return f"{head}{fld}{self.message}"

    def to_json(self) -> dict:
        return {"line": self.line, "column": self.column, "field": self.field, "message": self.message}


class SpecError(SkycError):
    """A task YAML is invalid. Carries every located issue found."""

    def __init__(self, issues: list[SpecIssue] | SpecIssue | str, *, file: str | None = None):
        if isinstance(issues, str):
            issues = [SpecIssue(issues, file=file)]
        elif isinstance(issues, SpecIssue):
            issues = [issues]
        self.issues: list[SpecIssue] = list(issues)
        super().__init__("\n".join(i.format() for i in self.issues))


class CatalogError(SkycError):
    """The price catalog is missing, corrupt or has no such entry."""


class ResourcesUnavailableError(SkycError):
    """No enabled infra can satisfy the requested resources."""


class InfraNotEnabledError(SkycError):
    """The task pins infra whose credentials are not configured."""


class PlanError(SkycError):
    """A plan file is corrupt, foreign or stale."""


class PolicyError(SkycError):
    """The plan violates a policy, or the policy file is invalid."""


class EngineError(SkycError):
    """A Pulumi operation failed."""


class StackBusyError(EngineError):
    """Another operation holds the stack's lock."""


class PulumiCLIError(EngineError):
    """The Pulumi CLI is missing, too old or unusable."""


class MissingDependencyError(SkycError):
    """A system package or Python extra is not installed."""


class ProviderError(SkycError):
    """A provider cannot do what the plan asks (bad image id, unsupported feature, ...)."""


class ClusterNotFoundError(SkycError):
    """No cluster of that name is registered."""


class ClusterNotUpError(SkycError):
    """The cluster exists but is not UP."""


class NodeConnectionError(SkycError):
    """SSH to a node failed; the message names the node and the cause."""


class JobError(SkycError):
    """A job operation on a cluster failed."""


@dataclass
class ExitCodes:
    """Documented process exit codes (job codes match SkyPilot's `logs --status`)."""

    OK: int = 0
    ERROR: int = 1
    USAGE: int = 2
    JOB_FAILED: int = 100
    JOB_NOT_FINISHED: int = 101
    JOB_NOT_FOUND: int = 102
    JOB_CANCELLED: int = 103
    extra: dict = field(default_factory=dict)


EXIT = ExitCodes()
