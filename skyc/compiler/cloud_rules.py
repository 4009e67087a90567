"""Checks of one resources candidate against the price catalogs and the providers' own rules, as
launch would make them, so `validate` reports them before anything is planned.

Catalog-grounded (every catalog the loader provides): the instance type, region and zone exist on
the named cloud, the zone lies in the region, a zone is not given where a region belongs (or the
other way round), clouds without zones get none, cpus/memory agree with a named instance type.
With no cloud named, the cloud is inferred from the one catalog that knows the names given; several
is ambiguous. Per cloud, the provider answers for labels and images (`label_problem`, `image_problem`).
"""

from __future__ import annotations

import difflib
import fnmatch
from typing import Callable

from skyc.compiler.catalog.offers import count_str
from skyc.compiler.infra import CLOUDS
from skyc.compiler.resources import Resources

Report = Callable[[str, str], None]  # (field of the candidate, message)
_WILDCARD = "*?["
_CATALOG_HINT = " (skyc places what its price catalog lists; `skyc catalog update` brings newer rows)"


def _pattern(value: str) -> bool:
    return any(ch in value for ch in _WILDCARD)


def _hits(pattern: str, names) -> list[str]:  # noqa: ANN001 - any iterable of str
    if _pattern(pattern):
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return [n for n in names if n == pattern]


def _suggest(value: str, names, what: str) -> str:  # noqa: ANN001 - names, or a dict of key -> spelling
    shown = names if isinstance(names, dict) else {n: n for n in names}
    close = difflib.get_close_matches(value, list(shown), n=3, cutoff=0.6)
    if close:
        return "; did you mean " + " or ".join(repr(shown[c]) for c in sorted(close)) + "?"
    few = sorted(shown.values())[:8]
    return f"; {what}: {', '.join(few)}{', ...' if len(shown) > len(few) else ''}" if few else ""


def _region_hits(n, region: str) -> list[str]:  # noqa: ANN001 - CloudNames
    return _hits(region.lower(), n.regions)


def _zone_hits(n, zone: str) -> list[str]:  # noqa: ANN001
    return _hits(zone, n.zones) if n.zonal else []


def _infer_cloud(r: Resources, names: dict, report: Report) -> Resources:
    given = [(what, value, test) for what, value, test in (
        ("instance type", r.instance_type, lambda n, v: v in n.instance_types),
        ("region", r.region, lambda n, v: bool(_region_hits(n, v))),
        ("zone", r.zone, lambda n, v: bool(_zone_hits(n, v))),
    ) if value]
    if not given:
        return r
    clouds: set[str] | None = None
    found: list[tuple[str, str, set[str]]] = []
    for what, value, test in given:
        on = {c for c, n in names.items() if test(n, value)}
        if not on:
            field = "instance_type" if what == "instance type" else "infra"
            every = set().union(*(getattr(n, {"instance type": "instance_types", "region": "regions",
                                               "zone": "zones"}[what]) for n in names.values()))
            hint = "" if what == "instance type" else (
                "; a Kubernetes context or SSH pool is named as infra: k8s/<context> or ssh/<pool>")
            hint = hint or _CATALOG_HINT
            report(field, f"no price catalog has {what} {value!r}{_suggest(value, every, 'known')}{hint}")
            return r
        found.append((what, value, on))
        clouds = on if clouds is None else clouds & on
    assert clouds is not None
    field = "instance_type" if [w for w, _, _ in found] == ["instance type"] else "infra"
    if not clouds:
        parts = "; ".join(f"{what} {value!r} is on {', '.join(sorted(on))}" for what, value, on in found)
        report(field, f"no single cloud has all of these: {parts}")
        return r
    if len(clouds) > 1:
        what, value, _ = found[0]
        report(field, f"{what} {value!r} is ambiguous: clouds {', '.join(sorted(clouds))} all have it; name the "
                      f"cloud, e.g. infra: {sorted(clouds)[0]}/...")
        return r
    return r.model_copy(update={"cloud": next(iter(clouds))})


