"""The embedded `local` provider: each node is a real sshd on its own loopback address.

Nodes are Pulumi dynamic resources whose provider class is pickled *by reference* into the
stack state: `skyc.stacks.local.LocalNodeProvider` must stay importable at this path forever
(leave a shim here if it moves), or existing stacks can no longer be destroyed.
"""

from __future__ import annotations

import shutil
from typing import Any, Callable

from skyc.errors import MissingDependencyError
from skyc.stacks.base import (
    CredentialReport,
    Provider,
    StackSpec,
    SupportsMultiNode,
    SupportsPorts,
    SupportsStopStart,
)

# Inputs whose change needs a new node (a different directory); the rest are updated in place.
_REPLACE_KEYS = ("cluster", "node")
_INPUT_KEYS = ("cluster", "node", "public_key", "port", "rank", "num_nodes", "stopped")


def node_names(num_nodes: int) -> list[str]:
    """Rank 0 is the head, as in SkyPilot."""
    return ["head"] + [f"worker{i}" for i in range(1, num_nodes)]


def _require_tools() -> None:
    from skyc.stacks.local_node import sshd_binary

    sshd_binary()
    if not shutil.which("rsync"):
        raise MissingDependencyError("rsync not found: install the Debian package rsync (apt-get install rsync)")


def _make_provider_class():
    import pulumi.dynamic as dyn

    from skyc.stacks import local_node

    class LocalNodeProvider(dyn.ResourceProvider):
        """create/read/update/delete of one local node; runs inside the dynamic-provider plugin."""

        serialize_as_secret_always = False  # nothing secret inside: keep the state readable

        def _start(self, props: dict[str, Any]) -> dict[str, Any]:
            cluster, node = props["cluster"], props["node"]
            address = local_node.allocate_address(cluster, node, int(props["port"]))
            if props.get("stopped"):
                local_node.node_dir(cluster, node).mkdir(parents=True, exist_ok=True)
                local_node.stop_node(cluster, node)
                facts = {"name": node, "address": address, "port": int(props["port"]), "user": local_node.current_user(),
                         "home": str(local_node.node_dir(cluster, node)), "host_key": None}
            else:
                facts = local_node.start_node(
                    cluster,
                    node,
                    address,
                    props["public_key"],
                    port=int(props["port"]),
                    rank=int(props["rank"]),
                    num_nodes=int(props["num_nodes"]),
                )
            facts["running"] = not props.get("stopped")
            return {k: props[k] for k in _INPUT_KEYS} | {"facts": facts, "running": facts["running"]}

        def create(self, props):
            outs = self._start(props)
            return dyn.CreateResult(id_=f"{props['cluster']}/{props['node']}", outs=outs)

        def diff(self, _id, olds, news):
            changed = [k for k in _INPUT_KEYS if olds.get(k) != news.get(k)]
            return dyn.DiffResult(
                changes=bool(changed),
                replaces=[k for k in changed if k in _REPLACE_KEYS],
                delete_before_replace=True,
            )

        def update(self, _id, olds, news):
            if news.get("stopped") and not olds.get("stopped"):
                local_node.stop_node(news["cluster"], news["node"])
                facts = {**(olds.get("facts") or {}), "running": False, "pid": None}
                return dyn.UpdateResult(outs={k: news[k] for k in _INPUT_KEYS} | {"facts": facts, "running": False})
            return dyn.UpdateResult(outs=self._start(news))

        def read(self, id_, props):
            cluster, node = props.get("cluster"), props.get("node")
            if not cluster or not node or not local_node.node_dir(cluster, node).is_dir():
                return dyn.ReadResult(id_="", outs={})
            alive = local_node.node_alive(cluster, node)
            if not alive and not props.get("stopped"):
                return dyn.ReadResult(id_="", outs={})  # the node is gone: refresh drops it, `up` recreates it
            return dyn.ReadResult(id_=id_, outs=props)

        def delete(self, _id, props):
            local_node.remove_node(props["cluster"], props["node"])

    LocalNodeProvider.__module__ = __name__
    LocalNodeProvider.__qualname__ = "LocalNodeProvider"
    return LocalNodeProvider


def __getattr__(name: str):
    # Built on first access so that importing this module (e.g. for `skyc status`) stays free of pulumi.
    if name == "LocalNodeProvider":
        cls = _make_provider_class()
        globals()[name] = cls
        return cls
    if name == "LocalNode":
        cls = _make_resource_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def _make_resource_class():
    import pulumi
    import pulumi.dynamic as dyn

    provider_cls = globals().get("LocalNodeProvider") or __getattr__("LocalNodeProvider")

    class LocalNode(dyn.Resource):
        facts: pulumi.Output[dict]
        running: pulumi.Output[bool]

        def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
            super().__init__(provider_cls(), name, {**props, "facts": None, "running": None}, opts)

    LocalNode.__module__ = __name__
    LocalNode.__qualname__ = "LocalNode"
    return LocalNode


class LocalProvider(Provider, SupportsStopStart, SupportsMultiNode, SupportsPorts):
    name = "local"
    display_name = "Local"
    catalog = None
    python_package = None

    def check_credentials(self) -> CredentialReport:
        try:
            _require_tools()
        except MissingDependencyError as e:
            return CredentialReport(enabled=False, reason=str(e))
        return CredentialReport(enabled=True, reason="sshd and rsync found; nodes run on this machine")

    def program(self, spec: StackSpec) -> Callable[[], None]:
        _require_tools()
        port = int(spec.options.get("port", 2222))

        def run() -> None:
            import pulumi

            resource_cls = globals().get("LocalNode") or __getattr__("LocalNode")
            nodes = [
                resource_cls(
                    name,
                    {
                        "cluster": spec.stack,
                        "node": name,
                        "public_key": spec.ssh_public_key or "",
                        "port": port,
                        "rank": rank,
                        "num_nodes": spec.num_nodes,
                        "stopped": spec.stopped,
                    },
                )
                for rank, name in enumerate(node_names(spec.num_nodes))
            ]
            pulumi.export("inventory", pulumi.Output.all(*[n.facts for n in nodes]).apply(_inventory_output))

        return run

    def cleanup(self, stack: str) -> None:
        """After destroy: stop and remove any node of the cluster still on disk."""
        from skyc.stacks.local_node import sweep_cluster

        sweep_cluster(stack)


def _inventory_output(all_facts: list[dict]) -> dict:
    from skyc.stacks.local_node import node_info

    return {"nodes": [node_info(facts, rank) for rank, facts in enumerate(all_facts)]}
