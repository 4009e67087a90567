"""`skyc stop`, `start`, `down`, `autostop`."""

from __future__ import annotations

import click


def _names(names: tuple[str, ...], all_: bool) -> list[str]:
    from skyc import registry as reg
    from skyc.errors import UsageError
    from skyc.lifecycle.names import check_cluster_name

    if all_:
        return [c.name for c in reg.Registry().list()]
    if not names:
        raise UsageError("name at least one cluster (or --all)")
    registered = reg.Registry().list()
    out: list[str] = []
    for n in names:
        if any(ch in n for ch in "*?["):
            import fnmatch

            out += [c.name for c in registered if fnmatch.fnmatchcase(c.name, n)]
        else:
            out.append(check_cluster_name(n))
    return list(dict.fromkeys(out))


def _require_known(names: list[str], *, stacks_too: bool = False) -> None:
    """Fail before asking anything when a named cluster does not exist (`down` also takes a
    stack the registry lost)."""
    from skyc import registry as reg
    from skyc.errors import ClusterNotFoundError

    store = reg.Registry()
    missing = [n for n in names if store.get(n) is None]
    if missing and stacks_too:
        from skyc.stacks.engine import Engine

        stacks = set(Engine().stacks())
        missing = [n for n in missing if n not in stacks]
    if missing:
        raise ClusterNotFoundError(f"no cluster named {', '.join(map(repr, missing))}; `skyc status` lists clusters")


def _each(names: list[str], fn, done: str) -> int:
    """Run fn per cluster; report each; exit 1 if any failed (the others still run)."""
    from skyc.errors import SkycError
    from skyc.ui import UI

    ui = UI()
    rc = 0
    for n in names:
        try:
            with ui.phase(f"{done.capitalize()} {n}"):
                fn(n, ui)
            click.echo(f"Cluster {n} {done}.")
        except SkycError as e:
            click.echo(f"Error: {n}: {e}", err=True)
            rc = max(rc, e.exit_code)
    return rc


@click.command("stop")
@click.argument("clusters", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="All clusters.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask.")
def stop(clusters, all_, yes) -> int:
    """Stop clusters (nodes stop, disks and SSH entries stay)."""
    from skyc.lifecycle import ops

    names = _names(clusters, all_)
    _require_known(names)
    if names and not yes and not click.confirm(f"Stop {', '.join(names)}?", default=True):
        return 1
    return _each(names, lambda n, ui: ops.stop(n, on_event=ui.engine_event), "stopped")


@click.command("start")
@click.argument("clusters", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="All clusters.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask.")
@click.option("-i", "--idle-minutes-to-autostop", "idle_minutes", type=int, help="Autostop after this many idle minutes.")
@click.option("--down", is_flag=True, help="With -i: tear down instead of stop.")
def start(clusters, all_, yes, idle_minutes, down) -> int:
    """Start stopped clusters in place (same infra, no failover)."""
    from skyc.errors import UsageError
    from skyc.lifecycle import ops

    if down and idle_minutes is None:
        raise UsageError("--down needs -i/--idle-minutes-to-autostop on start")
    names = _names(clusters, all_)

    def one(n, ui):
        ops.start(n, on_event=ui.engine_event)
        if idle_minutes is not None:
            ops.set_autostop(n, max(1, idle_minutes) if idle_minutes >= 0 else -1, down=down)

    return _each(names, one, "started")


@click.command("down")
@click.argument("clusters", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="All clusters.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask.")
@click.option("-p", "--purge", is_flag=True, help="Forget the cluster even if teardown fails.")
def down(clusters, all_, yes, purge) -> int:
    """Tear down clusters (everything is deleted; SSH entries removed)."""
    from skyc.lifecycle import ops

    names = _names(clusters, all_)
    if not names:
        click.echo("No clusters to tear down.")
        return 0
    _require_known(names, stacks_too=True)
    if not yes and not click.confirm(f"Tear down {', '.join(names)}? Everything on them is deleted.", default=True):
        return 1
    return _each(names, lambda n, ui: ops.down(n, purge=purge, on_event=ui.engine_event), "terminated")


@click.command("autostop")
@click.argument("clusters", nargs=-1)
@click.option("-i", "--idle-minutes", type=int, default=None, help="Idle minutes before acting (default 5).")
@click.option("--cancel", "cancel_", is_flag=True, help="Cancel autostop.")
@click.option("--down", is_flag=True, help="Tear down instead of stop.")
@click.option("--wait-for", type=click.Choice(["jobs_and_ssh", "jobs", "none"]), default="jobs_and_ssh",
              show_default=True, help="What counts as activity.")
@click.option("-a", "--all", "all_", is_flag=True, help="All clusters.")
@click.option("-y", "--yes", is_flag=True, hidden=True)
def autostop(clusters, idle_minutes, cancel_, down, wait_for, all_, yes) -> int:
    """Stop (or --down) clusters after they have been idle for a while."""
    from skyc.errors import UsageError
    from skyc.lifecycle import ops

    if cancel_ and idle_minutes is not None:
        raise UsageError("--cancel and -i/--idle-minutes are exclusive")
    if cancel_ or (idle_minutes is not None and idle_minutes < 0):
        minutes = -1
    else:
        minutes = ops.DEFAULT_AUTOSTOP_MINUTES if idle_minutes is None else max(1, idle_minutes)
    names = _names(clusters, all_)
    what = "autostop cancelled" if minutes < 0 else f"will {'be torn down' if down else 'stop'} after {minutes} idle minute(s)"

    def one(n, ui):
        ops.set_autostop(n, minutes, down=down, wait_for=wait_for)

    return _each(names, one, what)
