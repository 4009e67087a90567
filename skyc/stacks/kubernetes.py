"""Kubernetes: a namespace, the cluster key as a Secret, one pod per node running sshd, and a
headless service giving nodes stable names (`<node>.<service>.<namespace>.svc`).

SSH reaches a pod either through `kubectl port-forward` wrapped as an SSH ProxyCommand (the
default: `python -m skyc.stacks.kubernetes proxy ...`) or through one NodePort service per pod,
chosen by config `kubernetes.ssh_access: port-forward | nodeport`. The context comes from the
spec's region (`infra: k8s/<context>`). Default image: ubuntu:22.04 (the pod installs
openssh-server, python3 and rsync at start when missing).

GPU clouds that hand out clusters (CoreWeave, Together AI) are contexts like any other; on those
(`kubernetes.context_configs.<context>.provider`, or a context named after them) GPU pods are pinned
to the provider's GPU node label, and `network_tier: best` adds its RDMA device and NCCL settings.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

from skyc import config
from skyc.errors import ProviderError
from skyc.stacks import common
from skyc.stacks.base import (
    CredentialReport,
    Inventory,
    NodeInfo,
    Provider,
    StackSpec,
    SupportsMultiNode,
    SupportsPorts,
)

DEFAULT_IMAGE = "ubuntu:22.04"
DEFAULT_USER = "skyc"
KEY_MOUNT = "/etc/skyc-ssh"
ACCESS_MODES = ("port-forward", "nodeport")
MAX_EXPOSED_PORTS = 100
# Label keys: an optional DNS-subdomain prefix (at most 253) and '/', then a name of at most 63.
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([a-zA-Z0-9]([-a-zA-Z0-9_.]{0,61}[a-zA-Z0-9])?)?$")


def dns_name(*parts: str) -> str:
    """An RFC 1123 label: lower case, digits and '-', at most 63."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return (name if name[:1].isalpha() else "skyc-" + name)[:63].rstrip("-")


def namespace(spec: StackSpec) -> tuple[str, bool]:
    """(namespace, whether the stack creates it)."""
    given = spec.options.get("namespace") or config.get("kubernetes.namespace")
    return (str(given), False) if given else (dns_name("skyc", spec.stack), True)


def ssh_access() -> str:
    mode = str(config.get("kubernetes.ssh_access") or "port-forward")
    if mode not in ACCESS_MODES:
        raise common.field_error("kubernetes.ssh_access", f"unknown SSH access {mode!r} in config.yaml; use one of: {', '.join(ACCESS_MODES)}")
    return mode


def gpu_resource() -> str:
    return str(config.get("kubernetes.gpu_resource") or "nvidia.com/gpu")


def context_setting(context: str | None, key: str) -> Any:
    """`kubernetes.context_configs.<context>.<key>`, else `kubernetes.<key>`."""
    per = config.get("kubernetes.context_configs") or {}
    own = per.get(context) if isinstance(per, dict) and context else None
    if isinstance(own, dict) and own.get(key) is not None:
        return own[key]
    return config.get(f"kubernetes.{key}")


# What GPU clouds that hand out Kubernetes clusters need in a pod spec: the node label naming the
# GPU model, and for `network_tier: best` the RDMA device resource and NCCL's InfiniBand settings.
FLAVORS: dict[str, dict[str, Any]] = {
    "coreweave": {
        "gpu_label": "gpu.nvidia.com/class",
        "gpu_values": {"H100": ["H100", "H100_NVLINK_80GB"], "A100-80GB": ["A100_NVLINK_80GB", "A100_PCIE_80GB"],
                       "A100": ["A100_NVLINK", "A100_PCIE_40GB"], "H200": ["H200"], "GH200": ["GH200_480GB"],
                       "B200": ["B200"], "L40S": ["L40S"], "L40": ["L40"]},
        "rdma_resource": "rdma/ib",
        "rdma_env": {"NCCL_IB_HCA": "ibp", "NCCL_SOCKET_IFNAME": "eth0",
                     "UCX_NET_DEVICES": ",".join(f"ibp{i}:1" for i in range(8))},
    },
    "together": {
        "gpu_label": "nvidia.com/gpu.product",
        "gpu_values": {"H100": ["NVIDIA-H100-80GB-HBM3"], "H200": ["NVIDIA-H200"], "B200": ["NVIDIA-B200"]},
        "rdma_resource": "nvidia.com/rdma_ib",
        "rdma_env": {"NCCL_IB_HCA": "mlx5", "UCX_NET_DEVICES": ",".join(f"mlx5_{i}:1" for i in range(8))},
    },
}


