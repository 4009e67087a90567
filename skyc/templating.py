"""One jinja2 environment maker for skyc's templates (reports, node bootstrap scripts), with the
compiled templates kept under $SKYC_HOME/cache: compiling a template costs more than rendering it."""

from __future__ import annotations

from typing import Any


def environment(**options: Any) -> Any:
    """A jinja2 Environment over skyc/templates; `options` as jinja2's (trim_blocks, ...)."""
    import jinja2

    from skyc import paths

    cache = None
    d = paths.catalog_cache_dir() / "templates"
    try:
        d.mkdir(parents=True, exist_ok=True)
        cache = jinja2.FileSystemBytecodeCache(str(d))
    except OSError:
        pass  # compiled again each time
    return jinja2.Environment(loader=jinja2.PackageLoader("skyc", "templates"), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined, autoescape=False, bytecode_cache=cache, **options)
