"""Spend and placement guardrails: a strict policy model and a pure evaluator.

The policy file is `--policy FILE` or `$SKYC_HOME/policy.yaml`. Evaluation takes what a plan
would create (one `PolicySubject` per cluster/service) plus the hourly cost of everything else
already running, and returns the violations; it never raises for a violation, the CLI decides.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Annotated, Any, Iterable

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from skyc import paths
from skyc.errors import PolicyError, SpecIssue


def _infra_pattern(p: str) -> str:
    if not p.strip() or len(p.split("/")) > 3:
        raise ValueError(f"bad infra pattern {p!r}: use CLOUD[/REGION[/ZONE]] with optional * wildcards")
    return p


InfraPattern = Annotated[str, AfterValidator(_infra_pattern)]


class Policy(BaseModel):
    """Keys of the policy file. All optional; an empty file allows everything."""

    model_config = ConfigDict(extra="forbid")

    max_hourly_cost: float | None = Field(default=None, ge=0, description="$/h per cluster or service")
    max_total_hourly_cost: float | None = Field(
        default=None, ge=0, description="$/h of the plan plus every other registered cluster and service"
    )
    allowed_infra: list[InfraPattern] | None = Field(default=None, description="infra patterns (aws/*, gcp/us-central1)")
    denied_infra: list[InfraPattern] = Field(default_factory=list)
    require_spot: list[str] = Field(default_factory=list, description="accelerators that must run on spot")
    max_nodes: int | None = Field(default=None, ge=1, description="nodes per cluster")

    @field_validator("allowed_infra", "denied_infra", "require_spot", mode="before")
    @classmethod
    def _one_or_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class PolicySubject(BaseModel):
    """What the policy looks at for one cluster or service of a plan."""

    model_config = ConfigDict(extra="forbid")

    cluster: str
    infra: str  # cloud/region/zone, as far as known
    hourly_cost: float = 0.0  # all nodes together
    num_nodes: int = 1
    use_spot: bool = False
    accelerator: str | None = None


class Violation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str
    message: str
    cluster: str | None = None


class PolicyResult(BaseModel):
    """The `policy` block of `skyc plan -o json`."""

    model_config = ConfigDict(extra="forbid")

    file: str | None = None
    passed: bool = True
    violations: list[Violation] = Field(default_factory=list)


# --- loading --------------------------------------------------------------------------------


def default_path() -> Path:
    return paths.home() / "policy.yaml"


def find(explicit: str | Path | None = None) -> Path | None:
    """The policy file to use: the explicit one (must exist), else $SKYC_HOME/policy.yaml if present."""
    if explicit is not None:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise PolicyError(f"policy file not found: {p}")
        return p
    p = default_path()
    return p if p.is_file() else None


def loads(text: str, file: str | None = None) -> Policy:
    """Parse policy YAML text; every problem is reported as `file:line:col: field: message`."""
    from skyc.compiler import yaml_loader  # the task loader: same located errors, duplicate keys refused

    try:
        docs = yaml_loader.parse_documents(text, file or "<policy>")
    except yaml_loader.YamlSyntaxError as e:
        raise PolicyError(e.issue.format()) from None
    if len(docs) > 1:
        raise PolicyError(SpecIssue("a policy file holds one YAML document", file=file).format())
    data, node = (docs[0].data, docs[0].node) if docs else ({}, None)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(SpecIssue("a policy must be a YAML mapping of rules", file=file, line=1).format())
    try:
        return Policy.model_validate(data)
    except ValidationError as e:
        issues = []
        for err in e.errors():
            loc = tuple(err["loc"])
            unknown = err["type"] == "extra_forbidden"
            line, column = yaml_loader.locate(node, loc, at_key=unknown)
            if unknown:
                msg = "unknown rule (known: " + ", ".join(Policy.model_fields) + ")"
            else:
                msg = err["msg"].removeprefix("Value error, ")
            field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or None
            issues.append(SpecIssue(msg, file=file, line=line, column=column, field=field))
        raise PolicyError("\n".join(i.format() for i in issues)) from None


def load(path: str | Path) -> Policy:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise PolicyError(f"cannot read policy file {p}: {e.strerror}") from None
    return loads(text, file=str(p))


# --- evaluation -----------------------------------------------------------------------------


def infra_matches(pattern: str, infra: str) -> bool:
    """`aws` and `aws/*` match every AWS place; `gcp/us-central1` matches its zones too.

    Segments compare case-insensitively with shell wildcards; missing trailing pattern segments
    match anything, missing infra segments match only a wildcard (unknown region is not us-east-1).
    """
    pat = [s for s in pattern.lower().split("/")]
    got = [s for s in infra.lower().split("/") if s]
    for i, seg in enumerate(pat):
        if i >= len(got):
            return seg == "*"
        if not fnmatch.fnmatchcase(got[i], seg):
            return False
    return True


def _money(x: float) -> str:
    return f"${x:,.2f}/h"


def evaluate(policy: Policy, subjects: Iterable[PolicySubject], other_hourly_cost: float = 0.0) -> list[Violation]:
    """Every rule the subjects break. `other_hourly_cost`: $/h of clusters not in the plan."""
    subjects = list(subjects)
    out: list[Violation] = []
    for s in subjects:
        if policy.max_hourly_cost is not None and s.hourly_cost > policy.max_hourly_cost + 1e-9:
            out.append(Violation(
                rule="max_hourly_cost", cluster=s.cluster,
                message=f"{s.cluster}: {_money(s.hourly_cost)} exceeds max_hourly_cost {_money(policy.max_hourly_cost)}",
            ))
        if policy.max_nodes is not None and s.num_nodes > policy.max_nodes:
            out.append(Violation(
                rule="max_nodes", cluster=s.cluster,
                message=f"{s.cluster}: {s.num_nodes} nodes exceed max_nodes {policy.max_nodes}",
            ))
        if policy.allowed_infra is not None and not any(infra_matches(p, s.infra) for p in policy.allowed_infra):
            out.append(Violation(
                rule="allowed_infra", cluster=s.cluster,
                message=f"{s.cluster}: infra {s.infra} is not in allowed_infra ({', '.join(policy.allowed_infra)})",
            ))
        denied = [p for p in policy.denied_infra if infra_matches(p, s.infra)]
        if denied:
            out.append(Violation(
                rule="denied_infra", cluster=s.cluster,
                message=f"{s.cluster}: infra {s.infra} matches denied_infra {denied[0]}",
            ))
        if s.accelerator and not s.use_spot:
            wanted = {a.lower() for a in policy.require_spot}
            if s.accelerator.lower() in wanted or "*" in wanted:
                out.append(Violation(
                    rule="require_spot", cluster=s.cluster,
                    message=f"{s.cluster}: {s.accelerator} must run on spot (require_spot); set use_spot: true",
                ))
    if policy.max_total_hourly_cost is not None:
        total = sum(s.hourly_cost for s in subjects) + other_hourly_cost
        if total > policy.max_total_hourly_cost + 1e-9:
            out.append(Violation(
                rule="max_total_hourly_cost",
                message=(
                    f"total {_money(total)} (this plan {_money(total - other_hourly_cost)} + running "
                    f"{_money(other_hourly_cost)}) exceeds max_total_hourly_cost {_money(policy.max_total_hourly_cost)}"
                ),
            ))
    return out


def check(
    subjects: Iterable[PolicySubject],
    *,
    policy_file: str | Path | None = None,
    other_hourly_cost: float = 0.0,
) -> PolicyResult:
    """Find, load and evaluate the policy; no policy file means passed with no violations."""
    path = find(policy_file)
    if path is None:
        return PolicyResult()
    violations = evaluate(load(path), subjects, other_hourly_cost)
    return PolicyResult(file=str(path), passed=not violations, violations=violations)


def raise_for(result: PolicyResult) -> None:
    """Turn a failed result into the error the CLI prints (exit 1, one reason a line)."""
    if not result.passed:
        lines = "\n".join(f"  - [{v.rule}] {v.message}" for v in result.violations)
        raise PolicyError(f"plan violates policy {result.file}:\n{lines}")


# --- plan adapter ---------------------------------------------------------------------------


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _task_cost(task: Any) -> float:
    """$/h of one plan entry for all its nodes: the entry's own figure, else its chosen offer's."""
    for holder in (task, _get(task, "chosen")):
        if holder is None:
            continue
        for key in ("hourly_cost", "cost_per_hour", "hourly_price"):
            value = _get(holder, key)
            if isinstance(value, (int, float)):
                return float(value)
    return 0.0


def subjects_from_plan(plan: Any) -> list[PolicySubject]:
    """One subject per plan entry that creates or keeps a stack (deletions are not checked)."""
    out = []
    for task in _get(plan, "tasks") or []:
        spec = _get(task, "stack")
        if spec is None or _get(task, "action") == "delete":
            continue
        infra = "/".join(p for p in (_get(spec, "provider"), _get(spec, "region"), _get(spec, "zone")) if p)
        out.append(PolicySubject(
            cluster=_get(task, "cluster") or _get(spec, "stack"),
            infra=infra or "*",
            hourly_cost=_task_cost(task),
            num_nodes=int(_get(spec, "num_nodes") or 1),
            use_spot=bool(_get(spec, "use_spot")),
            accelerator=_get(spec, "accelerator_name"),
        ))
    return out


def check_plan(plan: Any, *, policy_file: str | Path | None = None,
               running: dict[str, float] | None = None) -> PolicyResult:
    """Evaluate the policy on a plan. The total counts the registered clusters' $/h, except the
    ones this plan replaces (their new cost is in the plan)."""
    path = find(policy_file)
    if path is None:
        return PolicyResult()
    subjects = subjects_from_plan(plan)
    if running is None:
        from skyc.registry import hourly_prices

        running = hourly_prices(include_stopped=False)
    planned = {s.cluster for s in subjects}
    other = sum(cost for name, cost in running.items() if name not in planned)
    return check(subjects, policy_file=path, other_hourly_cost=other)
