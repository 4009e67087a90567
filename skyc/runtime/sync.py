"""Workdir and file_mounts: real rsync over ssh with the cluster key, to every node in parallel.

Host keys are pinned through a known_hosts file written from the inventory, jump hosts included
(ProxyJump through Host entries of their own); ssh connections are multiplexed (ControlMaster) so
repeated syncs skip the handshake. Like SkyPilot, a workdir sync is
additive (no --delete) unless mirroring is asked for.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable

from skyc import paths, sshconfig
from skyc.compiler.sources import bucket_source
from skyc.errors import MissingDependencyError, NodeConnectionError, ProviderError, SkycError, SpecError
from skyc.stacks.base import Inventory, NodeInfo

REMOTE_WORKDIR = "sky_workdir"  # relative to the node's home
CONTROL_PERSIST_S = 120


class SyncError(SkycError):
    """rsync to a node failed for a reason other than SSH."""


class SSHOptions:
    """The `ssh` command line (key, pinned host keys, multiplexing, jump hosts) for one inventory."""

    def __init__(self, inventory: Inventory):
        self.inventory = inventory
        missing = [n.name for n in inventory.nodes if not n.host_key]
        missing += [f"jump host {g.label}" for g in sshconfig.jump_hosts(inventory.nodes) if not g.host_key]
        if missing:
            raise NodeConnectionError(
                f"node(s) {', '.join(missing)} of {inventory.stack} have no pinned host key; refusing to trust on first use"
            )
        base = paths.ssh_dir() / inventory.stack
        base.mkdir(parents=True, exist_ok=True)
        self.known_hosts = base / "known_hosts"
        _write_if_changed(self.known_hosts, sshconfig.known_hosts_text(inventory.nodes))
        # Jump hosts get Host entries of their own: options on ssh's command line reach only the
        # target, so the hops' key and pinned host keys must come from a config file (-F).
        entries, self._jump = sshconfig.jump_host_entries(
            inventory.nodes, "jump", self.known_hosts, inventory.ssh_private_key,
            ("GlobalKnownHostsFile /dev/null", "BatchMode yes", "ConnectTimeout 10", "ServerAliveInterval 15", "LogLevel ERROR"),
        )
        self.config = base / "ssh_config"
        if entries:
            _write_if_changed(self.config, "\n".join(entries))
        self.control_dir = _control_dir(base)

    def ssh_args(self, node: NodeInfo) -> list[str]:
        args = [
            "ssh",
            "-i", str(self.inventory.ssh_private_key),
            "-p", str(node.ssh_port),
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "ConnectTimeout=10",
            "-o", "ServerAliveInterval=15",
            "-o", "LogLevel=ERROR",
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={self.control_dir}/%C",
            "-o", f"ControlPersist={CONTROL_PERSIST_S}",
        ]  # fmt: skip
        if node.proxy_command:
            args += ["-o", f"ProxyCommand={node.proxy_command}"]
        if node.name in self._jump:
            args += ["-F", str(self.config), "-o", f"ProxyJump={self._jump[node.name]}"]
        return args

    def rsh(self, node: NodeInfo) -> str:
        """The -e argument of rsync."""
        return " ".join(shlex.quote(a) for a in self.ssh_args(node))

    def target(self, node: NodeInfo, remote_path: str) -> str:
        return f"{node.ssh_user}@{node.address}:{remote_path}"

    def close(self) -> None:
        """Stop the multiplexing masters this inventory started (no process is left behind)."""
        for node in self.inventory.nodes:
            subprocess.run(
                self.ssh_args(node) + ["-O", "exit", f"{node.ssh_user}@{node.address}"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=10,
            )
        if not str(self.control_dir).startswith(str(paths.home())):
            try:
                self.control_dir.rmdir()  # the short temp fallback, once empty
            except OSError:
                pass


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, path)


def _control_dir(base: Path) -> Path:
    """Unix socket paths are limited to ~104 bytes and ssh adds 41 (%C) + 17 (temp suffix):
    fall back to a short private temp dir."""
    d = base / "cm"
    if len(str(d)) > 44:
        digest = hashlib.sha256(str(base).encode()).hexdigest()[:12]
        d = Path(tempfile.gettempdir()) / f"skyc-cm-{os.getuid()}-{digest}"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def rsync_binary() -> str:
    exe = shutil.which("rsync")
    if not exe:
        raise MissingDependencyError("rsync not found: install the rsync package (apt-get install rsync)")
    return exe


def ignore_filters(workdir: Path) -> list[str]:
    """SkyPilot's rules: .skyignore at the root if present, else every .gitignore plus .git/info/exclude."""
    sky = workdir / ".skyignore"
    if sky.is_file():
        return [f"--exclude-from={sky}"]
    filters = ["--filter=dir-merge,- .gitignore"]
    exclude = workdir / ".git" / "info" / "exclude"
    if exclude.is_file():
        filters.append(f"--exclude-from={exclude}")
    return filters