def _check_place(r: Resources, n, report: Report) -> Resources:  # noqa: ANN001 - CloudNames
    cloud, region, zone = r.cloud, r.region, r.zone
    if zone and not n.zonal:
        report("infra", f"{cloud} has no zones; drop the zone (infra: {cloud}/{region or '<region>'})")
        zone = None
    if region:
        hits = _region_hits(n, region)
        if not hits:
            if region in n.zones:
                report("infra", f"{region!r} is a zone, not a region; write infra: {cloud}/{n.zones[region]}/{region}")
            else:
                report("infra", f"{cloud} has no region {region!r}{_suggest(region.lower(), n.regions, 'regions')}")
            region = zone = None
        elif not _pattern(region):
            region = n.regions[hits[0]]
    if zone:
        hits = _zone_hits(n, zone)
        in_region = [z for z in n.zones if region and n.zones[z] == region]
        if not hits:
            if zone.lower() in n.regions:
                report("infra", f"{zone!r} is a region, not a zone; write infra: {cloud}/{n.regions[zone.lower()]}"
                                f"{' (or add one of its zones)' if n.zonal else ''}")
            else:
                where = f" in region {region}" if in_region else ""
                report("infra", f"{cloud} has no zone {zone!r}{where}"
                                f"{_suggest(zone, in_region or n.zones, 'zones' + where)}")
        elif region and not _pattern(region) and all(n.zones[z] != region for z in hits):
            theirs = n.zones[hits[0]]
            report("infra", f"zone {zone!r} is in region {theirs}, not {region}; write infra: "
                            f"{cloud}/{theirs}/{zone}, or a zone of {region}")
        elif not region and not _pattern(zone):
            region = n.zones[zone]
    if r.instance_type and r.instance_type not in n.instance_types:
        report("instance_type", f"{cloud} has no instance type {r.instance_type!r}"
                                f"{_suggest(r.instance_type, n.instance_types, 'known')}{_CATALOG_HINT}")
    elif r.instance_type:
        _check_shape(r, n.shapes.get(r.instance_type, (None, None)), report)
    return r.model_copy(update={"region": region or r.region, "zone": zone or r.zone})


def _check_shape(r: Resources, shape: tuple[float | None, float | None], report: Report) -> None:
    """cpus/memory given next to an instance type must describe it (SkyPilot's rule)."""
    for field, want, at_least, have, unit in (("cpus", r.cpus, r.cpus_at_least, shape[0], "vCPUs"),
                                             ("memory", r.memory, r.memory_at_least, shape[1], "GiB memory")):
        if want is None or have is None:
            continue
        ok = have + 1e-9 >= want if at_least else abs(have - want) < 1e-6
        if not ok:
            need = f"{count_str(want)}{'+' if at_least else ''}"
            report(field, f"{r.instance_type} has {count_str(have)} {unit}, not {need}; drop {field} or pick "
                          "another instance type")


def _provider_rules(r: Resources, report: Report) -> None:
    from skyc.stacks import registry

    if r.cloud is not None and r.cloud not in registry.PROVIDERS:
        return  # no provider: planning says so
    # No cloud named: labels must suit every provider the candidate may land on, as SkyPilot checks
    # them against every enabled cloud; the first provider that refuses a label says why.
    providers = [registry.get(r.cloud)] if r.cloud else [registry.get(n) for n in registry.names()]
    for key, value in r.labels.items():
        for p in providers:
            why = p.label_problem(key, value)
            if why:
                report("labels", f"label {key}: {value!r} is not valid on {p.display_name}: {why}")
                break
    if r.cloud and r.image_id:
        why = providers[0].image_problem(r.image_id)
        if why:
            report("image_id", why)


def check_candidate(r: Resources, report: Report) -> Resources:
    """`r` with its cloud inferred and region spelled as the catalog does; problems go to `report`."""
    from skyc.compiler.catalog.names import catalog_names

    names = {c: n for c, n in catalog_names().items() if c in CLOUDS}  # a catalog of no known cloud names nothing
    if r.cloud is None:
        r = _infer_cloud(r, names, report)
    if r.cloud in names:
        r = _check_place(r, names[r.cloud], report)
    _provider_rules(r, report)
    return r
