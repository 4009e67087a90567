"""Enabled infra: registered providers whose credentials are present (no network), narrowed by
`allowed_infra` in `$SKYC_HOME/config.yaml` (SkyPilot's `allowed_clouds`). Local is always on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skyc.errors import SpecError


@dataclass
class InfraStatus:
    name: str
    display_name: str
    enabled: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    allowed: bool = True


def allowed_infra() -> set[str] | None:
    """Clouds allowed by config (None = no restriction)."""
    from skyc import config
    from skyc.compiler.infra import canonical_cloud

    value = config.get("allowed_infra")
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise SpecError("allowed_infra must be a list of clouds, e.g. [aws, local]", file="config.yaml")
    out = set()
    for v in value:
        try:
            out.add(canonical_cloud(str(v).split("/")[0]))
        except ValueError as e:
            raise SpecError(f"allowed_infra: {e}", file="config.yaml") from None
    return out


def check(offline: bool = False) -> list[InfraStatus]:
    """Status of every registered provider. `offline`: as if every one had credentials (CI
    reviews have no cloud secrets); allowed_infra still applies."""
    from skyc.stacks import registry

    allowed = allowed_infra()
    out = []
    for name in registry.names():
        provider = registry.get(name)
        try:
            report = provider.check_credentials()
            enabled, reason, details = report.enabled, report.reason, report.details
        except Exception as e:  # noqa: BLE001 - a broken check disables that provider only
            enabled, reason, details = False, f"credential check failed: {e}", {}
        if offline and not enabled:
            enabled, reason = True, "assumed (--offline)"
        if name == "local":
            enabled = True  # always on: a missing sshd/rsync is reported when a node starts
        is_allowed = allowed is None or name in allowed
        out.append(InfraStatus(name, provider.display_name, enabled and is_allowed,
                               reason if is_allowed else "not in allowed_infra (config.yaml)", details, is_allowed))
    return out


def enabled_set(statuses: list[InfraStatus]) -> set[str]:
    return {s.name for s in statuses if s.enabled}


def capacity_offers(statuses: list[InfraStatus]) -> list:
    """Offers of the enabled capacity infra (local, ssh pools, kubernetes contexts)."""
    from skyc.compiler.catalog import capacity

    on = {s.name: s for s in statuses if s.enabled}
    out = []
    if "local" in on:
        out += capacity.local_offers()
    if "ssh" in on:
        try:
            pools = capacity.ssh_offers()
        except Exception:  # noqa: BLE001 - a bad pool file is reported by `skyc check`, not here
            pools = []
        out += pools or ([capacity.unknown_offer("ssh")] if on["ssh"].reason.endswith("(--offline)") else [])
    if "kubernetes" in on:
        contexts = on["kubernetes"].details.get("contexts")
        if contexts:
            out += capacity.kubernetes_offers(list(contexts))
        else:
            out.append(capacity.unknown_offer("kubernetes"))
    return out
