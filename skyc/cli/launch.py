"""`skyc launch` and `skyc exec`."""

from __future__ import annotations

import sys

import click

from skyc.cli.options import overrides_from, task_options


def _stream(res) -> int:
    """Follow the job's log to stdout on the launch's own connection; exit with the job's code."""
    from skyc.runtime.cluster import exit_code_for

    try:
        status = res.runtime.follow_logs(res.job_id, follow=True, out=sys.stdout.buffer)
    finally:
        res.close()
    sys.stdout.flush()
    return exit_code_for(status)


def _check_name(name: str | None) -> str:
    from skyc.lifecycle.names import check_cluster_name, generate_cluster_name

    return check_cluster_name(name) if name else generate_cluster_name()


@click.command("launch")
@click.argument("entrypoint", nargs=-1)
@click.option("-c", "--cluster", help="Cluster name (generated when omitted).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("-d", "--detach-run", "detach", is_flag=True, help="Return once the job is submitted.")
@click.option("-i", "--idle-minutes-to-autostop", "idle_minutes", type=int, help="Stop after this many idle minutes.")
@click.option("--down", is_flag=True, help="Tear down (not stop) when idle; alone: after 1 idle minute.")
@click.option("--wait-for", type=click.Choice(["jobs_and_ssh", "jobs", "none"]),
              help="What counts as activity for autostop (default jobs_and_ssh).")
@click.option("--dryrun", is_flag=True, help="Show the plan only.")
@click.option("-r", "--retry-until-up", is_flag=True, help="Keep retrying when every placement fails.")
@click.option("--no-setup", is_flag=True, help="Skip the task's setup.")
@click.option("--fast", is_flag=True, help="On an UP cluster, skip file mounts and setup (workdir still syncs).")
@click.option("--no-ssh-config", is_flag=True, help="Do not write ~/.ssh/config entries.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", hidden=True)
@task_options
def launch(entrypoint, cluster, yes, detach, idle_minutes, down, wait_for, dryrun, retry_until_up, no_setup, fast,
           no_ssh_config, output, **task_kw) -> int:
    """Launch a cluster and run a task YAML or shell command on it."""
    from skyc.lifecycle import compile as comp
    from skyc.lifecycle.launch import launch as do_launch
    from skyc.ui import UI

    name = _check_name(cluster)
    ui = UI(json_output=output == "json")

    def confirm(plan) -> bool:
        if yes:
            if ui.interactive:
                click.echo(comp.render_plan(plan))
            return True
        click.echo(comp.render_plan(plan))
        return click.confirm(f"Launching cluster {name}. Proceed?", default=True)

    try:
        res = do_launch(tuple(entrypoint), name, overrides_from(task_kw), ui=ui, detach=detach,
                        idle_minutes=idle_minutes, down=down, retry_until_up=retry_until_up, no_setup=no_setup,
                        fast=fast, wait_for=wait_for, ssh_config=not no_ssh_config, confirm=confirm,
                        dryrun=dryrun, on_event=ui.engine_event, keep_runtime=not detach,
                        show_plan=not yes or ui.interactive)
    except KeyboardInterrupt:
        click.echo(f"Interrupted; cluster {name} is left INIT. Remove it with `skyc down {name}`.", err=True)
        return 130
    for note in res.notes:
        click.echo(note)
    if dryrun:
        return 0
    if res.job_id is None:
        res.close()
        ui.note(f"Cluster {name} is UP. `ssh {name}` logs in; `skyc exec {name} CMD` runs a command.")
        return 0
    if detach:
        ui.note(f"Job {res.job_id} submitted on {name}; `skyc logs {name} {res.job_id}` follows it.")
        return 0
    return _stream(res)


@click.command("exec")
@click.argument("cluster")
@click.argument("entrypoint", nargs=-1)
@click.option("-d", "--detach-run", "detach", is_flag=True, help="Return once the job is submitted.")
@task_options
def exec_(cluster, entrypoint, detach, **task_kw) -> int:
    """Run a task or command on an UP cluster (syncs workdir; no setup, no provisioning)."""
    from skyc.lifecycle.launch import exec_ as do_exec
    from skyc.lifecycle.names import check_cluster_name
    from skyc.ui import UI

    check_cluster_name(cluster)
    ui = UI()
    ignored = [f"--{k.replace('_', '-')}" for k in ("cpus", "memory") if task_kw.get(k) is not None]
    if ignored:  # the cluster exists: its machines are what they are (as SkyPilot's exec)
        ui.note(f"Warning: {' and '.join(ignored)} ignored by exec; the job runs on {cluster}'s existing nodes.")
        for flag in ("cpus", "memory"):
            task_kw[flag] = None
    res = do_exec(tuple(entrypoint), cluster, overrides_from(task_kw), ui=ui, keep_runtime=not detach)
    if detach:
        ui.note(f"Job {res.job_id} submitted on {cluster}.")
        return 0
    return _stream(res)
