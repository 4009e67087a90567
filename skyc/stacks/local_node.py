"""Local nodes: one real `sshd` per node, bound to its own loopback address 127.a.b.c.

Plain functions (no Pulumi): the `local` provider's dynamic resource calls them, and tests use
them directly. A node lives in `$SKYC_HOME/local/<cluster>/<node>/`, which is also its HOME;
sshd's own files sit in the hidden `.skyc-node/` inside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from skyc import paths
from skyc.errors import MissingDependencyError, ProviderError
from skyc.stacks.keys import check_name, fingerprint, generate
from skyc.stacks.lock import FileLock, pid_alive

DEFAULT_PORT = 2222
META = ".skyc-node"  # sshd config, host key, pidfile and log inside the node dir
ENV_MARKER = "SKYC_LOCAL_NODE"  # exported in every session; lets stop_node find the node's processes
_SFTP_SERVERS = ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server")


# ---------------------------------------------------------------- layout


def node_dir(cluster: str, node: str) -> Path:
    return paths.local_nodes_dir() / check_name(cluster) / check_name(node, "node")


def _meta(cluster: str, node: str) -> Path:
    return node_dir(cluster, node) / META


def current_user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def sshd_binary() -> str:
    for cand in (shutil.which("sshd"), "/usr/sbin/sshd"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise MissingDependencyError("sshd not found: install the Debian package openssh-server (apt-get install openssh-server)")


# ---------------------------------------------------------------- addresses


def _registry() -> Path:
    return paths.local_nodes_dir() / "addresses.json"


def _candidates():
    """Loopback addresses 127.a.b.c (a in 1..254, c in 2..254), starting at a point derived from
    SKYC_HOME so separate homes on one machine rarely probe the same addresses."""
    span = 254 * 256 * 253
    start = int(hashlib.sha256(str(paths.home()).encode()).hexdigest(), 16) % span
    for i in range(span):
        k = (start + i) % span
        a, rest = divmod(k, 256 * 253)
        b, c = divmod(rest, 253)
        yield f"127.{a + 1}.{b}.{c + 2}"


def port_free(address: str, port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR like sshd: TIME_WAIT leftovers do not count, a live listener does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def allocate_address(cluster: str, node: str, port: int = DEFAULT_PORT) -> str:
    """The node's loopback address: stable for (cluster, node), unique within this SKYC_HOME,
    and free on this machine when first handed out. Safe against concurrent allocators."""
    key = f"{check_name(cluster)}/{check_name(node, 'node')}"
    with FileLock(paths.local_nodes_dir() / ".addresses.lock"):
        try:
            table: dict[str, str] = json.loads(_registry().read_text())
        except (OSError, ValueError):
            table = {}
        if key in table:
            return table[key]
        taken = set(table.values())
        for addr in _candidates():
            if addr not in taken and port_free(addr, port):
                table[key] = addr
                tmp = _registry().with_suffix(".tmp")
                tmp.write_text(json.dumps(table, indent=1, sort_keys=True))
                os.replace(tmp, _registry())
                return addr
    raise ProviderError("no free loopback address left for a local node")


def release_address(cluster: str, node: str) -> None:
    key = f"{cluster}/{node}"
    with FileLock(paths.local_nodes_dir() / ".addresses.lock"):
        try:
            table = json.loads(_registry().read_text())
        except (OSError, ValueError):
            return
        if table.pop(key, None) is not None:
            tmp = _registry().with_suffix(".tmp")
            tmp.write_text(json.dumps(table, indent=1, sort_keys=True))
            os.replace(tmp, _registry())


# ---------------------------------------------------------------- resources


def host_gpus() -> list[str]:
    """GPU model names from nvidia-smi, [] when there is none."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def node_resources(rank: int = 0, num_nodes: int = 1) -> dict[str, Any]:
    """The host's CPUs and memory; GPUs split between the nodes (CUDA_VISIBLE_DEVICES)."""
    gpus = host_gpus()
    res: dict[str, Any] = {"cpus": float(os.cpu_count() or 1), "memory": _memory_gib(), "accelerators": {}, "env": {}}
    if gpus and num_nodes > 0:
        per = len(gpus) // num_nodes
        mine = list(range(rank * per, rank * per + per))
        if mine:
            name = gpus[mine[0]].replace("NVIDIA ", "").split()[0]
            res["accelerators"] = {name: float(len(mine))}
            res["env"] = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, mine))}
    return res


# ---------------------------------------------------------------- processes


