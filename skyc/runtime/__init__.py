"""Inventory -> running work over SSH.

    cluster.py     ClusterRuntime / JobSpec / exit_code_for: the facade the CLI calls
    connection.py  Connector interface and the Paramiko implementation; one pooled connection per node
    sync.py        workdir (rsync or git) and file_mounts, over ssh with pinned host keys
    jobs.py        installs the on-node agent on the head and calls its commands
    logs.py        follows a job's log, resuming by byte offset after a dropped connection
    agent/         the standard-library-only agent run on the head: job table, scheduler, drivers
"""
