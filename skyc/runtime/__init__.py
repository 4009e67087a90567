"""Inventory -> running work over SSH.

    cluster.py     ClusterRuntime / JobSpec / exit_code_for: the facade the CLI calls
    connection.py  Connector interface and its fabric.Connection implementation; one pooled connection
                   per node, fan-out to every node (ThreadingGroup), tunnels
    pinned.py      Fabric connections that trust only pinned host keys; shared jump-host connections
    runner.py      Fabric's Remote runner with the changes the measurements asked for
    tunnel.py      a local port forwarded to a node's port (Fabric's TunnelManager)
    sync.py        workdir (rsync or git) and file_mounts, over ssh with pinned host keys and jump hosts
    jobs.py        installs the on-node agent on the head and calls its commands
    logs.py        follows a job's log, resuming by byte offset after a dropped connection
    agent/         the standard-library-only agent run on the head: job table, scheduler, drivers
"""
