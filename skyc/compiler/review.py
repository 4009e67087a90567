"""What `skyc plan` adds to a plan for review: per-stack diffs against state and the policy verdict.

One call for the plan command (`review(plan, ...)`), then render it as text / Markdown or merge
it into the plan's JSON. Evaluating the policy never raises for violations; `raise_for_policy`
does, after the plan has been shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from skyc.compiler import diff as stackdiff
from skyc.compiler import policy as pol


class Review(BaseModel):
    model_config = ConfigDict(extra="forbid")

    diffs: list[stackdiff.StackDiff] = Field(default_factory=list)
    policy: pol.PolicyResult = Field(default_factory=pol.PolicyResult)

    @property
    def has_changes(self) -> bool:
        return any(d.has_changes for d in self.diffs)

    def summary(self) -> stackdiff.Summary:
        return stackdiff.total_summary(self.diffs)

    def render(self, fmt: Literal["text", "markdown"] = "text", title: str = "skyc plan") -> str:
        return stackdiff.render(self.diffs, fmt, policy=self.policy, title=title)

    def to_json(self) -> dict[str, Any]:
        """Keys merged into `skyc plan -o json` (`policy` is what OPA/Conftest rules read)."""
        s = self.summary()
        return {
            "diff": [
                {**d.model_dump(mode="json"), "cost_delta": d.cost_delta} for d in self.diffs
            ],
            "summary": {"add": s.add, "change": s.change, "destroy": s.destroy, "line": s.line()},
            "policy": self.policy.model_dump(mode="json"),
        }

    def exit_code(self, detailed: bool = False) -> int:
        """0 ok; 1 policy violated; with `detailed`, 2 when there are changes (Terraform's)."""
        if not self.policy.passed:
            return 1
        return stackdiff.detailed_exit_code(self.diffs) if detailed else 0

    def raise_for_policy(self) -> None:
        pol.raise_for(self.policy)


def review(
    plan: Any,
    *,
    policy_file: str | Path | None = None,
    preview: bool = False,
    offline: bool = False,
    engine: Any = None,
) -> Review:
    """Diff each stack of `plan` against its state (recording `base_version` on each entry)
    and evaluate the policy. `offline` skips state that lives on a remote backend (a local
    file backend is still read); `preview` asks the engine for a real preview."""
    if engine is None:
        from skyc.stacks.engine import Engine

        engine = Engine()
    if offline and not engine.backend_url.startswith("file://"):
        stack_diffs: list[stackdiff.StackDiff] = []
    else:
        stack_diffs = stackdiff.plan_diffs(plan, engine, preview=preview and not offline)
    return Review(diffs=stack_diffs, policy=pol.check_plan(plan, policy_file=policy_file))
