"""SSH node pools: clusters on existing machines. Each node is a Pulumi dynamic resource that
claims a free host of the pool, checks it over SSH and authorises the cluster key there;
deleting it removes the key, cleans the host's `~/.skyc` and releases the claim.

`skyc.stacks.ssh.SSHPoolNodeProvider` is pickled by reference into stack state: keep it
importable at this path (leave a shim if it moves), or existing stacks cannot be destroyed.
"""

from __future__ import annotations

from typing import Any, Callable

from skyc.errors import NodeConnectionError, ProviderError
from skyc.stacks import common, ssh_pool
from skyc.stacks.base import CredentialReport, Provider, StackSpec, SupportsMultiNode

_INPUT_KEYS = ("cluster", "node", "rank", "pool", "hosts", "public_key")
_REPLACE_KEYS = ("cluster", "node", "pool", "public_key")


def _make_provider_class():
    import pulumi.dynamic as dyn

    class SSHPoolNodeProvider(dyn.ResourceProvider):
        """create/diff/update/delete of one claimed pool host; runs in the dynamic-provider plugin."""

        serialize_as_secret_always = False

        def create(self, props):
            facts = ssh_pool.claim_host(props["pool"], props["hosts"], props["cluster"], props["node"], props["public_key"])
            outs = {k: props[k] for k in _INPUT_KEYS} | {"facts": facts}
            return dyn.CreateResult(id_=f"{props['cluster']}/{props['node']}", outs=outs)

        def diff(self, _id, olds, news):
            changed = [k for k in _INPUT_KEYS if olds.get(k) != news.get(k)]
            return dyn.DiffResult(
                changes=bool(changed), replaces=[k for k in changed if k in _REPLACE_KEYS], delete_before_replace=True
            )

        def update(self, _id, olds, news):
            # Only the pool's host list changed: the node keeps the host it holds.
            return dyn.UpdateResult(outs={k: news[k] for k in _INPUT_KEYS} | {"facts": olds.get("facts")})

        def delete(self, _id, props):
            facts = props.get("facts") or {}
            host = facts.get("host")
            try:
                if host:
                    ssh_pool.release_host(host, props["cluster"])
            except NodeConnectionError:
                # An unreachable host is released anyway: its key line is useless once the
                # cluster key is deleted, and keeping the claim would strand the host.
                pass
            finally:
                ssh_pool.release(props["cluster"], props["node"])

    SSHPoolNodeProvider.__module__ = __name__
    SSHPoolNodeProvider.__qualname__ = "SSHPoolNodeProvider"
    return SSHPoolNodeProvider


def _make_resource_class():
    import pulumi
    import pulumi.dynamic as dyn

    provider_cls = globals().get("SSHPoolNodeProvider") or __getattr__("SSHPoolNodeProvider")

    class SSHPoolNode(dyn.Resource):
        facts: pulumi.Output[dict]

        def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
            super().__init__(provider_cls(), name, {**props, "facts": None}, opts)

    SSHPoolNode.__module__ = __name__
    SSHPoolNode.__qualname__ = "SSHPoolNode"
    return SSHPoolNode


def __getattr__(name: str):
    # Built on first access so that importing this module stays free of pulumi.
    factories = {"SSHPoolNodeProvider": _make_provider_class, "SSHPoolNode": _make_resource_class}
    if name in factories:
        cls = factories[name]()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


class SSHProvider(Provider, SupportsMultiNode):
    name = "ssh"
    display_name = "SSH"
    catalog = None
    python_package = None

    def check_credentials(self) -> CredentialReport:
        pools = ssh_pool.load_pools()
        if not pools:
            return CredentialReport(enabled=False, reason=f"no SSH node pools: list your machines in {ssh_pool.pool_file()}")
        missing = [
            f"{name}: {h['identity_file']}"
            for name, pool in pools.items()
            for h in pool.resolved()
            if h["identity_file"] and not __import__("os").path.exists(h["identity_file"])
        ]
        if missing:
            return CredentialReport(enabled=False, reason=f"identity files not found: {', '.join(sorted(set(missing)))}")
        return CredentialReport(
            enabled=True,
            reason=f"pools: {', '.join(pools)}",
            details={name: len(pool.hosts) for name, pool in pools.items()},
        )

    def _pool(self, spec: StackSpec) -> tuple[str, list[dict[str, Any]]]:
        pools = ssh_pool.load_pools()
        name = ssh_pool.pool_name(spec.region)
        if name is None:
            if len(pools) != 1:
                raise common.field_error("resources.infra", f"name the SSH node pool: infra: ssh/<pool> (pools: {', '.join(pools) or 'none'})")
            name = next(iter(pools))
        if name not in pools:
            raise common.field_error("resources.infra", f"no SSH node pool {name!r} in {ssh_pool.pool_file()} (pools: {', '.join(pools) or 'none'})")
        return name, pools[name].resolved()

    def validate(self, spec: StackSpec) -> None:
        name, hosts = self._pool(spec)
        if spec.num_nodes > len(hosts):
            raise ProviderError(f"SSH node pool {name!r} has {len(hosts)} host(s); the task needs {spec.num_nodes}")
        for what, value in (("use_spot", spec.use_spot), ("disk_tier", spec.disk_tier), ("ports", spec.ports)):
            if value:
                raise common.field_error(f"resources.{what}", f"{what} is not available on SSH node pools (the machines are used as they are)")
        if spec.image_id and not spec.image_id.startswith("docker:"):
            raise common.field_error("resources.image_id", "SSH node pools cannot change a machine's image; use docker:<image> or remove image_id")
        if spec.stopped:
            raise ProviderError("SSH node pool hosts cannot be stopped; use `skyc down` to release them")

    def program(self, spec: StackSpec) -> Callable[[], None]:
        self.validate(spec)
        pool, hosts = self._pool(spec)

        def run() -> None:
            import pulumi

            resource_cls = globals().get("SSHPoolNode") or __getattr__("SSHPoolNode")
            nodes = [
                resource_cls(
                    node,
                    {
                        "cluster": spec.stack,
                        "node": node,
                        "rank": rank,
                        "pool": pool,
                        "hosts": hosts,
                        "public_key": common.public_key(spec),
                    },
                )
                for rank, node in enumerate(common.node_names(spec.num_nodes))
            ]
            pulumi.export(
                "inventory",
                pulumi.Output.all(*[n.facts for n in nodes]).apply(
                    lambda all_facts: {"nodes": [_node(spec, rank, f) for rank, f in enumerate(all_facts)], "tags": common.cost_tags(spec)}
                ),
            )

        return run

    def cleanup(self, stack: str) -> None:
        """After destroy: drop claims the state may not record (an interrupted `up`)."""
        for row in ssh_pool.claims():
            if row["cluster"] == stack:
                ssh_pool.release(stack, row["node"])


def _node(spec: StackSpec, rank: int, facts: dict[str, Any] | None) -> dict[str, Any]:
    facts = facts or {}
    return {
        "name": common.node_names(spec.num_nodes)[rank],
        "rank": rank,
        "private_ip": facts.get("ip") or "",
        "ssh_port": int(facts.get("port") or 22),
        "ssh_user": facts.get("user") or "",
        "host_key": facts.get("host_key"),
        "cpus": spec.cpus,
        "memory": spec.memory,
        "accelerators": {spec.accelerator_name: spec.accelerator_count} if spec.accelerator_name else {},
    }