def flavor(context: str | None) -> str | None:
    """`context_configs.<ctx>.provider` (coreweave | together), else a context named after one."""
    given = context_setting(context, "provider")
    if given:
        name = str(given).lower()
        if name not in FLAVORS and name != "generic":
            raise common.field_error("kubernetes.context_configs.provider",
                                     f"unknown Kubernetes provider {given!r} in config.yaml; use one of: "
                                     f"{', '.join(FLAVORS)}, generic")
        return name if name in FLAVORS else None
    low = (context or "").lower()
    return next((name for name in FLAVORS if name in low), None)


def rdma(spec: StackSpec) -> dict[str, Any] | None:
    """The flavor's RDMA settings when the task asks for the best network on GPU pods."""
    f = flavor(spec.region)
    if spec.network_tier != "best" or not spec.accelerator_name or f is None:
        return None
    return FLAVORS[f]


def container_image(spec: StackSpec) -> str:
    # On Kubernetes any image id is a container image (SkyPilot prefixes `docker:` itself).
    return common.container_image(spec.image_id or DEFAULT_IMAGE)


def resources(spec: StackSpec) -> dict[str, dict[str, str]]:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if spec.cpus:
        requests["cpu"] = f"{spec.cpus:g}"
    if spec.memory:
        requests["memory"] = limits["memory"] = f"{spec.memory:g}Gi"
    if spec.accelerator_name and spec.accelerator_count:
        requests[gpu_resource()] = limits[gpu_resource()] = str(int(spec.accelerator_count))
    net = rdma(spec)
    if net:
        requests[net["rdma_resource"]] = limits[net["rdma_resource"]] = "1"
    return {"requests": requests, "limits": limits}


def gpu_affinity(spec: StackSpec) -> dict[str, Any] | None:
    """Pin GPU pods to nodes labelled with the requested model, on clusters whose labels are known."""
    f = flavor(spec.region)
    if not spec.accelerator_name or f is None:
        return None
    values = FLAVORS[f]["gpu_values"].get(spec.accelerator_name, [spec.accelerator_name.upper()])
    term = {"match_expressions": [{"key": FLAVORS[f]["gpu_label"], "operator": "In", "values": values}]}
    return {"node_affinity": {"required_during_scheduling_ignored_during_execution": {"node_selector_terms": [term]}}}


def exposed_ports(spec: StackSpec) -> list[int]:
    ports = [p for lo, hi in common.parse_ports(spec.ports) for p in range(lo, hi + 1)]
    if len(ports) > MAX_EXPOSED_PORTS:
        raise common.field_error("resources.ports", f"at most {MAX_EXPOSED_PORTS} ports can be exposed on Kubernetes ({len(ports)} asked)")
    return ports


def kubeconfig_paths() -> list[Path]:
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def contexts() -> tuple[list[str], str | None]:
    """Context names in the kube config files, and the current context."""
    import yaml

    names: list[str] = []
    current = None
    for path in kubeconfig_paths():
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(data, dict):
            continue
        names += [c.get("name") for c in data.get("contexts") or [] if isinstance(c, dict) and c.get("name")]
        current = current or data.get("current-context")
    return names, current


