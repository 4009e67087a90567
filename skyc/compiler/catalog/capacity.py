"""Offers of infra skyc does not buy: this machine (`local`), SSH node pools and Kubernetes.

All cost nothing per hour. They advertise what a node can hold; the optimizer fits a request
into it (see `Offer.capacity`). Nothing here touches the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from skyc.compiler.catalog.offers import Offer


def _meminfo_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        return None
    return None


def local_gpus() -> dict[str, int]:
    """GPU name -> count from `nvidia-smi` when present ({} otherwise)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return {}
    try:
        out = subprocess.run([exe, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    counts: dict[str, int] = {}
    for line in out.splitlines():
        name = _gpu_name(line)
        if name:
            counts[name] = counts.get(name, 0) + 1
    return counts


def _gpu_name(line: str) -> str | None:
    """`NVIDIA A100-SXM4-80GB` -> `A100-80GB`, `Tesla T4` -> `T4`, `NVIDIA H100 80GB HBM3` -> `H100`."""
    text = line.strip().replace("NVIDIA", "").replace("Tesla", "").replace("GeForce", "").strip()
    if not text:
        return None
    head = text.split()[0]
    base = head.split("-")[0]
    if "80GB" in text and base == "A100":
        return "A100-80GB"
    return base


def local_offers() -> list[Offer]:
    """One offer per local node: the whole machine (nodes share it)."""
    cpus = float(os.cpu_count() or 1)
    mem = _meminfo_gib()
    gpus = local_gpus()
    if not gpus:
        return [Offer("local", "local", None, 0.0, cpus, mem, 0.0, None, None, None, capacity=True)]
    out = [Offer("local", "local", name, float(n), cpus, mem, 0.0, None, None, None, capacity=True)
           for name, n in sorted(gpus.items())]
    return out + [Offer("local", "local", None, 0.0, cpus, mem, 0.0, None, None, None, capacity=True)]


def ssh_offers() -> list[Offer]:
    """One offer per pool in `$SKYC_HOME/ssh_node_pools.yaml`; region = pool name, capacity unknown."""
    from skyc.stacks import ssh_pool

    # Pool hardware is not described in the pool file: the pool owner knows which GPUs are there,
    # so a pool takes any accelerator request ("*") and the runtime finds out.
    return [Offer("ssh", f"ssh-{name}", "*", 0.0, None, None, 0.0, None, name, None, capacity=True,
                  max_nodes=len(pool.hosts))
            for name, pool in sorted(ssh_pool.load_pools().items())]


def unknown_offer(cloud: str) -> Offer:
    """Infra assumed by an offline review but not configured here (no kube config, no pool
    file): serves only tasks that name that cloud, with whatever they ask for."""
    itype = "pod" if cloud == "kubernetes" else "ssh-node"
    rates = kubernetes_rates(None) if cloud == "kubernetes" else None
    return Offer(cloud, itype, "*", 0.0, None, None, 0.0, None, "*", None, capacity=True, rates=rates)


def kubernetes_rates(context: str | None) -> tuple | None:
    """`kubernetes.pricing` for a context (`context_configs.<ctx>.pricing` over the global one):
    `{cpu: $/h per vCPU, memory: $/h per GiB, accelerators: {H100: $/h per GPU}}`; None = free."""
    from skyc.stacks.kubernetes import context_setting

    pricing = context_setting(context, "pricing")
    if not isinstance(pricing, dict):
        return None
    gpus = pricing.get("accelerators") or {}
    try:
        return (float(pricing.get("cpu") or 0), float(pricing.get("memory") or 0),
                tuple(sorted((str(k), float(v)) for k, v in (gpus.items() if isinstance(gpus, dict) else []))))
    except (TypeError, ValueError):
        from skyc.errors import SpecError

        raise SpecError("kubernetes.pricing: cpu, memory and accelerators.<GPU> must be numbers ($/h)",
                        file="config.yaml") from None


def kubernetes_offers(contexts: list[str | None]) -> list[Offer]:
    """Per context: a pod of unknown CPU/memory capacity, plus GPU pods where the config
    `kubernetes: {gpus: {NAME: count}}` (or `context_configs.<ctx>.gpus`) declares them (GPUs
    cannot be discovered offline); priced by `kubernetes.pricing`, else $0."""
    from skyc.stacks.kubernetes import context_setting

    out: list[Offer] = []
    for ctx in contexts or [None]:
        rates = kubernetes_rates(ctx)
        out.append(Offer("kubernetes", "pod", None, 0.0, None, None, 0.0, None, ctx, None, capacity=True, rates=rates))
        gpus = context_setting(ctx, "gpus") or {}
        if isinstance(gpus, dict):
            for name, count in sorted(gpus.items()):
                try:
                    n = float(count)
                except (TypeError, ValueError):
                    continue
                out.append(Offer("kubernetes", "pod", str(name), n, None, None, 0.0, None, ctx, None, capacity=True,
                                 rates=rates))
    return out
