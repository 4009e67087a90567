"""`skyc state list|history|export` and `skyc refresh`: audit the stacks and reconcile drift."""

from __future__ import annotations

import json

import click

from skyc.cli.options import output_option


def _echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _money(x: float | None) -> str:
    return "-" if x is None else f"${x:,.2f}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r).rstrip() for r in [headers, *rows])


@click.group("state")
def state() -> None:
    """Audit infrastructure state: list stacks, show update history, export state."""


@state.command("list")
@output_option
def list_cmd(output: str) -> int:
    """Every stack (cluster or service): backend, last update, resources, $/h."""
    from skyc.registry import hourly_prices
    from skyc.stacks import audit

    rows = audit.list_stacks(costs=hourly_prices(include_stopped=True))
    if output == "json":
        _echo_json([r.model_dump() for r in rows])
        return 0
    if not rows:
        click.echo("No stacks.")
        return 0
    click.echo(_table(
        ["NAME", "KIND", "INFRA", "NODES", "RESOURCES", "VERSION", "LAST UPDATE", "$/H", "BACKEND"],
        [[r.name, r.kind or "-", r.infra or "-", str(r.num_nodes or "-"), str(r.resources), str(r.version or "-"),
          (r.last_update or "-")[:19].replace("T", " "), _money(r.hourly_cost), r.backend] for r in rows],
    ))
    return 0


@state.command("history")
@click.argument("name")
@output_option
def history_cmd(name: str, output: str) -> int:
    """Each update of stack NAME: when, who, what changed, result (newest first)."""
    from skyc.stacks import audit

    entries = audit.history(name)
    if output == "json":
        _echo_json([e.model_dump() for e in entries])
        return 0
    rows = []
    for e in entries:
        changes = ", ".join(f"{k} {v}" for k, v in sorted(e.resource_changes.items()) if k != "same") or "-"
        rows.append([str(e.version), (e.start_time or "-")[:19].replace("T", " "), e.user or "-", e.kind, e.result,
                     changes, "; ".join(e.changes) or "-"])
    click.echo(_table(["VERSION", "STARTED", "USER", "KIND", "RESULT", "RESOURCES", "SPEC CHANGES"], rows))
    return 0


@state.command("export")
@click.argument("name")
def export_cmd(name: str) -> int:
    """Stack NAME's Pulumi state as JSON, with secrets and provider code redacted."""
    from skyc.stacks import audit

    _echo_json(audit.export_state(name))
    return 0


@click.command("refresh")
@click.argument("name")
@output_option
def refresh(name: str, output: str) -> int:
    """Reconcile stack NAME with reality and report what drifted (e.g. a node gone)."""
    from skyc.stacks import audit

    drifted = audit.detect_drift(name)
    if output == "json":
        _echo_json({"stack": name, "drifted": [d.model_dump() for d in drifted]})
        return 0
    if not drifted:
        click.echo(f"No drift: {name} matches its state.")
        return 0
    click.echo(f"Drift in {name} (the state now records reality; `skyc apply` or `launch` restores the spec):")
    for d in drifted:
        click.echo(f"  {d.change:<8} {d.type} \"{d.name}\"")
    return 0
