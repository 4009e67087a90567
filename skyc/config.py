"""User configuration: `$SKYC_HOME/config.yaml`, a plain YAML mapping (all keys optional).

Known keys: `backend_url`, `allowed_infra`, `aws.ssh_cidr`, `kubernetes.ssh_access`,
`kubernetes.gpus`, `ssh_config` (false disables writing ~/.ssh/config entries).
"""

from __future__ import annotations

from typing import Any

from skyc import paths
from skyc.errors import SpecError


def load() -> dict[str, Any]:
    """The config mapping ({} when the file is absent)."""
    path = paths.config_file()
    if not path.exists():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise SpecError(f"cannot parse config: {e}", file=str(path)) from None
    if not isinstance(data, dict):
        raise SpecError("config must be a YAML mapping", file=str(path))
    return data


def get(dotted: str, default: Any = None) -> Any:
    """`get("aws.ssh_cidr")` -> nested value or default."""
    node: Any = load()
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node
