"""Cluster SSH key pairs: one ed25519 pair per cluster under `$SKYC_HOME/keys/` (0600)."""

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
    """(private key path, public key line) of the cluster, created on first use."""
    check_name(cluster)
    private = paths.keys_dir() / cluster
    public = private.with_name(cluster + ".pub")
    if not (private.exists() and public.exists()):
        from skyc.stacks.lock import FileLock

        paths.keys_dir().mkdir(parents=True, exist_ok=True)
        os.chmod(paths.keys_dir(), 0o700)
        with FileLock(paths.keys_dir() / f".{cluster}.lock"):  # concurrent first operations
            if not (private.exists() and public.exists()):
                generate(private, comment=f"skyc-{cluster}")
    return private, public.read_text().strip()


def remove_cluster_key(cluster: str) -> None:
    private = paths.keys_dir() / cluster
    for p in (private, private.with_name(cluster + ".pub"), private.with_name(f".{cluster}.lock")):
        p.unlink(missing_ok=True)


def fingerprint(public_key: str) -> str:
    """OpenSSH SHA256 fingerprint of a public key line ("ssh-ed25519 AAAA... comment")."""
    blob = base64.b64decode(public_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
