"""Cluster SSH key pairs under `$SKYC_HOME/keys/` (0600): per cluster, the user key skyc logs in
with, and the host key its cloud nodes present (pinned by the runtime: no trust on first use)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

from skyc import paths
from skyc.errors import MissingDependencyError, ProviderError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def check_name(name: str, what: str = "cluster") -> str:
    """A name used as a path component and a Pulumi stack name must be plain."""
    if not _SAFE_NAME.match(name or ""):
        raise ProviderError(
            f"invalid {what} name {name!r}: use letters, digits, '.', '_' or '-' (at most 63, not starting with a symbol)"
        )
    return name


def ssh_keygen() -> str:
    exe = shutil.which("ssh-keygen")
    if not exe:
        raise MissingDependencyError("ssh-keygen not found: install the Debian package openssh-client")
    return exe


def generate(path: Path, comment: str = "skyc") -> None:
    """Write an ed25519 key pair at `path` and `path.pub` (no passphrase, 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    for p in (tmp, tmp.with_name(tmp.name + ".pub")):
        p.unlink(missing_ok=True)
    subprocess.run(
        [ssh_keygen(), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(tmp)],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.chmod(tmp, 0o600)
    # Rename the public half first: a reader that finds the private key also finds the public one.
    os.replace(tmp.with_name(tmp.name + ".pub"), path.with_name(path.name + ".pub"))
    os.replace(tmp, path)


def cluster_key(cluster: str) -> tuple[Path, str]:
    """(private key path, public key line) of the cluster's login key, created on first use."""
    return _pair(cluster, cluster, f"skyc-{cluster}")


def _pair(cluster: str, name: str, comment: str) -> tuple[Path, str]:
    check_name(cluster)
    private = paths.keys_dir() / name
    public = private.with_name(name + ".pub")
    if not (private.exists() and public.exists()):
        from skyc.stacks.lock import FileLock

        paths.keys_dir().mkdir(parents=True, exist_ok=True)
        os.chmod(paths.keys_dir(), 0o700)
        with FileLock(paths.keys_dir() / f".{cluster}.lock"):  # concurrent first operations
            if not (private.exists() and public.exists()):
                generate(private, comment=comment)
    return private, public.read_text().strip()


def cluster_host_key(cluster: str) -> tuple[str, str]:
    """(private key text, public key line) that the cluster's VMs and pods use as their SSH host
    key, created on first use: it reaches the nodes in their (secret) bootstrap data."""
    private, public = _pair(cluster, f"{cluster}.host", f"skyc-{cluster}-host")
    return private.read_text(), public


def remove_cluster_key(cluster: str) -> None:
    keys = paths.keys_dir()
    for name in (cluster, f"{cluster}.pub", f"{cluster}.host", f"{cluster}.host.pub", f".{cluster}.lock"):
        (keys / name).unlink(missing_ok=True)


def fingerprint(public_key: str) -> str:
    """OpenSSH SHA256 fingerprint of a public key line ("ssh-ed25519 AAAA... comment")."""
    blob = base64.b64decode(public_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
