"""`skyc` entry point: a click group whose subcommands are imported only when used.

Exit codes: 0 ok; 1 error; 2 usage error; 100 job failed; 101 job not finished;
102 job not found; 103 job cancelled (the `logs --status` codes of SkyPilot).
"""

from __future__ import annotations

import importlib
import sys

import click

from skyc.errors import SkycError

# command name -> "module:attribute"; keeps `skyc --help` free of heavy imports.
COMMANDS: dict[str, str] = {
    "validate": "skyc.cli.validate:validate",
    "schema": "skyc.cli.validate:schema",
    "state": "skyc.cli.state:state",
    "refresh": "skyc.cli.state:refresh",
    "apply": "skyc.cli.apply:apply",
    "plan": "skyc.cli.plan:plan",
    "gpus": "skyc.cli.catalog:gpus",
    "catalog": "skyc.cli.catalog:catalog",
    "check": "skyc.cli.catalog:check",
    "launch": "skyc.cli.launch:launch",
    "exec": "skyc.cli.launch:exec_",
    "status": "skyc.cli.status:status",
    "cost-report": "skyc.cli.status:cost_report",
    "queue": "skyc.cli.cluster_jobs:queue",
    "logs": "skyc.cli.cluster_jobs:logs",
    "cancel": "skyc.cli.cluster_jobs:cancel",
    "stop": "skyc.cli.lifecycle:stop",
    "start": "skyc.cli.lifecycle:start",
    "down": "skyc.cli.lifecycle:down",
    "autostop": "skyc.cli.lifecycle:autostop",
}

EPILOG = """\b
Exit codes:
  0    success
  1    error (message on stderr; --debug for a traceback)
  2    usage error
  100  job failed        (logs --status, launch/exec when streaming)
  101  job not finished
  102  job not found
  103  job cancelled
"""


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # One-line help per command without importing every module: read each command's short help lazily.
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=formatter.width - 20)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(package_name="skyc")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """skyc: compile SkyPilot-style task YAML into Pulumi stacks and run them."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        rv = cli.main(args=argv, prog_name="skyc", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except SkycError as e:
        if debug:
            raise
        click.echo(f"Error: {e}", err=True)
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
