"""Run by the SkyPilot peer interpreter (see skypilot_peer.py), never imported by skyc: load a task
YAML and run SkyPilot's optimizer on it, as `sky launch` does before provisioning.

    python skypilot_optimize.py TASK.yaml aws,gcp,azure

HOME must hold the catalogs under ~/.sky/catalogs/<version>/<cloud>/vms.csv (SkyPilot cannot fetch
them here); the named clouds are marked enabled, as `sky check` would with credentials. Prints the
chosen resources and the hourly cost.
"""

import sys


def main() -> None:
    from sky import check as sky_check
    from sky import global_user_state, optimizer
    from sky.clouds import cloud as sky_cloud
    from sky.utils import dag_utils, registry

    path, clouds = sys.argv[1], sys.argv[2].split(",")
    workspace = "default"
    global_user_state.set_allowed_clouds(sky_check._get_workspace_allowed_clouds(workspace), workspace)
    enabled = [str(registry.CLOUD_REGISTRY.from_str(c)) for c in clouds]
    global_user_state.set_enabled_clouds(enabled, sky_cloud.CloudCapability.COMPUTE, workspace)
    dag = dag_utils.load_chain_dag_from_yaml(path)
    optimizer.Optimizer.optimize(dag, quiet=True)
    task = dag.tasks[0]
    best = task.best_resources
    print(f"RESULT {best} ${best.get_cost(3600) * task.num_nodes:.2f}/h")


if __name__ == "__main__":
    main()
