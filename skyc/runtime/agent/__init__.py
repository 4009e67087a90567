"""The on-node agent: a standard-library-only script installed on a cluster's head node.

`skyc_agent.py` is copied as-is; the client never imports it at runtime (tests do, for its pure
functions). Installs are stamped with a hash of its content, so re-install is skipped when current.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

AGENT_FILE = Path(__file__).with_name("skyc_agent.py")
REMOTE_DIR = ".skyc/agent"  # relative to the node's home
REMOTE_SCRIPT = f"{REMOTE_DIR}/skyc_agent.py"


@lru_cache(maxsize=1)
def agent_source() -> bytes:
    return AGENT_FILE.read_bytes()


@lru_cache(maxsize=1)
def agent_version() -> str:
    """Content hash of the agent: a changed agent is re-installed, an unchanged one is not."""
    return hashlib.sha256(agent_source()).hexdigest()[:16]
