"""Helpers shared by the cloud, Kubernetes and SSH-pool providers (no Pulumi imports here).

Ports, disk tiers, cost tags, node names, node bootstrap scripts and catalog look-ups: each
provider module maps these onto its own cloud's resources.
"""

from __future__ import annotations

import csv
import importlib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from skyc.errors import MissingDependencyError, ProviderError, SpecError, SpecIssue
from skyc.stacks.base import StackSpec

DISK_TIERS = ("low", "medium", "high", "ultra", "best")
# Shown in place of the cluster key when a plan is rendered before the key exists.
PLACEHOLDER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderClusterKeyCreatedAtApplyTime skyc"
PLACEHOLDER_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderHostKeyOfTheClusterCreatedAtApply skyc-host"
PLACEHOLDER_HOST_PRIVATE = "(the cluster's private host key, created at apply time)"


def field_error(field: str, message: str) -> SpecError:
    """A plan-time error naming the task field at fault."""
    return SpecError(SpecIssue(message, field=field))


def require_sdk(module: str, extra: str):
    """Import a provider's Pulumi SDK or explain which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"the Python package {module} is missing: install skyc[{extra}]") from None


def node_names(num_nodes: int) -> list[str]:
    """Rank 0 is the head, as in SkyPilot."""
    return ["head"] + [f"worker{i}" for i in range(1, num_nodes)]


def parse_ports(ports: list[str]) -> list[tuple[int, int]]:
    """`["8080", "9000-9010"]` -> [(8080, 8080), (9000, 9010)], each port 1..65535."""
    out: list[tuple[int, int]] = []
    for raw in ports:
        for part in str(raw).split(","):
            m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
            lo, hi = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else (0, -1)
            if not m or not (1 <= lo <= hi <= 65535):
                raise field_error("resources.ports", f"invalid port or range {part.strip()!r}: use 1-65535, e.g. 8080 or 8000-8010")
            out.append((lo, hi))
    return sorted(set(out))


def port_strings(ports: list[str]) -> list[str]:
    return [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in parse_ports(ports)]


def disk_tier(spec: StackSpec, supported: dict[str, Any], cloud: str) -> str:
    """The spec's disk tier (unset = medium, `best` = the highest the cloud has)."""
    tier = (spec.disk_tier or "medium").lower()
    if tier == "best":
        tier = next(t for t in ("ultra", "high", "medium", "low") if t in supported)
    if tier not in supported:
        known = ", ".join(t for t in DISK_TIERS if t in supported or t == "best")
        raise field_error("resources.disk_tier", f"disk tier {spec.disk_tier!r} is not available on {cloud}; choose one of: {known}")
    return tier


def check_disk_size(spec: StackSpec, minimum: int = 10) -> None:
    if spec.disk_size < minimum:
        raise field_error("resources.disk_size", f"disk_size {spec.disk_size} GB is below the minimum of {minimum} GB")


def ssh_user(spec: StackSpec, default: str) -> str:
    return spec.ssh_user or default


def public_key(spec: StackSpec) -> str:
    return (spec.ssh_public_key or PLACEHOLDER_KEY).strip()


def cost_tags(spec: StackSpec) -> dict[str, str]:
    """Tags every resource carries: the user's labels plus the cluster and its price."""
    tags = dict(spec.labels)
    tags["skyc-cluster"] = spec.stack
    tags["skyc-kind"] = spec.kind
    price = spec.options.get("hourly_price")
    if price is not None:
        tags["skyc-hourly-price"] = f"{float(price):.4f}"
    return tags


def host_key(spec: StackSpec) -> tuple[str, str]:
    """(private key text, public line) the nodes present as their SSH host key: the cluster's own
    once the engine has filled `spec.ssh_host_key`, placeholders in an offline render."""
    if not spec.ssh_host_key:
        return PLACEHOLDER_HOST_PRIVATE, PLACEHOLDER_HOST_KEY
    from skyc.stacks.keys import cluster_host_key

    return cluster_host_key(spec.stack)


def secret_bootstrap(spec: StackSpec, value: str) -> Any:
    """Bootstrap data that carries the real private host key is a Pulumi secret (encrypted in state)."""
    import pulumi

    return pulumi.Output.secret(value) if spec.ssh_host_key else value


