"""envs and secrets: CLI overrides, dotenv files, `$VAR` substitution and redaction."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from skyc.errors import UsageError

ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
REDACTED = "<redacted>"


def parse_env_pairs(pairs: list[str] | tuple[str, ...], *, flag: str = "--env",
                    environ: dict[str, str] | None = None) -> dict[str, str]:
    """`["K=V", "K2"]` -> dict; a bare `K` copies the local environment (unset there -> usage error)."""
    environ = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, val = pair.partition("=")
        key = key.strip()
        if not ENV_NAME_RE.match(key):
            raise UsageError(f"{flag} {pair!r}: {key!r} is not a valid variable name")
        if not sep:
            if key not in environ:
                raise UsageError(f"{flag} {key}: {key} is not set in the local environment; use {flag} {key}=VALUE")
            val = environ[key]
        out[key] = val
    return out


def read_env_file(path: str | Path) -> dict[str, str]:
    """Minimal dotenv: `KEY=VALUE` lines, `export ` prefix, `#` comments, single/double quotes."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UsageError(f"--env-file {path}: no such file")
    out: dict[str, str] = {}
    for n, raw in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, val = line.partition("=")
        key = key.strip()
        if not sep or not ENV_NAME_RE.match(key):
            raise UsageError(f"--env-file {path}:{n}: expected KEY=VALUE, got {raw!r}")
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] and val[0] in "'\"":
            val = val[1:-1]
            if raw.strip().partition("=")[2].strip()[0] == '"':
                val = val.replace("\\n", "\n").replace('\\"', '"')
        elif " #" in val:
            val = val.split(" #", 1)[0].rstrip()
        out[key] = val
    return out


def substitute(value: Any, env: dict[str, str]) -> Any:
    """Replace `$NAME` / `${NAME}` in every string and mapping key; unknown names stay verbatim."""
    if not env:
        return value
    if isinstance(value, str):
        if "$" not in value:
            return value

        def repl(m: re.Match) -> str:
            name = m.group(1) or m.group(2)
            return env.get(name, m.group(0))

        return _VAR_RE.sub(repl, value)
    if isinstance(value, dict):
        return {substitute(k, env): substitute(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, env) for v in value]
    return value


def redact(values: dict[str, str | None]) -> dict[str, str | None]:
    """Secret values replaced by a marker; keys kept so users see what is set."""
    return {k: (None if v is None else REDACTED) for k, v in values.items()}
