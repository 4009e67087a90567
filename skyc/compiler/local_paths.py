"""Local paths a task names (a string `workdir`, local `file_mounts` sources): a relative one is
resolved against the task file's directory, so `validate`, `plan` and `launch` read the same files
wherever they are run from. Bucket URIs and storage mappings are not local paths."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_URL_PREFIX = "://"


def base_dir(source_file: str | None) -> Path | None:
    """The directory relative paths start from: the task file's, or the launching one (None)."""
    if not source_file or source_file.startswith("<"):
        return None
    return Path(source_file).expanduser().absolute().parent


def resolve(path: str, base: Path | None) -> Path:
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() else ((base / p) if base is not None else p.absolute())


def local_sources(file_mounts: dict[str, Any]) -> dict[str, str]:
    """destination -> local source, for the file mounts that copy a local path."""
    return {dst: src for dst, src in file_mounts.items() if isinstance(src, str) and _URL_PREFIX not in src}


def problems(workdir: Any, file_mounts: dict[str, Any], base: Path | None) -> list[tuple[tuple, str]]:
    """(field path, message) for each local path that launch could not read."""
    out: list[tuple[tuple, str]] = []
    where = f" (relative paths start at {base})" if base is not None else ""
    if isinstance(workdir, str) and not resolve(workdir, base).is_dir():
        out.append((("workdir",), f"{workdir} does not exist or is not a directory{where}"))
    for dst, src in local_sources(file_mounts).items():
        if not resolve(src, base).exists():
            out.append((("file_mounts", dst), f"local source {src} does not exist{where}; create it or fix the path"))
    return out


def with_absolute_paths(task: Any) -> Any:
    """The task with its local workdir and file-mount sources made absolute (what the runtime syncs)."""
    base = base_dir(task.source_file)
    update: dict[str, Any] = {}
    if isinstance(task.workdir, str):
        update["workdir"] = str(resolve(task.workdir, base))
    mounts = local_sources(task.file_mounts)
    if mounts:
        update["file_mounts"] = {**task.file_mounts, **{d: str(resolve(s, base)) for d, s in mounts.items()}}
    return task.model_copy(update=update) if update else task