class KubernetesProvider(Provider, SupportsMultiNode, SupportsPorts):
    name = "kubernetes"
    display_name = "Kubernetes"
    catalog = None
    python_package = "pulumi_kubernetes"
    pulumi_plugin = "kubernetes"

    def check_credentials(self) -> CredentialReport:
        names, current = contexts()
        if names:
            return CredentialReport(
                enabled=True, reason=f"contexts: {', '.join(names)}", details={"contexts": names, "current": current}
            )
        where = ", ".join(str(p) for p in kubeconfig_paths())
        return CredentialReport(enabled=False, reason=f"no kube config contexts in {where}: set KUBECONFIG or create ~/.kube/config")

    def mock_outputs(self, typ: str, name: str, inputs: dict) -> dict | None:
        from skyc.stacks.render import fake_ip

        if typ == "kubernetes:core/v1:Pod":
            return {"status": {"podIP": fake_ip(name, "10.0"), "hostIP": fake_ip(name + "-host", "10.1")}}
        if typ == "kubernetes:core/v1:Service":
            spec = dict(inputs.get("spec") or {})
            if spec.get("type") == "NodePort":
                spec["ports"] = [dict(p, nodePort=30000 + int(p.get("port", 0)) % 2000) for p in spec.get("ports") or []]
            return {"spec": spec}
        return None

    def label_problem(self, key: str, value: str) -> str | None:
        prefix, slash, name = key.rpartition("/")
        if (slash and not _LABEL_PREFIX.match(prefix)) or not _LABEL_NAME.match(name):
            return ("keys are [prefix/]name: a DNS prefix of at most 253 characters and a name of at most 63 "
                    "(a-z, 0-9, '-', '_', '.'; starting and ending with a letter or digit)")
        if not _LABEL_VALUE.match(value):
            return "values are at most 63 characters of letters, digits, '-', '_' and '.', starting and ending alphanumeric"
        return None

    def warnings(self, spec: StackSpec) -> list[str]:
        if spec.network_tier == "best" and spec.accelerator_name and flavor(spec.region) is None:
            return [f"network_tier: best: skyc knows the RDMA settings of {' and '.join(FLAVORS)} clusters only; "
                    f"set kubernetes.context_configs.{spec.region or '<context>'}.provider in config.yaml for such a "
                    "cluster (the pods get no RDMA devices otherwise)"]
        return []

    def validate(self, spec: StackSpec) -> None:
        flavor(spec.region)  # a bad provider name in config.yaml is an error before anything is created
        image = spec.image_id or ""
        if image.startswith(("ami-", "projects/")) or image.startswith("/subscriptions/"):
            raise common.field_error("resources.image_id", f"{image!r} is a VM image; Kubernetes needs a container image, e.g. docker:ubuntu:22.04")
        container_image(spec)
        exposed_ports(spec)
        ssh_access()
        if spec.disk_tier:
            raise common.field_error("resources.disk_tier", "disk tiers are not available on Kubernetes; remove disk_tier")
        if spec.use_spot:
            raise ProviderError("Kubernetes has no spot capacity in skyc; remove use_spot")
        if spec.stopped:
            raise ProviderError("Kubernetes pods cannot be stopped; use `skyc down`")
        if spec.accelerator_name and spec.accelerator_name.lower().startswith("tpu-"):
            raise common.field_error("resources.accelerators", "TPUs on Kubernetes are not supported by skyc yet")

    def program(self, spec: StackSpec) -> Callable[[], None]:
        self.validate(spec)
        common.require_sdk("pulumi_kubernetes", "kubernetes")
        user = common.ssh_user(spec, DEFAULT_USER)
        script = common.bootstrap_script("startup_pod.j2", spec, user, key_mount=KEY_MOUNT, ssh_port=22)
        ns, create_ns = namespace(spec)
        access = ssh_access()
        service = dns_name(spec.stack)
        labels = {k: v for k, v in common.cost_tags(spec).items()}
        labels = {k: re.sub(r"[^A-Za-z0-9_.-]+", "_", v)[:63] for k, v in labels.items()}
        context = spec.region
        host_private, host_public = common.host_key(spec)

        def run() -> None:
            import pulumi
            import pulumi_kubernetes as k8s

            prov = k8s.Provider(f"k8s-{dns_name(context or 'default')}", context=context, namespace=ns)
            opts = pulumi.ResourceOptions(provider=prov)
            deps: list[Any] = []
            if create_ns:
                deps.append(k8s.core.v1.Namespace("namespace", metadata={"name": ns, "labels": labels}, opts=opts))
            ns_opts = pulumi.ResourceOptions(provider=prov, depends_on=deps)
            secret = k8s.core.v1.Secret(
                "ssh-key",
                metadata={"name": f"{service}-ssh", "namespace": ns, "labels": labels},
                string_data=common.secret_bootstrap(spec, {
                    "authorized_keys": common.public_key(spec) + "\n",
                    "ssh_host_ed25519_key": host_private.strip() + "\n",
                    "ssh_host_ed25519_key.pub": host_public + "\n",
                }),
                opts=ns_opts,
            )
            k8s.core.v1.Service(
                "nodes",
                metadata={"name": service, "namespace": ns, "labels": labels},
                spec={"cluster_ip": "None", "selector": {"skyc-cluster": labels["skyc-cluster"]}, "ports": [{"name": "ssh", "port": 22}]},
                opts=ns_opts,
            )
            extra_ports = exposed_ports(spec)
            nodes = []
            for rank, node in enumerate(common.node_names(spec.num_nodes)):
                pod_labels = {**labels, "skyc-node": node, "skyc-rank": str(rank)}
                pod = k8s.core.v1.Pod(
                    node,
                    metadata={"name": dns_name(spec.stack, node), "namespace": ns, "labels": pod_labels},
                    spec=_pod_spec(spec, node, service, script, secret, rank, extra_ports),
                    opts=ns_opts,
                )
                node_port = None
                if access == "nodeport":
                    svc = k8s.core.v1.Service(
                        f"{node}-ssh",
                        metadata={"name": dns_name(spec.stack, node, "ssh"), "namespace": ns, "labels": pod_labels},
                        spec={
                            "type": "NodePort",
                            "selector": {"skyc-cluster": labels["skyc-cluster"], "skyc-node": node},
                            "ports": [{"name": "ssh", "port": 22, "target_port": 22}],
                        },
                        opts=ns_opts,
                    )
                    node_port = svc.spec.apply(lambda s: s.ports[0].node_port if s and s.ports else None)
                if rank == 0 and extra_ports:
                    k8s.core.v1.Service(
                        "ports",
                        metadata={"name": dns_name(spec.stack, "ports"), "namespace": ns, "labels": labels},
                        spec={
                            "type": "NodePort",
                            "selector": {"skyc-cluster": labels["skyc-cluster"], "skyc-node": node},
                            "ports": [{"name": f"p{p}", "port": p, "target_port": p} for p in extra_ports],
                        },
                        opts=ns_opts,
                    )
                nodes.append(
                    pulumi.Output.all(
                        pod.metadata.apply(lambda m: m.name),
                        pod.status.apply(lambda s: s.pod_ip if s else None),
                        pod.status.apply(lambda s: s.host_ip if s else None),
                        node_port,
                    )
                )
            pulumi.export(
                "inventory",
                pulumi.Output.all(*nodes).apply(
                    lambda rows: {
                        "nodes": [
                            {"rank": rank, "pod": pod, "pod_ip": ip, "host_ip": host, "node_port": port}
                            for rank, (pod, ip, host, port) in enumerate(rows)
                        ],
                        "namespace": ns,
                        "context": context,
                        "access": access,
                        "user": user,
                        "tags": labels,
                    }
                ),
            )

        return run

    def inventory(self, spec: StackSpec, outputs: dict[str, Any]) -> Inventory:
        inv = outputs.get("inventory") or {}
        names = common.node_names(spec.num_nodes)
        nodes = []
        for row in inv.get("nodes") or []:
            rank = int(row["rank"])
            node = {
                "name": names[rank] if rank < len(names) else f"worker{rank}",
                "rank": rank,
                "private_ip": row.get("pod_ip") or "",
                "ssh_user": inv.get("user") or DEFAULT_USER,
                "cpus": spec.cpus,
                "memory": spec.memory,
                "accelerators": {spec.accelerator_name: spec.accelerator_count} if spec.accelerator_name else {},
                "host_key": spec.ssh_host_key,
            }
            if inv.get("access") == "nodeport":
                node.update(public_ip=row.get("host_ip"), ssh_port=int(row.get("node_port") or 22))
            else:
                node["proxy_command"] = proxy_command(inv.get("context"), inv["namespace"], row["pod"])
            nodes.append(NodeInfo(**node))
        return Inventory(stack=spec.stack, provider=self.name, nodes=nodes, tags=inv.get("tags") or {})


