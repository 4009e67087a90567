"""Flag groups shared by cluster commands (SkyPilot's spelling)."""

from __future__ import annotations

from typing import Callable

import click


def output_option(f: Callable) -> Callable:
    return click.option("-o", "--output", "output", type=click.Choice(["table", "json"]), default="table",
                        show_default=True, help="Output format.")(f)


def task_options(f: Callable) -> Callable:
    opts = [
        click.option("--env", "envs", multiple=True, metavar="K[=V]", help="Set an env var (repeat); K alone copies it from here."),
        click.option("--env-file", type=click.Path(dir_okay=False), help="dotenv file of env vars."),
        click.option("--secret", "secrets", multiple=True, metavar="K[=V]", help="Set a secret (repeat); redacted everywhere."),
        click.option("--gpus", help="Accelerators, e.g. A100:8."),
        click.option("--cpus", help="vCPUs per node, e.g. 4 or 4+."),
        click.option("--memory", help="GiB per node, e.g. 16 or 16+."),
        click.option("--infra", help="Where to run: local, aws, aws/us-east-1, k8s/context, ..."),
        click.option("--use-spot/--no-use-spot", default=None, help="Use spot capacity."),
        click.option("--num-nodes", type=click.IntRange(min=1), help="Number of nodes."),
        click.option("--workdir", type=click.Path(file_okay=False), help="Directory synced to ~/sky_workdir."),
        click.option("--git-url", help="Clone this git repository as the workdir (instead of a directory)."),
        click.option("--git-ref", help="Branch, tag or commit of --git-url."),
        click.option("-n", "--name", "task_name", help="Task name."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def overrides_from(kw: dict):
    from skyc.lifecycle.compile import Overrides

    return Overrides(
        envs=tuple(kw.pop("envs", ()) or ()), env_file=kw.pop("env_file", None), secrets=tuple(kw.pop("secrets", ()) or ()),
        gpus=kw.pop("gpus", None), cpus=kw.pop("cpus", None), memory=kw.pop("memory", None), infra=kw.pop("infra", None),
        use_spot=kw.pop("use_spot", None), num_nodes=kw.pop("num_nodes", None), workdir=kw.pop("workdir", None),
        git_url=kw.pop("git_url", None), git_ref=kw.pop("git_ref", None), name=kw.pop("task_name", None),
    )


def print_json(value) -> None:
    import json

    click.echo(json.dumps(value, indent=2, default=str))
