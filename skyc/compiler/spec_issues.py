"""Collecting located problems while a task is validated, and turning pydantic errors into them."""

from __future__ import annotations

import difflib
import re
import typing
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from pydantic import BaseModel, ValidationError

# Keys SkyPilot users commonly carry over that need a specific hint, not just "unknown".
KEY_HINTS = {
    "spot_recovery": "spot_recovery was removed; use job_recovery",
    "hooks": "hooks belong under config.hooks",
}


_MODEL_NAME_RE = re.compile(r" or instance of \w+")


@dataclass
class Problem:
    path: tuple
    message: str
    at_key: bool = False


@dataclass
class Collector:
    """Problems and warnings of one document; `guard` turns a ValueError into a problem at a path."""

    prefix: tuple = ()
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error(self, path: tuple, message: str, *, at_key: bool = False) -> None:
        problem = Problem(self.prefix + tuple(path), message, at_key)
        if problem not in self.problems:  # a shared outer field is checked once per candidate
            self.problems.append(problem)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    @contextmanager
    def guard(self, path: tuple, *, at_key: bool = False) -> Iterator[None]:
        try:
            yield
        except ValidationError as e:
            self.error(path, "; ".join(err["msg"] for err in e.errors()), at_key=at_key)
        except ValueError as e:
            self.error(path, str(e), at_key=at_key)


def format_path(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Every model class reachable through Optional/Union/list/dict in an annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _models_at(root: type[BaseModel], path: tuple) -> list[type[BaseModel]]:
    models = [root]
    for seg in path:
        nxt: list[type[BaseModel]] = []
        for m in models:
            f = m.model_fields.get(seg) if isinstance(seg, str) else None
            if f is None and isinstance(seg, str):
                f = next((fi for fi in m.model_fields.values() if fi.alias == seg), None)
            if f is not None:
                nxt.extend(_models_in(f.annotation))
        # A list index or a free mapping key: stay on the element models.
        models = nxt or models
    return models


def _field_names(models: list[type[BaseModel]]) -> list[str]:
    names: list[str] = []
    for m in models:
        for name, f in m.model_fields.items():
            names.append(f.alias or name)
    return names


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _data_path(data: Any, loc: tuple) -> tuple[tuple, int | None]:
    """Drop union-member tags from a pydantic loc; also return where the first tag was."""
    out: list = []
    cur = data
    first_tag = None
    for seg in loc:
        if isinstance(cur, dict) and seg in cur:
            out.append(seg)
            cur = cur[seg]
        elif isinstance(cur, list) and isinstance(seg, int) and 0 <= seg < len(cur):
            out.append(seg)
            cur = cur[seg]
        elif isinstance(cur, dict) and isinstance(seg, str) and seg not in cur and not out[-1:] == [seg]:
            # Either a union tag, or a missing / extra key that pydantic reports at its own path.
            if seg[:1].isupper() or "[" in seg or seg in ("str", "int", "float", "bool", "list", "dict"):
                first_tag = len(out) if first_tag is None else first_tag
                continue
            out.append(seg)
            cur = None
        else:
            if first_tag is None:
                first_tag = len(out)
    return tuple(out), first_tag


def pydantic_problems(exc: ValidationError, data: Any, root: type[BaseModel]) -> list[Problem]:
    """One readable problem per distinct field; union branches that did not apply are folded together."""
    entries = []
    for err in exc.errors(include_url=False):
        path, tag_at = _data_path(data, tuple(err["loc"]))
        entries.append((path, tag_at, err))
    # Errors of one union: keep those of the branch that went deeper into the value, if any did.
    groups: dict[tuple, list] = {}
    for path, tag_at, err in entries:
        key = path[:tag_at] if tag_at is not None else path
        groups.setdefault(key, []).append((path, tag_at, err))
    problems: list[Problem] = []
    for key, items in groups.items():
        deeper = [it for it in items if len(it[0]) > len(key)]
        chosen = deeper or items
        if not deeper and len(items) > 1:
            msgs = []
            for _, _, err in items:
                m = _MODEL_NAME_RE.sub("", err["msg"]).removeprefix("Input should be ").removeprefix("a valid ")
                if m not in msgs:
                    msgs.append(m)
            value = items[0][2].get("input")
            problems.append(Problem(key, f"expected {' or '.join(msgs)}, got {_short(value)}"))
            continue
        seen = set()
        for path, _, err in chosen:
            p = _problem(path, err, root)
            ident = (p.path, p.message)
            if ident not in seen:
                seen.add(ident)
                problems.append(p)
    return problems


def _problem(path: tuple, err: dict, root: type[BaseModel]) -> Problem:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        hint = KEY_HINTS.get(key)
        if hint is None:
            close = difflib.get_close_matches(key, _field_names(_models_at(root, path[:-1])), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else None
        return Problem(path, f"unknown field {key!r}" + (f"; {hint}" if hint else ""), at_key=True)
    if kind == "missing":
        return Problem(path[:-1] or path, f"missing required field {path[-1]!r}" if path else "missing field")
    msg = _MODEL_NAME_RE.sub("", err["msg"])  # users never see our class names
    if "input" in err and kind not in ("literal_error",):
        msg = f"{msg}, got {_short(err['input'])}"
    return Problem(path, msg)