def _sshd_pid(cluster: str, node: str) -> int | None:
    """Pid of the node's listening sshd if running (checked against its config path: no pid reuse)."""
    meta = _meta(cluster, node)
    try:
        pid = int((meta / "sshd.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    # sshd rewrites its title ("sshd: /usr/sbin/sshd -f <config> [listener] ..."): match a substring.
    if str(meta / "sshd_config").encode() not in b" ".join(cmdline) or not pid_alive(pid):
        return None
    return pid


def node_alive(cluster: str, node: str) -> bool:
    return _sshd_pid(cluster, node) is not None


def _node_processes(cluster: str, node: str, sshd_pid: int | None) -> list[int]:
    """Pids of the node's sshd, its connection handlers (descendants) and every process started
    in its sessions, even daemons re-parented away (they carry the env marker)."""
    marker = f"{ENV_MARKER}={node_dir(cluster, node)}".encode()
    config = str(_meta(cluster, node) / "sshd_config").encode()  # an sshd whose pidfile was lost
    me = os.getpid()
    children: dict[int, list[int]] = {}
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(pid)
            if config in (entry / "cmdline").read_bytes() or marker in (entry / "environ").read_bytes().split(b"\0"):
                found.add(pid)
        except (OSError, IndexError, ValueError):
            continue
    todo = list(found) + ([sshd_pid] if sshd_pid else [])
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    found.discard(sshd_pid or -1)
    return sorted(found)


def _kill_and_wait(pids: list[int], timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 5)
        while time.monotonic() < deadline:
            pids = [p for p in pids if pid_alive(p)]
            if not pids:
                return
            time.sleep(0.02)


def stop_node(cluster: str, node: str, timeout: float = 5.0) -> bool:
    """Stop the node's sshd and every process of its sessions, like powering a VM off.
    Returns whether anything was running. The node dir is kept."""
    pid = _sshd_pid(cluster, node)
    pids = ([pid] if pid else []) + _node_processes(cluster, node, pid)
    _kill_and_wait(pids, timeout)
    (_meta(cluster, node) / "sshd.pid").unlink(missing_ok=True)
    return bool(pids)


def remove_node(cluster: str, node: str) -> None:
    """Stop the node, delete its directory and release its address."""
    stop_node(cluster, node)
    shutil.rmtree(node_dir(cluster, node), ignore_errors=True)
    release_address(cluster, node)
    cdir = paths.local_nodes_dir() / cluster
    try:
        cdir.rmdir()  # only when it was the last node
    except OSError:
        pass


def cluster_nodes(cluster: str) -> list[str]:
    """Node dirs present for a cluster (recorded in state or not)."""
    cdir = paths.local_nodes_dir() / check_name(cluster)
    return sorted(p.name for p in cdir.iterdir() if (p / META).is_dir()) if cdir.is_dir() else []


def sweep_cluster(cluster: str) -> list[str]:
    """Remove every node of a cluster found on disk, e.g. one created by an interrupted `up`."""
    nodes = cluster_nodes(cluster)
    for node in nodes:
        remove_node(cluster, node)
    shutil.rmtree(paths.local_nodes_dir() / cluster, ignore_errors=True)
    return nodes


# ---------------------------------------------------------------- start


def _sftp_server() -> str | None:
    return next((p for p in _SFTP_SERVERS if os.access(p, os.X_OK)), None)


def _session_script(home: Path, env: dict[str, str]) -> str:
    exports = "".join(f"export {k}={_shq(v)}\n" for k, v in sorted(env.items()))
    sftp = _sftp_server()
    # ForceCommand also wraps subsystem requests: serve sftp from the node's home.
    sftp_case = f'if [ "$SSH_ORIGINAL_COMMAND" = internal-sftp ]; then exec {_shq(sftp)}; fi\n' if sftp else ""
    return (
        "#!/bin/bash\n"
        f"export HOME={_shq(str(home))}\n"
        f"export {ENV_MARKER}={_shq(str(home))}\n"
        f"{exports}"
        'cd "$HOME" || exit 1\n'
        f"{sftp_case}"
        'if [ -n "$SSH_ORIGINAL_COMMAND" ]; then exec /bin/bash -c "$SSH_ORIGINAL_COMMAND"; fi\n'
        "exec /bin/bash -l\n"
    )


def _shq(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def _sshd_config(meta: Path, address: str, port: int, force_command: Path) -> str:
    return "\n".join(
        [
            f"ListenAddress {address}",
            f"Port {port}",
            f"HostKey {meta / 'ssh_host_ed25519_key'}",
            f"AuthorizedKeysFile {meta / 'authorized_keys'}",
            f"PidFile {meta / 'sshd.pid'}",
            "UsePAM no",
            "StrictModes no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            f"AllowUsers {current_user()}",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "MaxStartups 100:30:200",
            "MaxSessions 50",
            "ClientAliveInterval 30",
            "AllowTcpForwarding yes",
            "Subsystem sftp internal-sftp",
            # sshd runs ForceCommand through the user's shell, which (bash started by sshd) reads
            # ~/.bashrc of the real home first: ~0.2 s per command on a machine with pyenv & co.
            f'SetEnv "HOME={meta.parent}"',
            "PermitUserRC no",
            f"ForceCommand {force_command}",
            "",
        ]
    )


def _write_atomic(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)


def _launch_sshd(sshd: str, config: Path, log: Path, cluster: str, node: str, timeout: float) -> None:
    # sshd daemonizes; its own session keeps it alive when the caller's process group is killed.
    proc = subprocess.run(
        [sshd, "-f", str(config), "-E", str(log)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise ProviderError(f"sshd for node {cluster}/{node} failed to start: {proc.stderr.strip() or _tail(log)}")


def _listeners(cluster: str, node: str) -> list[int]:
    """sshd processes still showing the node's config path (listeners, pre-auth handlers)."""
    config = str(_meta(cluster, node) / "sshd_config").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if config in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _wait_listening(address: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def start_node(
    cluster: str,
    node: str,
    address: str,
    public_key: str,
    *,
    port: int = DEFAULT_PORT,
    rank: int = 0,
    num_nodes: int = 1,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Create (or restart) the node and return its facts: name, address, port, user, home,
    host_key, host_key_fingerprint, pid, cpus, memory, accelerators, env.
    Idempotent: the host key and address survive a stop/start."""
    sshd = sshd_binary()
    home = node_dir(cluster, node)
    meta = home / META
    meta.mkdir(parents=True, exist_ok=True)
    host_key = meta / "ssh_host_ed25519_key"
    if not host_key.exists():
        generate(host_key, comment=f"{cluster}-{node}")
    # Written atomically: a running sshd reads these on every new connection.
    _write_atomic(meta / "authorized_keys", public_key.strip() + "\n", 0o600)
    res = node_resources(rank, num_nodes)
    script = meta / "session.sh"
    _write_atomic(script, _session_script(home, res["env"]), 0o755)
    config = meta / "sshd_config"
    text = _sshd_config(meta, address, port, script)
    try:
        unchanged = config.read_text() == text
    except OSError:
        unchanged = False
    _write_atomic(config, text, 0o644)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege-separation dir

    running = _sshd_pid(cluster, node)
    if not (running and unchanged):
        # Replace only the listener (a leftover of an interrupted run, or an old config):
        # sessions and the jobs they started keep running, as on a VM whose sshd restarts.
        _kill_and_wait(_listeners(cluster, node) + ([running] if running else []), timeout)
        _launch_sshd(sshd, config, meta / "sshd.log", cluster, node, timeout)
    if not _wait_listening(address, port, timeout):
        stop_node(cluster, node)
        raise ProviderError(f"sshd for node {cluster}/{node} is not listening on {address}:{port}: {_tail(meta / 'sshd.log')}")
    deadline = time.monotonic() + timeout
    while (pid := _sshd_pid(cluster, node)) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    host_pub = (meta / "ssh_host_ed25519_key.pub").read_text().strip()
    host_pub = " ".join(host_pub.split()[:2])
    return {
        "name": node,
        "address": address,
        "port": port,
        "user": current_user(),
        "home": str(home),
        "host_key": host_pub,
        "host_key_fingerprint": fingerprint(host_pub),
        "pid": pid,
        **res,
    }


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text().strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def node_info(facts: dict[str, Any], rank: int) -> dict[str, Any]:
    """Facts from `start_node` as `NodeInfo` fields."""
    return {
        "name": facts["name"],
        "rank": rank,
        "private_ip": facts["address"],
        "ssh_port": int(facts["port"]),
        "ssh_user": facts["user"],
        "host_key": facts.get("host_key"),
        "home": facts.get("home"),
        "cpus": facts.get("cpus"),
        "memory": facts.get("memory"),
        "accelerators": facts.get("accelerators") or {},
        "env": facts.get("env") or {},
    }
