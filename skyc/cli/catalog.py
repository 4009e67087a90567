"""`skyc gpus list`, `skyc catalog update` and `skyc check`."""

from __future__ import annotations

import json

import click

from skyc.cli.options import output_option

from skyc.errors import UsageError


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), *(line(r) for r in rows)])


def _money(v) -> str:
    return "-" if v is None else f"$ {v:,.3f}"


def _num(v) -> str:
    if v is None:
        return "-"
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


@click.group("gpus")
def gpus() -> None:
    """Accelerators in the price catalog."""


@gpus.command("list")
@click.argument("accelerator", required=False)
@click.option("--infra", help="Only this cloud[/region].")
@click.option("--all-regions", is_flag=True, help="One row per region (needs ACCELERATOR).")
@output_option
def gpus_list(accelerator: str | None, infra: str | None, all_regions: bool, output: str) -> int:
    """List accelerators (NAME[:COUNT]) with the cheapest on-demand and spot price per cloud."""
    from skyc.compiler.catalog import load_catalog
    from skyc.compiler.catalog.gpus import list_gpus, summary
    from skyc.compiler.infra import parse_infra

    if all_regions and not accelerator:
        raise UsageError("--all-regions needs an accelerator name, e.g. `skyc gpus list H100 --all-regions`")
    name, count = None, None
    if accelerator:
        name, _, c = accelerator.partition(":")
        if c:
            try:
                count = float(c)
            except ValueError:
                raise UsageError(f"bad accelerator count in {accelerator!r}; use NAME:COUNT, e.g. H100:8") from None
    cloud = region = None
    if infra:
        try:
            cloud, region, _ = parse_infra(infra)
        except ValueError as e:
            raise UsageError(f"--infra: {e}") from None
    catalog = load_catalog()
    if name:
        canonical = catalog.canonical_accelerator(name)
        if canonical is None:
            import difflib

            close = difflib.get_close_matches(name, sorted(set(catalog.accelerator_names.values())), n=3, cutoff=0.5)
            raise UsageError(f"unknown accelerator {name!r}" + (f"; did you mean {', '.join(close)}?" if close else ""))
        name = canonical
    listing = list_gpus(catalog, name, count, cloud=cloud, region=region, all_regions=all_regions)
    if output == "json":
        click.echo(json.dumps(listing, indent=2))
        return 0
    if not listing:
        click.echo("No matching accelerators in the catalog.")
        return 0
    if not name:
        rows = [[s["accelerator"], s["counts"], _money(s["cheapest_per_device"]), s["clouds"]]
                for s in summary(listing, _cloud_label)]
        click.echo(_table(["ACCELERATOR", "COUNTS", "CHEAPEST/DEVICE/H", "CLOUDS"], rows))
        _footnote(listing)
        return 0
    for acc, items in listing.items():
        rows = [[_cloud_label(r["cloud"]), r["instance_type"], f"{acc}:{_num(r['accelerator_count'])}", _num(r["cpu_count"]),
                 _num(r["memory"]), _money(r["price"]), _money(r["spot_price"]), r["region"] or "-"] for r in items]
        click.echo(_table(["CLOUD", "INSTANCE_TYPE", "ACCELERATORS", "vCPUs", "MEM(GiB)", "$/H", "SPOT $/H",
                           "REGION" if all_regions else "CHEAPEST REGION"], rows))
    _footnote(listing)
    return 0


def _cloud_label(cloud: str) -> str:
    from skyc.compiler.optimizer import provisionable

    return cloud if provisionable(cloud) else f"{cloud}*"


def _footnote(listing: dict) -> None:
    from skyc.compiler.optimizer import provisionable

    if any(not provisionable(r["cloud"]) for items in listing.values() for r in items):
        click.echo("\n* listed to compare prices: skyc cannot provision this cloud yet, so plans never choose it")


@click.group("catalog")
def catalog() -> None:
    """Manage the price catalog."""


@catalog.command("update")
@click.option("--from", "src", required=True, type=click.Path(file_okay=False),
              help="Directory with <cloud>/vms.csv files in the catalog's format.")
def catalog_update(src: str) -> int:
    """Replace catalog CSVs with newer ones (validated first; an invalid file replaces nothing)."""
    from skyc import paths
    from skyc.compiler.catalog.update import update_from

    installed = update_from(src)
    for cloud, n in installed.items():
        click.echo(f"{cloud}: {n} rows")
    click.echo(f"Catalog updated under {paths.catalog_dir()} ({len(installed)} cloud(s)).")
    return 0


@catalog.command("reset")
def catalog_reset() -> int:
    """Drop `catalog update` overrides and use the bundled catalog again."""
    from skyc.compiler.catalog.update import reset

    removed = reset()
    click.echo(f"Removed overrides for: {', '.join(removed)}" if removed else "No overrides; using the bundled catalog.")
    return 0


@click.command("check")
@output_option
@click.option("--offline", is_flag=True, help="Show what planning with --offline assumes.")
def check(output: str, offline: bool) -> int:
    """Which infra is enabled (credentials found, no network calls) and how to enable the rest."""
    from skyc.compiler.enabled import check as check_infra

    statuses = check_infra(offline)
    if output == "json":
        click.echo(json.dumps({"default": {s.name: ["compute"] for s in statuses if s.enabled}}, indent=2))
        return 0
    for s in statuses:
        mark = "enabled " if s.enabled else "disabled"
        click.echo(f"  {s.display_name:<11} {mark}  {s.reason}")
    on = [s.display_name for s in statuses if s.enabled]
    click.echo(f"\nEnabled infra: {', '.join(on) if on else 'none'}")
    return 0
