"""The one list of providers. Modules are imported lazily so the CLI starts fast."""

from __future__ import annotations

import importlib
from functools import lru_cache

from skyc.errors import ProviderError
from skyc.stacks.base import Provider

# name -> "module:Class". Adding a provider touches this line and its own module only.
PROVIDERS: dict[str, str] = {
    "local": "skyc.stacks.local:LocalProvider",
    "aws": "skyc.stacks.aws:AWSProvider",
    "gcp": "skyc.stacks.gcp:GCPProvider",
    "azure": "skyc.stacks.azure:AzureProvider",
    "kubernetes": "skyc.stacks.kubernetes:KubernetesProvider",
    "ssh": "skyc.stacks.ssh:SSHProvider",
    "lambda": "skyc.stacks.lambda_cloud:LambdaProvider",
    "runpod": "skyc.stacks.runpod:RunPodProvider",
    "nebius": "skyc.stacks.nebius:NebiusProvider",
}


def names() -> list[str]:
    return list(PROVIDERS)


@lru_cache(maxsize=None)
def get(name: str) -> Provider:
    try:
        target = PROVIDERS[name]
    except KeyError:
        raise ProviderError(f"unknown provider {name!r}; known: {', '.join(PROVIDERS)}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)()