def _pod_spec(spec: StackSpec, node: str, service: str, script: str, secret, rank: int, extra_ports: list[int]) -> dict[str, Any]:
    net = rdma(spec)
    ports = [{"name": "ssh", "container_port": 22}]
    if rank == 0:
        ports += [{"name": f"p{p}", "container_port": p} for p in extra_ports]
    pod: dict[str, Any] = {
        "hostname": node,
        "subdomain": service,
        "restart_policy": "Never",
        "containers": [
            {
                "name": "node",
                "image": container_image(spec),
                "command": ["/bin/bash", "-c", script],
                "ports": ports,
                "resources": resources(spec),
                "env": [{"name": "SKYC_NODE_RANK", "value": str(rank)}, {"name": "SKYC_NUM_NODES", "value": str(spec.num_nodes)}]
                + [{"name": k, "value": v} for k, v in sorted((net or {}).get("rdma_env", {}).items())],
                "volume_mounts": [{"name": "ssh-key", "mount_path": KEY_MOUNT, "read_only": True}],
            }
        ],
        "volumes": [{"name": "ssh-key", "secret": {"secret_name": secret.metadata.apply(lambda m: m.name)}}],
    }
    if net:
        # InfiniBand verbs need locked memory.
        pod["containers"][0]["security_context"] = {"capabilities": {"add": ["IPC_LOCK"]}}
    if spec.accelerator_name:
        pod["tolerations"] = [{"key": gpu_resource(), "operator": "Exists", "effect": "NoSchedule"}]
    affinity = gpu_affinity(spec)
    if affinity:
        pod["affinity"] = affinity
    return pod


