"""Local inputs a task reads when it starts (workdir, file_mounts sources), checked at plan time
so nothing is provisioned for a task that could not start."""

from __future__ import annotations

from typing import Any

from skyc.compiler.local_paths import base_dir, resolve
from skyc.errors import SpecError, SpecIssue


def bucket_source(src: Any) -> str | None:
    """The bucket a file_mounts source names (a URI or a storage mapping), else None."""
    if isinstance(src, str):
        return src if "://" in src else None
    data = src if isinstance(src, dict) else src.model_dump(exclude_none=True)
    return str(data.get("source") or data.get("name") or "storage")


def check_local_sources(task: Any) -> None:
    """SpecError naming each missing workdir/file_mounts source and each bucket mount."""
    issues = []
    base = base_dir(task.source_file)
    if isinstance(task.workdir, str) and not resolve(task.workdir, base).is_dir():
        issues.append(SpecIssue(f"{task.workdir} does not exist or is not a directory", file=task.source_file,
                                field="workdir"))
    for dst, src in task.file_mounts.items():
        bucket = bucket_source(src)
        if bucket is not None:
            issues.append(SpecIssue(
                f"bucket storage ({bucket}) is not supported yet: skyc copies local files and directories; "
                "fetch the bucket in `setup` with the cloud's CLI instead", file=task.source_file,
                field=f"file_mounts.{dst}"))
        elif not resolve(src, base).exists():
            issues.append(SpecIssue(f"local source {src} does not exist", file=task.source_file,
                                    field=f"file_mounts.{dst}"))
    if issues:
        raise SpecError(issues)