def bootstrap_script(template: str, spec: StackSpec, user: str, **extra: Any) -> str:
    """Render a node bootstrap template (cloud-init user data or a startup script)."""
    from skyc import templating

    env = templating.environment()
    image = spec.image_id or ""
    host_private, host_public = host_key(spec)
    return env.get_template(template).render(
        spec=spec, user=user, public_key=public_key(spec), host_private=host_private.strip(), host_public=host_public,
        docker_image=container_image(image) if image.startswith("docker:") else "", **extra
    )


_CONTAINER_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$")


def container_image(image: str) -> str:
    """`docker:repo/name:tag` or `repo/name:tag` -> `repo/name:tag`, checked (it lands in scripts)."""
    name = image.removeprefix("docker:")
    if not _CONTAINER_IMAGE.match(name):
        raise field_error("resources.image_id", f"{image!r} is not a container image reference (e.g. docker:ubuntu:22.04)")
    return name


# The columns plan-time checks match on; each row keeps only these.
_KEY_COLUMNS = ("InstanceType", "AcceleratorName", "Region", "AvailabilityZone")


@lru_cache(maxsize=None)
def _catalog(catalog: str) -> dict[str, tuple[dict[str, str], ...]]:
    """Region -> rows of a bundled catalog (key columns only), kept pickled beside the catalog cache."""
    import pickle

    from skyc import paths

    path = Path(__file__).resolve().parent.parent / "compiler" / "catalog" / "data" / catalog / "vms.csv"
    if not path.exists():
        return {}
    st = path.stat()
    cache = paths.catalog_cache_dir() / f"rows-{catalog}-{st.st_size}-{st.st_mtime_ns}.pickle"
    try:
        with cache.open("rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError, TypeError):
        pass
    by_region: dict[str, list[dict[str, str]]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            by_region.setdefault(row.get("Region") or "", []).append({k: row.get(k) or "" for k in _KEY_COLUMNS})
    out = {region: tuple(rows) for region, rows in by_region.items()}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, cache)
    except OSError:
        pass  # only slower next time
    return out


def catalog_rows(catalog: str, **match: str) -> list[dict[str, str]]:
    """Rows of a bundled price catalog whose columns equal `match` (key columns; empty if no catalog)."""
    by_region = _catalog(catalog)
    pool = by_region.get(match["Region"], ()) if "Region" in match else [r for rows in by_region.values() for r in rows]
    return [r for r in pool if all(r.get(k) == v for k, v in match.items())]


def catalog_regions(catalog: str) -> set[str]:
    return set(_catalog(catalog))


def require_region(spec: StackSpec, cloud: str) -> str:
    if not spec.region:
        raise field_error("resources.infra", f"{cloud} needs a region, e.g. infra: {cloud.lower()}/<region>")
    return spec.region


def check_offered(catalog: str, cloud: str, spec: StackSpec, **match: str) -> None:
    """The instance type (or accelerator) must be offered in the region per the catalog."""
    if not _catalog(catalog) or spec.region not in catalog_regions(catalog):
        return  # a region the bundled catalog does not cover: the cloud itself will judge
    if not catalog_rows(catalog, Region=spec.region, **match):
        what = " ".join(f"{v}" for v in match.values())
        raise ProviderError(f"{cloud} region {spec.region} does not offer {what} (per the price catalog); choose another region")


def vm_node(spec: StackSpec, user: str, rank: int, private_ip: str, public_ip: str | None) -> dict[str, Any]:
    """One VM's inventory entry (sshd on port 22 with the cluster's host key, the spec's shape)."""
    return {
        "name": node_names(spec.num_nodes)[rank],
        "rank": rank,
        "private_ip": private_ip,
        "public_ip": public_ip or None,
        "ssh_port": 22,
        "ssh_user": user,
        "cpus": spec.cpus,
        "memory": spec.memory,
        "accelerators": {spec.accelerator_name: spec.accelerator_count} if spec.accelerator_name else {},
        "host_key": spec.ssh_host_key,
    }


def export_vm_inventory(spec: StackSpec, user: str, addresses: list[Any], tags: dict[str, str]) -> None:
    """Export the `inventory` output from one Output of (private ip, public ip) per node, in rank order."""
    import pulumi

    pulumi.export("inventory", pulumi.Output.all(*addresses).apply(
        lambda ips: {"nodes": [vm_node(spec, user, rank, priv, pub) for rank, (priv, pub) in enumerate(ips)], "tags": tags}))
