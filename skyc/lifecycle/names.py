"""Cluster name rules (SkyPilot's), checked before a name reaches a shell, a path or a stack."""

from __future__ import annotations

import getpass
import re
import secrets

from skyc.errors import SkycError

_NAME = re.compile(r"^[a-zA-Z]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$")
MAX_LEN = 63  # one DNS label


class InvalidClusterNameError(SkycError):
    """The cluster name breaks the naming rule."""


def check_cluster_name(name: str) -> str:
    if not name or len(name) > MAX_LEN or not _NAME.match(name):
        raise InvalidClusterNameError(
            f"invalid cluster name {name!r}: start with a letter, then letters, digits, '-', '_' or '.', "
            f"ending with a letter or digit (at most {MAX_LEN} characters)"
        )
    return name


def generate_cluster_name() -> str:
    """`sky-<4 hex>-<user>` as SkyPilot; the user part is cleaned to fit the rule."""
    user = re.sub(r"[^a-zA-Z0-9]", "", getpass.getuser()).lower()[:20] or "user"
    return f"sky-{secrets.token_hex(2)}-{user}"
