"""`skyc status` and `skyc cost-report`: read the local registry only (fast), unless --refresh."""

from __future__ import annotations

import getpass
import time

import click

from skyc.cli.options import output_option, print_json


def _duration(seconds: float) -> str:
    s = int(max(0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _autostop_text(c) -> str:
    if c.autostop < 0:
        return "-"
    return f"{c.autostop}m" + (" (down)" if c.to_down else "")


def cluster_json(c) -> dict:
    """SkyPilot's `status -o json` keys where they apply."""
    return {
        "name": c.name,
        "launched_at": int(c.launched_at),
        "last_use": c.last_use,
        "status": c.status,
        "autostop": c.autostop,
        "to_down": c.to_down,
        "wait_for": c.wait_for,
        "owner": None,
        "metadata": {},
        "cluster_hash": c.cluster_hash,
        "cluster_ever_up": c.inventory is not None or c.status in ("UP", "STOPPED"),
        "status_updated_at": int(c.status_updated_at),
        "user_name": getpass.getuser(),
        "workspace": "default",
        "resources_str": c.resources_str,
        "resources_str_full": c.resources_str,
        "nodes": c.num_nodes,
        "infra": c.infra,
        "cloud": c.provider,
        "region": c.region,
        "zone": c.zone,
        "cpus": c.cpus,
        "memory": c.memory,
        "accelerators": c.accelerators or None,
        "hourly_price": c.hourly_price,
        "cluster_name_on_cloud": c.stack,
        "node_names": [n["name"] for n in (c.inventory or {}).get("nodes", [])],
    }


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def _refresh(store, clusters) -> None:
    """Ask the engine about each cluster's stack and correct the registry."""
    from skyc import registry as reg
    from skyc.stacks.audit import detect_drift
    from skyc.stacks.engine import Engine

    engine = Engine()
    stacks = set(engine.stacks())
    for c in clusters:
        if c.stack not in stacks:
            if c.status != reg.INIT:
                store.remove(c.name)  # the stack is gone: nothing of the cluster exists
            continue
        drifted = detect_drift(c.stack, engine)
        inv = engine.inventory(c.stack)
        if drifted and c.status == reg.UP:
            store.update(c.name, status=reg.INIT)  # abnormal: some node is gone
        elif inv is not None and c.status == reg.INIT and inv.nodes:
            spec = engine.last_spec(c.stack)
            store.update(c.name, status=reg.STOPPED if spec and spec.stopped else reg.UP,
                         inventory=inv.model_dump(mode="json"))


@click.command("status")
@click.argument("clusters", nargs=-1)
@click.option("-r", "--refresh", is_flag=True, help="Ask the engine for the real state first (slower).")
@output_option
def status(clusters, refresh, output) -> int:
    """Show clusters (name, infra, resources, status, $/h, uptime, autostop)."""
    from skyc import registry as reg

    store = reg.Registry()
    rows = store.list(list(clusters) or None)
    if refresh and rows:
        _refresh(store, rows)
        rows = store.list(list(clusters) or None)
    if output == "json":
        print_json([cluster_json(c) for c in rows])
        return 0
    from skyc.controller import daemon

    now = time.time()
    if not rows:
        click.echo(f"Cluster(s) not found: {', '.join(clusters)}." if clusters else "No existing clusters.")
    else:
        body = [
            [c.name, c.infra, c.resources_str, str(c.num_nodes), c.status,
             f"{c.hourly_price:.2f}", _duration(now - c.launched_at) if c.status == reg.UP else "-",
             _autostop_text(c)]
            for c in rows
        ]
        click.echo(_table(["NAME", "INFRA", "RESOURCES", "NODES", "STATUS", "$/H", "UPTIME", "AUTOSTOP"], body))
    missing = [n for n in clusters if not any(c.name == n for c in rows) and not any(ch in n for ch in "*?[")]
    if missing and rows:
        click.echo(f"Cluster(s) not found: {', '.join(missing)}.")
    ctl = daemon.status()
    if ctl["running"]:
        click.echo(f"\nController: running (pid {ctl['pid']}, log {daemon.log_path()})")
    elif any(c.autostop >= 0 for c in rows):
        click.echo("\nController: not running (autostop is not being enforced; any skyc autostop/launch restarts it)")
    return 0


def cost_rows(store, now: float | None = None) -> list[dict]:
    """Per cluster incarnation: hours running x $/h so far (terminated ones included)."""
    now = now or time.time()
    out = []
    for c in store.history():
        intervals = store.usage_intervals(c.cluster_hash)
        seconds = sum((end or now) - start for start, end in intervals)
        out.append({
            "name": c.name,
            "launched_at": int(c.launched_at),
            "duration": int(seconds),
            "last_use": c.last_use,
            "num_nodes": c.num_nodes,
            "cluster_hash": c.cluster_hash,
            "usage_intervals": [[int(s), int(e) if e else None] for s, e in intervals],
            "total_cost": round(seconds / 3600 * c.hourly_price, 6),
            "hourly_price": c.hourly_price,
            "cloud": c.provider,
            "region": c.region,
            "cpus": c.cpus,
            "memory": c.memory,
            "accelerators": c.accelerators or None,
            "resources_str": c.resources_str,
            "resources_str_full": c.resources_str,
            "status": c.status,
        })
    return out


@click.command("cost-report")
@output_option
def cost_report(output) -> int:
    """Cost so far of every cluster, including terminated ones (hours up x $/h)."""
    from skyc import registry as reg

    rows = cost_rows(reg.Registry())
    if output == "json":
        print_json(rows)
        return 0
    if not rows:
        click.echo("No clusters yet.")
        return 0
    body = [[r["name"], r["resources_str"], r["status"], _duration(r["duration"]), f"{r['hourly_price']:.2f}",
             f"{r['total_cost']:.2f}"] for r in rows]
    click.echo(_table(["NAME", "RESOURCES", "STATUS", "DURATION", "$/H", "COST ($)"], body))
    click.echo(f"\nTotal: ${sum(r['total_cost'] for r in rows):.2f}")
    return 0
