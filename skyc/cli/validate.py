"""`skyc validate FILE...` (check task YAMLs, located errors) and `skyc schema` (JSON schema for editors)."""

from __future__ import annotations

import json

import click


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--env", "envs", multiple=True, metavar="KEY[=VALUE]",
              help="Override an env (KEY alone copies it from the local environment). Repeatable.")
@click.option("--env-file", type=click.Path(dir_okay=False), help="dotenv file of envs (also applied as secrets).")
@click.option("--secret", "secrets", multiple=True, metavar="KEY[=VALUE]", help="Override a secret. Repeatable.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def validate(files: tuple[str, ...], envs: tuple[str, ...], env_file: str | None, secrets: tuple[str, ...],
             output: str) -> int:
    """Check task YAMLs the way launch would, without touching any cloud.

    Exit 0 when every file is valid, 1 otherwise. Errors read FILE:LINE:COL: field: message.
    """
    from skyc.compiler.envs import parse_env_pairs
    from skyc.compiler.spec import load_tasks
    from skyc.errors import SpecError

    env_overrides = parse_env_pairs(envs, flag="--env")
    secret_overrides = parse_env_pairs(secrets, flag="--secret")
    results = []
    for path in files:
        try:
            tasks = load_tasks(path, env_overrides=env_overrides, env_file=env_file,
                               secret_overrides=secret_overrides)
            results.append({"file": path, "valid": True, "errors": [],
                            "warnings": [w for t in tasks for w in t.warnings],
                            "tasks": [t.redacted() for t in tasks]})
        except SpecError as e:
            results.append({"file": path, "valid": False, "errors": [i.to_json() for i in e.issues],
                            "warnings": [], "tasks": [], "_issues": e.issues})
    ok = all(r["valid"] for r in results)
    if output == "json":
        click.echo(json.dumps([{k: v for k, v in r.items() if k != "_issues"} for r in results], indent=2))
        return 0 if ok else 1
    for r in results:
        if r["valid"]:
            n = len(r["tasks"])
            click.echo(f"{r['file']}: ok ({n} task{'s' if n != 1 else ''})")
            for w in r["warnings"]:
                click.echo(f"{r['file']}: warning: {w}")
        else:
            for issue in r["_issues"]:
                if issue.file is None:
                    issue.file = r["file"]
                click.echo(issue.format())
    return 0 if ok else 1


@click.command("schema")
def schema() -> int:
    """Print the JSON schema of a task YAML document (for editors)."""
    from skyc.compiler.spec import json_schema

    click.echo(json.dumps(json_schema(), indent=2))
    return 0
