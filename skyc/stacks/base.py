"""The provider interface: a stack program from a stack spec, a credential check, capabilities.

A provider is a small required interface plus capability mixins discovered with `issubclass`;
no module outside a provider's own names it (the registry lists them by import path).
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


# A provider's error containing this phrase means the cloud refused its credentials: launch then
# stops trying that cloud instead of walking through its other placements.
CREDENTIALS_REJECTED = "credentials rejected"


class StackSpec(BaseModel):
    """Everything a provider's program needs to build one cluster or service stack.

    The program is a pure function of this spec (plus the provider's defaults), so a plan can
    record it and `apply` can hand it unchanged to the engine.
    """

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    stack: str  # cluster or service name = Pulumi stack name
    kind: Literal["cluster", "service"] = "cluster"
    provider: str  # a registered provider's name: "local", "aws", "kubernetes", "lambda", ...
    region: str | None = None
    zone: str | None = None
    instance_type: str | None = None
    num_nodes: int = 1
    use_spot: bool = False
    accelerator_name: str | None = None
    accelerator_count: float = 0
    cpus: float | None = None  # advertised/requested vCPUs per node
    memory: float | None = None  # GiB per node
    disk_size: int = 256
    disk_tier: str | None = None
    network_tier: str | None = None  # "best": the fastest interconnect the provider has (InfiniBand, RDMA)
    ports: list[str] = Field(default_factory=list)
    image_id: str | None = None  # resolved for the chosen region; "docker:..." for containers
    labels: dict[str, str] = Field(default_factory=dict)
    ssh_user: str | None = None
    ssh_public_key: str | None = None  # the cluster key; filled by the engine before `up`
    ssh_host_key: str | None = None  # public host key the cluster's VMs/pods get; filled by the engine
    stopped: bool = False  # stop/start = `up` with this flag flipped
    options: dict[str, Any] = Field(default_factory=dict)  # provider-specific config

    def with_keys_of(self, applied: "StackSpec") -> "StackSpec":
        """This spec with the keys the engine filled into `applied` (they are reused, so a plan
        compares equal to the applied spec when nothing else changed)."""
        return self.model_copy(update={"ssh_public_key": applied.ssh_public_key, "ssh_host_key": applied.ssh_host_key})


class Gateway(BaseModel):
    """A jump host (OpenSSH `ProxyJump`) through which a node, or another jump host, is reached.

    `ProxyJump a,b` in an SSH config is `Gateway(b, gateway=Gateway(a))`: the outermost hop is
    innermost in the model. The runtime, rsync and `ssh NAME` all go through the same chain.
    """

    model_config = ConfigDict(extra="forbid")

    address: str  # as the previous hop (or this machine) resolves it
    port: int = 22
    user: str
    key: str | None = None  # private key on this machine; None: the inventory's key
    host_key: str | None = None  # "ssh-ed25519 AAAA..."; pinned, and required to connect
    gateway: Gateway | None = None  # the hop before this one
    proxy_command: str | None = None  # or reach this jump host through a command (`ProxyCommand`)

    @model_validator(mode="after")
    def _one_way_in(self) -> Gateway:
        if self.gateway is not None and self.proxy_command:
            raise ValueError("a jump host has a gateway or a proxy_command, not both")
        return self

    @property
    def label(self) -> str:
        return f"{self.user}@{self.address}:{self.port}"


class NodeInfo(BaseModel):
    """One node of the inventory, as the runtime needs it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    rank: int
    private_ip: str
    public_ip: str | None = None
    ssh_port: int = 22
    ssh_user: str
    host_key: str | None = None  # "ssh-ed25519 AAAA..." when known; pinned by the runtime
    proxy_command: str | None = None  # reach the node through a command (e.g. the Kubernetes relay)
    gateway: Gateway | None = None  # or through a jump host
    home: str | None = None  # node home dir when not the user's default (local nodes)
    cpus: float | None = None
    memory: float | None = None
    accelerators: dict[str, float] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)  # e.g. CUDA_VISIBLE_DEVICES for local GPU splits

    @model_validator(mode="after")
    def _one_way_in(self) -> NodeInfo:
        if self.gateway is not None and self.proxy_command:
            raise ValueError("a node has a gateway or a proxy_command, not both")
        return self

    @property
    def address(self) -> str:
        return self.public_ip or self.private_ip


