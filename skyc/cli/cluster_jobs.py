"""`skyc queue`, `skyc logs`, `skyc cancel`: jobs on a cluster, through its head's agent."""

from __future__ import annotations

import sys
import time

import click

from skyc.cli.options import output_option, print_json


def _runtime(name: str):
    from skyc.lifecycle import jobs as jl
    from skyc.lifecycle.names import check_cluster_name

    check_cluster_name(name)
    return jl.runtime_for(jl.require_up(name))


def _ago(t: float | None) -> str:
    if not t:
        return "-"
    s = int(time.time() - t)
    return f"{s}s ago" if s < 60 else f"{s // 60}m ago" if s < 3600 else f"{s // 3600}h ago"


def _dur(row: dict) -> str:
    if not row.get("start_at"):
        return "-"
    return f"{int((row.get('end_at') or time.time()) - row['start_at'])}s"


@click.command("queue")
@click.argument("clusters", nargs=-1)
@click.option("-s", "--skip-finished", is_flag=True, help="Only jobs that have not finished.")
@output_option
def queue(clusters, skip_finished, output) -> int:
    """Show the job queue of clusters (every UP cluster when none is named)."""
    from skyc.cli.status import _table
    from skyc.runtime.cluster import TERMINAL

    if not clusters:
        from skyc import registry as reg

        clusters = [c.name for c in reg.Registry().list() if c.status == reg.UP]
    result: dict[str, list] = {}
    for name in clusters:
        rt = _runtime(name)
        try:
            rows = rt.queue(all=True)
        finally:
            rt.close()
        if skip_finished:
            rows = [r for r in rows if r["status"] not in TERMINAL]
        result[name] = rows
    if output == "json":
        print_json({name: [{k: r.get(k) for k in ("job_id", "job_name", "username", "submitted_at", "start_at",
                                                  "end_at", "resources", "status", "log_path")} | {"metadata": {}}
                            for r in rows] for name, rows in result.items()})
        return 0
    for name, rows in result.items():
        click.echo(f"Job queue of cluster {name}")
        body = [[str(r["job_id"]), r.get("job_name") or "-", r.get("username") or "-", _ago(r.get("submitted_at")),
                 _dur(r), r.get("resources") or "-", r["status"]] for r in rows]
        click.echo(_table(["ID", "NAME", "USER", "SUBMITTED", "DURATION", "RESOURCES", "STATUS"], body))
    return 0


@click.command("logs")
@click.argument("cluster")
@click.argument("job_id", required=False, type=int)
@click.option("--status", "status_only", is_flag=True, help="Print the job's status; exit 0/100/101/102/103 by it.")
@click.option("--follow/--no-follow", default=True, help="Keep following until the job ends (default).")
@click.option("--tail", type=int, default=None, help="Last N lines (0 = all).")
def logs(cluster, job_id, status_only, follow, tail) -> int:
    """Show a job's log (latest job by default); exit with its status code."""
    from skyc.runtime.cluster import exit_code_for

    rt = _runtime(cluster)
    try:
        if status_only:
            row = rt.job(job_id)
            if row is None:
                click.echo(f"Job {job_id if job_id is not None else '(latest)'} not found on {cluster}.", err=True)
                return exit_code_for(None)
            click.echo(f"Job {row['job_id']}: {row['status']}")
            return exit_code_for(row["status"])
        status = rt.follow_logs(job_id, follow=follow, tail=None if tail == 0 else tail, out=sys.stdout.buffer)
        sys.stdout.flush()
    finally:
        rt.close()
    if status is None:
        click.echo(f"Job {job_id if job_id is not None else '(latest)'} not found on {cluster}.", err=True)
    return exit_code_for(status) if follow or status is None else 0


@click.command("cancel")
@click.argument("cluster")
@click.argument("job_ids", nargs=-1, type=int)
@click.option("-a", "--all", "all_", is_flag=True, help="Cancel every unfinished job.")
@click.option("-y", "--yes", is_flag=True, hidden=True)
def cancel(cluster, job_ids, all_, yes) -> int:
    """Cancel jobs on a cluster (latest running job when no id is given)."""
    from skyc.errors import UsageError

    if all_ and job_ids:
        raise UsageError("give job ids or --all, not both")
    rt = _runtime(cluster)
    try:
        done = rt.cancel(list(job_ids), all=all_)
    finally:
        rt.close()
    if done:
        click.echo(f"Cancelled job(s) {', '.join(map(str, done))} on {cluster}.")
    else:
        click.echo(f"No unfinished job to cancel on {cluster}.")
    return 0
