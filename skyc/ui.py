"""Terminal feedback for long commands: one spinner per phase, per-resource lines from engine events.

Interactive only when stdout is a TTY and the output is not JSON; otherwise phases are silent and
notes go to stderr as plain lines, so piped output holds nothing but what was asked for.
Rich is imported only when a spinner is actually shown.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator


class UI:
    def __init__(self, *, json_output: bool = False, interactive: bool | None = None):
        self.json_output = json_output
        tty = sys.stdout.isatty() and sys.stderr.isatty()
        self.interactive = (tty if interactive is None else interactive) and not json_output
        self._status = None
        self._console = None

    def console(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False)
        return self._console

    def note(self, message: str) -> None:
        """A line the user should see even when piped (failover, what happened); never under JSON."""
        if self.json_output:
            return
        if self.interactive:
            self.console().print(message, markup=False)
        else:
            print(message, file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def phase(self, label: str) -> Iterator[None]:
        """A spinner while the phase runs, then a check mark with its duration (TTY only)."""
        if not self.interactive:
            yield
            return
        start = time.monotonic()
        with self.console().status(f"{label}...", spinner="dots") as status:
            self._status = status
            try:
                yield
            except BaseException:
                self._status = None
                self.console().print(f"[red]✗[/red] {label}")
                raise
            self._status = None
        self.console().print(f"[green]✓[/green] {label} [dim]({time.monotonic() - start:.1f}s)[/dim]")

    def engine_event(self, event: dict) -> None:
        """Render one engine progress event as a per-resource line."""
        if not self.interactive:
            return
        kind = event.get("kind")
        typ = event.get("type") or ""
        if typ == "pulumi:pulumi:Stack" or typ.startswith("pulumi:providers:"):
            return  # the stack itself and provider plugins are not part of the cluster
        name = event.get("name") or ""
        if typ:
            name = f"{typ.rsplit(':', 1)[-1]} {name}"  # e.g. "Instance head"
        op = event.get("op") or ""
        if kind == "resource_pre" and op not in ("same", "read", "refresh") and self._status is not None:
            self._status.update(f"{op} {name}...")
        elif kind == "resource_done" and op not in ("same", "read", "refresh"):
            self.console().print(f"  [dim]{op}[/dim] {name}", markup=True)
        elif kind == "resource_failed":
            self.console().print(f"  [red]failed[/red] {op} {name}")
        elif kind == "diagnostic" and event.get("severity") == "error":
            msg = (event.get("message") or "").strip().splitlines()
            if msg:
                self.console().print(f"  [red]{msg[-1]}[/red]", markup=True)


def confirm(prompt: str, default: bool = True) -> bool:
    import click

    return click.confirm(prompt, default=default)