def proxy_command(context: str | None, ns: str, pod: str) -> str:
    """An SSH ProxyCommand that tunnels to the pod's sshd through `kubectl port-forward`."""
    import shlex

    args = [sys.executable, "-m", "skyc.stacks.kubernetes", "proxy", "--namespace", ns, "--pod", pod]
    if context:
        args += ["--context", context]
    return " ".join(shlex.quote(a) for a in args)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the relay's signal handlers still stop it on a normal close


def _proxy(context: str | None, ns: str, pod: str, port: int = 22) -> int:
    """Run `kubectl port-forward` to a free local port and relay stdin/stdout to it."""
    import shutil
    import signal
    import socket
    import subprocess
    import threading

    kubectl = shutil.which("kubectl")
    if not kubectl:
        sys.stderr.write("kubectl not found: install kubectl to reach Kubernetes nodes\n")
        return 1
    cmd = [kubectl, "port-forward", "-n", ns, f"pod/{pod}", f":{port}", "--address", "127.0.0.1"]
    if context:
        cmd[1:1] = ["--context", context]
    # SSH clients end a ProxyCommand with a signal (Paramiko SIGTERM, OpenSSH SIGHUP): exit through
    # `finally` so the port-forward goes too, and have the kernel end it if this process is killed.
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    fwd = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
                           preexec_fn=_die_with_parent)
    try:
        line = fwd.stdout.readline() if fwd.stdout else ""
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not m:
            sys.stderr.write(f"kubectl port-forward failed: {line.strip()}\n")
            return 1
        sock = socket.create_connection(("127.0.0.1", int(m.group(1))))

        def upstream() -> None:
            while chunk := os.read(0, 65536):
                sock.sendall(chunk)
            sock.shutdown(socket.SHUT_WR)

        threading.Thread(target=upstream, daemon=True).start()
        while chunk := sock.recv(65536):
            os.write(1, chunk)
        return 0
    finally:
        fwd.terminate()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m skyc.stacks.kubernetes")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("proxy", help="SSH ProxyCommand through kubectl port-forward")
    p.add_argument("--context")
    p.add_argument("--namespace", required=True)
    p.add_argument("--pod", required=True)
    p.add_argument("--port", type=int, default=22)
    args = parser.parse_args(argv)
    return _proxy(args.context, args.namespace, args.pod, args.port)


if __name__ == "__main__":
    sys.exit(main())
