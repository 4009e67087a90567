"""Cluster lifecycle as library calls (compile, provision, launch/exec, stop/start/down, jobs);
the CLI and `skyc apply` stay thin on top of these modules."""
