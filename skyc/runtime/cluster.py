"""The runtime facade: what the CLI calls to run work on a cluster described by an Inventory."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from skyc.errors import EXIT, JobError
from skyc.runtime import jobs, logs, sync
from skyc.runtime.connection import ConnectionPool
from skyc.stacks.base import Inventory

TERMINAL = ("SUCCEEDED", "FAILED", "FAILED_SETUP", "FAILED_DRIVER", "CANCELLED")


@dataclass
class JobSpec:
    """What the CLI hands the runtime for one job."""

    name: str | None
    run: str | None
    setup: str | None
    envs: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    num_nodes: int = 1
    accelerators: dict[str, float] = field(default_factory=dict)
    cpus: float = 0.5  # reserved per node by the scheduler
    cluster_name: str = ""
    cloud: str = "local"
    region: str | None = None
    zone: str | None = None
    run_setup: bool = True  # exec passes False
    username: str | None = None


def exit_code_for(status: str | None) -> int:
    """SkyPilot's `logs --status` codes: 0 / 100 / 101 / 102 / 103."""
    if status is None:
        return EXIT.JOB_NOT_FOUND
    if status == "SUCCEEDED":
        return EXIT.OK
    if status == "CANCELLED":
        return EXIT.JOB_CANCELLED
    if status.startswith("FAILED"):
        return EXIT.JOB_FAILED
    return EXIT.JOB_NOT_FINISHED


class ClusterRuntime:
    """Sync, submit, queue, logs and cancel on one cluster, over one pooled connection per node."""

    def __init__(self, inventory: Inventory):
        if not inventory.nodes:
            raise JobError(f"cluster {inventory.stack} has no nodes")
        self.inventory = inventory
        self.pool = ConnectionPool(inventory)
        self._installed = False

    # -- setup of the head

    @property
    def head(self):
        return self.pool.head()

    def install_agent(self) -> None:
        """Install the agent on the head (skipped when the installed one is current)."""
        jobs.install(self.head, self.inventory)
        self._installed = True

    def _agent(self, *args: str, stdin: bytes | None = None) -> Any:
        try:
            return jobs.call(self.head, *args, stdin=stdin)
        except jobs.AgentMissing:
            self.install_agent()
            return jobs.call(self.head, *args, stdin=stdin)

    # -- files

    def _opts(self) -> sync.SSHOptions:
        return self.pool.ssh_options()

    def sync_workdir(self, workdir: Any, *, mirror: bool = False, secrets: dict | None = None) -> None:
        """rsync a local dir (or clone {url, ref}) into ~/sky_workdir on every node. A clone
        authenticates with the task's GIT_TOKEN / GIT_SSH_KEY secrets when present."""
        checked = sync.check_workdir(workdir)
        if isinstance(checked, dict):
            secrets = secrets or {}
            auth = sync.git_auth_files(secrets.get("GIT_TOKEN"), secrets.get("GIT_SSH_KEY"))
            cmd = sync.git_checkout_command(checked["url"], checked.get("ref"), auth)
            for path, data in auth.items():
                self.pool.put_all(data, path, mode=0o600)
            for node, res in zip(self.inventory.nodes, self.pool.run_all(cmd)):
                if res.exit_code != 0:
                    err = res.stderr.decode(errors="replace").strip().splitlines()
                    cause = next((ln for ln in err if ln.startswith(("fatal:", "error:"))), err[-1] if err else "")
                    raise sync.SyncError(
                        f"git workdir {checked['url']} (ref {checked.get('ref') or 'HEAD'}) failed on node "
                        f"{node.name}: {cause or f'exit {res.exit_code}'}"
                    )
            return
        sync.sync_workdir(self._opts(), checked, mirror=mirror, compress=self.inventory.provider != "local")

    def sync_file_mounts(self, file_mounts: dict) -> None:
        if file_mounts:
            sync.sync_file_mounts(self._opts(), file_mounts, compress=self.inventory.provider != "local")

    # -- jobs

    def submit(self, job: JobSpec) -> int:
        if job.num_nodes > len(self.inventory.nodes):
            raise JobError(
                f"the job asks for {job.num_nodes} nodes; cluster {self.inventory.stack} has {len(self.inventory.nodes)}"
            )
        if not self._installed:
            self.install_agent()
        payload = {
            "name": job.name,
            "run": job.run,
            "setup": job.setup,
            "envs": {k: str(v) for k, v in job.envs.items()},
            "secrets": {k: str(v) for k, v in job.secrets.items()},
            "num_nodes": job.num_nodes,
            "accelerators": job.accelerators,
            "cpus": job.cpus,
            "run_setup": job.run_setup,
            "username": job.username or jobs.current_user(),
            "task_ts": jobs.task_timestamp(),
            "cluster": {
                "cluster_name": job.cluster_name or self.inventory.stack,
                "cloud": jobs.CLOUD_DISPLAY.get(job.cloud, job.cloud),
                "region": job.region,
                "zone": job.zone,
            },
        }
        # Secrets travel on stdin only: never on a command line, in a log or in the job table.
        res = self._agent("submit", stdin=json.dumps(payload).encode())
        if "error" in res:
            raise JobError(res["error"])
        return int(res["job_id"])

    def queue(self, *, all: bool = False) -> list[dict]:
        return self._agent("queue", *(["--all"] if all else []))

    def job(self, job_id: int | None = None) -> dict | None:
        return self._agent("status", *(["--job-id", str(job_id)] if job_id is not None else []))

    def job_status(self, job_id: int | None = None) -> str | None:
        row = self.job(job_id)
        return row["status"] if row else None

    def follow_logs(
        self,
        job_id: int | None = None,
        *,
        follow: bool = True,
        tail: int | None = None,
        out: BinaryIO | None = None,
    ) -> str | None:
        """Write the job's log to `out` (following until it ends); returns its final status."""
        out = out if out is not None else sys.stdout.buffer
        if job_id is None:
            row = self.job(None)
            if row is None:
                return None
            job_id = row["job_id"]
        if not logs.stream_log(self.head, job_id, out, follow=follow, tail=tail):
            return None
        return self.job_status(job_id)

    def cancel(self, job_ids: list[int] | None = None, *, all: bool = False) -> list[int]:
        args = ["cancel", *(str(j) for j in job_ids or [])] + (["--all"] if all else [])
        return self._agent(*args)

    def idle_seconds(self, wait_for: str | None = None) -> float:
        return float(self._agent("idle", *(["--wait-for", wait_for] if wait_for else []))["idle_seconds"])

    def set_autostop(self, idle_minutes: int, down: bool, wait_for: str) -> None:
        self._agent(
            "autostop", "set", "--idle-minutes", str(idle_minutes), *(["--down"] if down else []), "--wait-for", wait_for
        )

    def get_autostop(self) -> dict | None:
        return self._agent("autostop", "get")

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> ClusterRuntime:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["ClusterRuntime", "JobSpec", "exit_code_for", "TERMINAL"]