# ssh's own words when it never reached the node (through a jump host rsync exits 12, not 255).
_SSH_FAILURES = ("Host key verification failed", "kex_exchange_identification", "Connection closed by",
                 "Connection refused", "Connection timed out", "No route to host", "Permission denied (publickey")


def rsync(opts: SSHOptions, node: NodeInfo, src: str, dst: str, extra: list[str] = (), *, compress: bool = False) -> None:
    cmd = [rsync_binary(), "-a", *(["-z"] if compress else []), *extra, "-e", opts.rsh(node), src, opts.target(node, dst)]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode == 0:
        return
    err = [line for line in proc.stderr.strip().splitlines() if not line.startswith("rsync error:")]
    cause = " ".join(err[-2:]) if err else f"exit {proc.returncode}"
    if proc.returncode == 255 or any(m in proc.stderr for m in _SSH_FAILURES):
        raise NodeConnectionError(f"rsync to node {node.name} ({node.address}:{node.ssh_port}) failed: {cause}")
    raise SyncError(f"rsync of {src} to node {node.name}:{dst} failed: {cause}")


def parallel(nodes: list[NodeInfo], fn) -> None:
    """Run fn(node) on every node at once; raise the first error (by rank)."""
    if len(nodes) == 1:
        fn(nodes[0])
        return
    with ThreadPoolExecutor(max_workers=min(16, len(nodes))) as pool:
        futures = [pool.submit(fn, n) for n in nodes]
    for f in futures:
        f.result()


def check_workdir(workdir: Any) -> Path | dict:
    """Validate a workdir before anything runs: an existing directory, or {url, ref}."""
    if hasattr(workdir, "model_dump"):  # the task's git form
        workdir = workdir.model_dump(exclude_none=True)
    if isinstance(workdir, dict):
        if not workdir.get("url"):
            raise SpecError("workdir: the git form needs a `url` (and optionally a `ref`)")
        return workdir
    path = Path(os.path.expanduser(str(workdir))).absolute()
    if not path.is_dir():
        raise SpecError(f"workdir {workdir} does not exist or is not a directory")
    return path


def sync_workdir(opts: SSHOptions, workdir: Path, *, mirror: bool = False, compress: bool = False) -> None:
    extra = ignore_filters(workdir) + (["--delete"] if mirror else [])
    parallel(
        opts.inventory.nodes,
        lambda n: rsync(opts, n, f"{workdir}/", f"{REMOTE_WORKDIR}/", extra, compress=compress),
    )


GIT_SSH_KEY_FILE = ".skyc/git_ssh_key"
GIT_AUTH_CONFIG = ".skyc/git_auth.gitconfig"


def git_auth_files(token: str | None, ssh_key: str | None) -> dict[str, bytes]:
    """Files (0600, under the node's home) that let a clone authenticate without the secret
    appearing on a command line: the SSH key, and a git config sending the token as a header."""
    files = {}
    if ssh_key:
        files[GIT_SSH_KEY_FILE] = ssh_key.rstrip("\n").encode() + b"\n"
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        files[GIT_AUTH_CONFIG] = f"[http]\n\textraHeader = Authorization: Basic {basic}\n".encode()
    return files