class Inventory(BaseModel):
    """Stack outputs turned into what the runtime consumes. Head node is rank 0."""

    model_config = ConfigDict(extra="forbid")

    stack: str
    provider: str
    ssh_private_key: str | None = None  # path on this machine
    nodes: list[NodeInfo] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def head(self) -> NodeInfo:
        return self.nodes[0]


class CredentialReport(BaseModel):
    """Result of a no-network credential check."""

    enabled: bool
    reason: str = ""  # what was found, or how to enable
    details: dict[str, Any] = Field(default_factory=dict)


class Provider(abc.ABC):
    """Required interface of every provider."""

    name: str  # lower-case key used in infra strings and StackSpec.provider
    display_name: str  # as SkyPilot prints it: AWS, GCP, Kubernetes, ...
    catalog: str | None = None  # catalog directory that prices this provider, if any
    python_package: str | None = None  # Pulumi SDK package the program needs ("pulumi_aws")

    @abc.abstractmethod
    def check_credentials(self) -> CredentialReport:
        """Detect credentials without any network call."""

    @abc.abstractmethod
    def program(self, spec: StackSpec) -> Callable[[], None]:
        """Return the Pulumi program for this spec. It must `pulumi.export("inventory", ...)`;
        the engine adds the `spec` output itself."""

    def inventory(self, spec: StackSpec, outputs: dict[str, Any]) -> Inventory:
        """Turn stack outputs into an Inventory (default: the `inventory` output as-is)."""
        inv = outputs.get("inventory") or {}
        return Inventory.model_validate({"stack": spec.stack, "provider": self.name, **inv})

    def validate(self, spec: StackSpec) -> None:
        """Plan-time checks of the spec for this provider (image id form, ports, disk tier, what
        the region offers); raise SpecError naming the field, or ProviderError. Default: none."""

    def label_problem(self, key: str, value: str) -> str | None:
        """Why this cloud refuses a label (None = fine). Default: labels are accepted as they are."""
        return None

    def image_problem(self, image_id: dict[str, str]) -> str | None:
        """Why this cloud refuses an `image_id` request (region -> image, key "docker" for a
        container). Default: a VM image needs the SupportsImages capability."""
        if not isinstance(self, SupportsImages) and any(k != "docker" for k in image_id):
            return (f"{self.display_name} takes container images only: write image_id: docker:<image> "
                    "(or drop image_id)")
        return None

    def warnings(self, spec: StackSpec) -> list[str]:
        """Notes a plan should show for this spec (e.g. SSH open to any address). Default: none."""
        return []

    def cleanup(self, stack: str) -> None:
        """Called after `destroy` (even a failed one): remove anything of the stack that the
        state may not record, e.g. what an interrupted `up` started. Default: nothing."""


# Capability mixins: a provider subclasses the ones it supports.
class SupportsSpot:
    """Can run nodes on spot/preemptible capacity."""


class SupportsPorts:
    """Can open task ports to the outside."""


class SupportsStopStart:
    """Can stop nodes keeping their disks, and start them again."""


class SupportsMultiNode:
    """Can place more than one node per cluster."""


class SupportsDiskTier:
    """Maps disk tiers (low/medium/high/ultra/best) to volume types."""


class SupportsImages:
    """Accepts a custom VM image id."""


def supports(provider: Provider | type[Provider], capability: type) -> bool:
    cls = provider if isinstance(provider, type) else type(provider)
    return issubclass(cls, capability)
