"""Golden tests: each example task -> its normalised JSON in tests/golden/spec/.

Regenerate after an intended change with `SKYC_REGEN_GOLDEN=1 pytest tests/test_spec_golden.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from skyc.compiler.spec import load_tasks

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
GOLDEN = Path(__file__).parent / "golden" / "spec"


def normalised(path: Path) -> list[dict]:
    tasks = load_tasks(path)
    out = []
    for t in tasks:
        data = t.redacted()
        data["source_file"] = path.name  # independent of where the checkout lives
        out.append(data)
    return out


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_matches_golden(example: Path):
    golden = GOLDEN / f"{example.stem}.json"
    actual = normalised(example)
    if os.environ.get("SKYC_REGEN_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
    assert golden.exists(), f"no golden file for {example.name}; run with SKYC_REGEN_GOLDEN=1"
    assert actual == json.loads(golden.read_text())


def test_every_golden_has_an_example():
    stale = {g.stem for g in GOLDEN.glob("*.json")} - {e.stem for e in EXAMPLES}
    assert not stale, f"golden files without an example: {sorted(stale)}"