def git_checkout_command(url: str, ref: str | None, auth: Iterable[str] = ()) -> str:
    """Shell run on each node: clone (or update) the repo in ~/sky_workdir and check out `ref`,
    authenticating with the `git_auth_files` named in `auth`, which are removed afterwards."""
    q = shlex.quote
    env = ""
    if GIT_SSH_KEY_FILE in auth:
        # The git host is the user's, not a cluster node: its key is learnt on first use.
        env += (f'export GIT_SSH_COMMAND="ssh -i $HOME/{GIT_SSH_KEY_FILE} -o IdentitiesOnly=yes '
                '-o StrictHostKeyChecking=accept-new -o BatchMode=yes"; ')
    if GIT_AUTH_CONFIG in auth:
        env += f'export GIT_CONFIG_GLOBAL="$HOME/{GIT_AUTH_CONFIG}"; '
    head = (
        f"mkdir -p ~/{REMOTE_WORKDIR} && cd ~/{REMOTE_WORKDIR} && "
        "{ git rev-parse --git-dir >/dev/null 2>&1 || git init -q; } && "
        f"{{ git remote set-url origin {q(url)} 2>/dev/null || git remote add origin {q(url)}; }} && "
    )
    if ref:
        body = head + (
            "git fetch -q --force --tags origin '+refs/heads/*:refs/remotes/origin/*' && "
            f"rev=$(git rev-parse -q --verify {q('origin/' + ref + '^{commit}')} || git rev-parse -q --verify {q(ref + '^{commit}')}) && "
            'git checkout -q --force --detach "$rev"'
        )
    else:
        body = head + "git fetch -q --force origin HEAD && git checkout -q --force --detach FETCH_HEAD"
    if not auth:
        return body
    cleanup = " ".join(q(f) for f in sorted(auth))
    return f"{env}( {body} ); rc=$?; cd && rm -f {cleanup}; exit $rc"


def git_envs(workdir: dict) -> dict[str, str]:
    """Envs SkyPilot adds for a git workdir: GIT_URL and one of GIT_COMMIT_HASH/GIT_TAG/GIT_BRANCH."""
    env = {"GIT_URL": workdir["url"]}
    ref = workdir.get("ref")
    if ref:
        is_hash = len(ref) >= 7 and all(c in "0123456789abcdef" for c in ref.lower())
        env["GIT_COMMIT_HASH" if is_hash else "GIT_BRANCH"] = ref
    return env


def sync_file_mounts(opts: SSHOptions, file_mounts: dict, *, compress: bool = False) -> None:
    """Copy local files/dirs to their remote paths on every node; bucket URIs are refused."""
    inv = opts.inventory
    plan: list[tuple[str, str, Path]] = []
    for dst, src in file_mounts.items():
        shown = bucket_source(src)
        if shown is not None:
            raise ProviderError(
                f"file_mounts {dst}: bucket storage ({shown}) is not supported on infra {inv.provider}; "
                "use a local path (skyc mounts no buckets yet)"
            )
        path = Path(os.path.expanduser(str(src))).absolute()
        if not path.exists():
            raise SpecError(f"file_mounts {dst}: local source {src} does not exist")
        remote = str(dst)
        if remote.startswith("~/"):
            remote = remote[2:]  # rsync paths are relative to the node's home
        plan.append((str(dst), remote, path))

    for dst, remote, path in plan:
        # Local nodes share the host's filesystem: an absolute path is the same file on every node.
        nodes = inv.nodes[:1] if (inv.provider == "local" and os.path.isabs(remote)) else inv.nodes
        parent = os.path.dirname(remote.rstrip("/")) or "."
        mkdir = ["--rsync-path", f"mkdir -p {shlex.quote(parent)} && rsync"]
        src = f"{path}/" if path.is_dir() else str(path)
        target = f"{remote.rstrip('/')}/" if path.is_dir() else remote
        parallel(nodes, lambda n, s=src, t=target: rsync(opts, n, s, t, mkdir, compress=compress))
