"""Building Pulumi dynamic providers and resources lazily, so that importing a provider module
(for `skyc check`, the optimizer's capability checks) never imports Pulumi.

A dynamic provider instance is pickled *by reference* into the stack state: the class made here
takes the module and name it is published under (`module.__getattr__` returns it), and that path
must stay importable for as long as stacks that use it may exist.
"""

from __future__ import annotations

import hashlib
from typing import Any


def provider_class(module: str, name: str, impl: type) -> type:
    """`impl`'s create/read/update/delete/diff methods as a `pulumi.dynamic.ResourceProvider`."""
    import pulumi.dynamic as dyn

    return type(name, (impl, dyn.ResourceProvider), {"__module__": module, "__qualname__": name})


def resource_class(module: str, name: str, provider: type, outputs: tuple[str, ...]) -> type:
    """A `pulumi.dynamic.Resource` whose `outputs` become Output attributes."""
    import pulumi
    import pulumi.dynamic as dyn

    def __init__(self, resource_name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        dyn.Resource.__init__(self, provider(), resource_name, {**props, **{k: None for k in outputs}}, opts)

    annotations = {k: pulumi.Output[Any] for k in outputs}
    return type(name, (dyn.Resource,), {"__module__": module, "__qualname__": name, "__init__": __init__,
                                        "__annotations__": annotations})


def digest(text: str) -> str:
    """A short stable fingerprint: kept in state in place of a secret input, for diffs."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]
