"""Client side of the on-node agent: install it on the head, and call its commands (JSON out)."""

from __future__ import annotations

import base64
import datetime as _dt
import getpass
import hashlib
import json
import shlex
from typing import Any

from skyc.errors import JobError
from skyc.runtime.agent import REMOTE_DIR, REMOTE_SCRIPT, agent_source, agent_version
from skyc.runtime.connection import Connector, node_label
from skyc.stacks.base import Inventory

# The system interpreter when there is one: shims of Python version managers cost ~150 ms per call.
PYTHON3 = '"$([ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)"'
AGENT = f"{PYTHON3} ~/{REMOTE_SCRIPT}"
CLUSTER_KEY = ".skyc/cluster_key"
STAMP = f"{REMOTE_DIR}/VERSION"

# Display names SkyPilot prints in SKYPILOT_CLUSTER_INFO's "cloud".
CLOUD_DISPLAY = {"aws": "AWS", "gcp": "GCP", "azure": "Azure", "kubernetes": "Kubernetes", "local": "Local", "ssh": "SSH"}

# Writes {path: [mode, base64]} from stdin atomically, then initialises the agent: one round trip.
_UNPACK = (
    "import json,os,sys,base64\n"
    "for p,(m,b) in json.load(sys.stdin).items():\n"
    " p=os.path.expanduser(p);os.makedirs(os.path.dirname(p),exist_ok=True);t=p+'.tmp'\n"
    " fd=os.open(t,os.O_WRONLY|os.O_CREAT|os.O_TRUNC,m);os.write(fd,base64.b64decode(b));os.close(fd);os.chmod(t,m);os.replace(t,p)\n"
)


def cluster_document(inventory: Inventory) -> dict[str, Any]:
    """What the agent needs to know about the cluster (cluster.json on the head)."""
    return {
        "cluster_name": inventory.stack,
        "cloud": CLOUD_DISPLAY.get(inventory.provider, inventory.provider),
        "region": inventory.tags.get("region"),
        "zone": inventory.tags.get("zone"),
        "nodes": [
            {
                "rank": n.rank,
                "name": n.name,
                "ip": n.private_ip,
                "port": n.ssh_port,
                "user": n.ssh_user,
                "home": n.home,
                "cpus": n.cpus,
                "accelerators": n.accelerators,
                "env": n.env,
            }
            for n in inventory.nodes
        ],
    }


def install_files(inventory: Inventory) -> dict[str, tuple[int, bytes]]:
    """Files the head needs: the agent, the cluster document, the key and pinned keys of workers."""
    from skyc.sshconfig import known_hosts_line

    files: dict[str, tuple[int, bytes]] = {
        f"~/{REMOTE_SCRIPT}": (0o755, agent_source()),
        "~/.skyc/cluster.json": (0o644, json.dumps(cluster_document(inventory), indent=1).encode()),
        "~/.skyc/known_hosts": (0o644, "".join(known_hosts_line(n.address, n.ssh_port, n.host_key) for n in inventory.nodes[1:]).encode()),
    }
    if inventory.ssh_private_key and len(inventory.nodes) > 1:
        with open(inventory.ssh_private_key, "rb") as f:
            files[f"~/{CLUSTER_KEY}"] = (0o600, f.read())
    return files


def install_stamp(files: dict[str, tuple[int, bytes]]) -> str:
    """Agent version plus a hash of the cluster files: changes to either trigger a re-install."""
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode() + b"\0" + files[path][1] + b"\0")
    return f"{agent_version()}-{h.hexdigest()[:16]}"


def install(head: Connector, inventory: Inventory) -> bool:
    """Install or refresh the agent on the head; returns whether anything was written."""
    files = install_files(inventory)
    stamp = install_stamp(files)
    current = head.run(f"cat ~/{STAMP} 2>/dev/null || true").text.strip()
    if current == stamp:
        return False
    files[f"~/{STAMP}"] = (0o644, stamp.encode())  # last: a torn install is retried
    payload = json.dumps({p: [m, base64.b64encode(b).decode()] for p, (m, b) in files.items()}).encode()
    res = head.run(f"{PYTHON3} -c {shlex.quote(_UNPACK)} && {AGENT} init", stdin=payload)
    if res.exit_code != 0:
        raise JobError(
            f"cannot install the agent on node {node_label(head.node)}: "
            f"{res.stderr.decode(errors='replace').strip() or res.text.strip()}"
        )
    return True


def call(head: Connector, *args: str, stdin: bytes | None = None) -> Any:
    """Run one agent command on the head and decode its JSON answer."""
    cmd = " ".join([AGENT, *(shlex.quote(a) for a in args)])
    res = head.run(cmd, stdin=stdin)
    if res.exit_code != 0:
        err = res.stderr.decode(errors="replace").strip()
        if "No such file" in err and "skyc_agent" in err:
            raise AgentMissing(f"the agent is not installed on node {node_label(head.node)}")
        raise JobError(f"agent command {args[0]} failed on node {node_label(head.node)}: {err.splitlines()[-1] if err else res.exit_code}")
    try:
        return json.loads(res.stdout)
    except ValueError:
        raise JobError(f"agent command {args[0]} returned unreadable output: {res.text[:200]!r}") from None


class AgentMissing(JobError):
    """The head has no agent (a fresh node, or its home was wiped)."""


def task_timestamp(now: _dt.datetime | None = None) -> str:
    """`sky-<YYYY-MM-DD-HH-MM-SS-ffffff>`: the first part of SKYPILOT_TASK_ID."""
    return (now or _dt.datetime.now()).strftime("sky-%Y-%m-%d-%H-%M-%S-%f")


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return "unknown"
