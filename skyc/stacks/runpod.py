"""RunPod: one pod (a container, user root) as a Pulumi dynamic resource over RunPod's REST API.

`pulumi-runpod` cannot express what skyc needs (interruptible pods, reading back the public port
mapped to the pod's sshd), so the pod is created through `POST /pods` directly. The pod's start
command installs sshd, authorises the cluster key and installs the cluster's host key, passed in
the pod's environment. SSH goes to the pod's public IP on the port RunPod maps to 22. Spot =
an interruptible pod; no stop, no multi-node; task ports are mapped at launch.

The API base URL comes from `SKYC_RUNPOD_API_URL`, else `runpod.api_url` in config.yaml, else
RunPod's own; the key from `~/.runpod/config.toml` (`[default] api_key`, as SkyPilot reads it).
Provider classes are pickled by reference into the state: keep `skyc.stacks.runpod` importable.
"""

from __future__ import annotations

import base64
import os
from typing import Any, Callable

from skyc import config
from skyc.stacks import common, rest
from skyc.stacks.base import CredentialReport, Provider, StackSpec, SupportsPorts, SupportsSpot

DEFAULT_API = "https://rest.runpod.io/v1"
CREDENTIALS = "~/.runpod/config.toml"
DEFAULT_IMAGE = "ubuntu:22.04"
USER = "root"
KEY_DIR = "/etc/skyc-ssh"
LAUNCH_TIMEOUT_S = 900.0
# catalog accelerator name -> RunPod GPU type id
GPU_TYPES = {
    "A100-80GB": "NVIDIA A100 80GB PCIe",
    "A100-80GB-SXM": "NVIDIA A100-SXM4-80GB",
    "A40": "NVIDIA A40",
    "B200": "NVIDIA B200",
    "H100": "NVIDIA H100 PCIe",
    "H100-NVL": "NVIDIA H100 NVL",
    "H100-SXM": "NVIDIA H100 80GB HBM3",
    "H200-SXM": "NVIDIA H200",
    "L4": "NVIDIA L4",
    "L40": "NVIDIA L40",
    "L40S": "NVIDIA L40S",
    "MI300X": "AMD Instinct MI300X OAM",
    "RTX3090": "NVIDIA GeForce RTX 3090",
    "RTX4000-Ada": "NVIDIA RTX 4000 Ada Generation",
    "RTX4090": "NVIDIA GeForce RTX 4090",
    "RTX6000-Ada": "NVIDIA RTX 6000 Ada Generation",
    "RTXA4000": "NVIDIA RTX A4000",
    "RTXA4500": "NVIDIA RTX A4500",
    "RTXA5000": "NVIDIA RTX A5000",
    "RTXA6000": "NVIDIA RTX A6000",
}
_NO_CAPACITY = ("no longer any instances available", "no instances currently available", "not enough free gpus",
                "no available", "could not find any pods")


def api_url() -> str:
    return os.environ.get("SKYC_RUNPOD_API_URL") or str(config.get("runpod.api_url") or DEFAULT_API)


def read_api_key() -> tuple[str | None, str]:
    """(key, what was found or what is missing), as SkyPilot reads `~/.runpod/config.toml`."""
    import tomllib

    path = os.path.expanduser(CREDENTIALS)
    fix = "run `runpod config` (pip install runpod) or write `[default]` with `api_key = \"<KEY>\"` there"
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return None, f"no RunPod credentials at {CREDENTIALS}: {fix}"
    except (OSError, tomllib.TOMLDecodeError) as e:
        return None, f"{CREDENTIALS} is not valid TOML ({e}): {fix}"
    profile = data.get("default")
    if not isinstance(profile, dict):
        return None, f"{CREDENTIALS} has no [default] profile: {fix}"
    key = profile.get("api_key")
    if not key:
        return None, f"{CREDENTIALS} [default] has no api_key: {fix}"
    return str(key), f"[default] api_key in {CREDENTIALS}"


def classify(status: int, payload: Any) -> tuple[str, str, str, str]:
    """RunPod answers errors as `{"error": "...", "status": N}` (or a plain message)."""
    if isinstance(payload, list) and payload:
        payload = payload[0]
    if isinstance(payload, dict):
        err = payload.get("error") or payload.get("message") or ""
        message = str(err.get("message") if isinstance(err, dict) else err) or f"HTTP {status}"
    else:
        message = str(payload or f"HTTP {status}")
    if status == 429:
        return rest.RATE_LIMIT, "429", "rate limited", ""
    if status in (401, 403):
        return rest.AUTH, str(status), message, f"check api_key in {CREDENTIALS}"
    if status == 404:
        return rest.NOT_FOUND, "404", message, ""
    if any(p in message.lower() for p in _NO_CAPACITY):
        return rest.CAPACITY, str(status), message, ""
    return rest.OTHER, str(status), message, ""


def client() -> rest.Client:
    key, why = read_api_key()
    if not key:
        raise rest.ApiError("runpod", 401, rest.AUTH, "", why)
    return rest.Client("runpod", api_url(), {"Authorization": f"Bearer {key}"}, classify)


# ---------------------------------------------------------------- dynamic provider (runs in the plugin)


class _Pod:
    """create = POST /pods then wait for the public SSH port; delete = DELETE /pods/{id}. A pod
    that never gets its SSH port is deleted before the error is raised."""

    def create(self, props):
        import pulumi.dynamic as dyn

        c = client()
        pod = c.request("POST", "/pods", props["body"])
        pid = pod["id"]
        try:
            info = rest.wait_for(f"RunPod pod {props['body']['name']}", lambda: _reachable(c, pid),
                                 float(props.get("timeout") or LAUNCH_TIMEOUT_S), rest.poll_interval())
        except BaseException:
            _delete(c, pid)
            raise
        return dyn.CreateResult(id_=pid, outs=_outs(props, pid, info))

    def diff(self, _id, olds, news):
        import pulumi.dynamic as dyn

        from skyc.stacks.dynamic import digest

        changed = olds.get("body_digest") != digest(repr(sorted(_plain(news["body"]).items())))
        return dyn.DiffResult(changes=changed, replaces=["body"] if changed else [], delete_before_replace=True)

    def read(self, id_, props):
        import pulumi.dynamic as dyn

        try:
            info = client().request("GET", f"/pods/{id_}")
        except rest.ApiError as e:
            if e.kind == rest.NOT_FOUND:
                return dyn.ReadResult(id_="", outs={})
            raise
        if not info or info.get("desiredStatus") == "TERMINATED":
            return dyn.ReadResult(id_="", outs={})
        return dyn.ReadResult(id_=id_, outs={**props, **_addresses(info)})

    def delete(self, id_, props):
        _delete(client(), id_)


def _delete(c: rest.Client, pid: str) -> None:
    try:
        c.request("DELETE", f"/pods/{pid}")
    except rest.ApiError as e:
        if e.kind != rest.NOT_FOUND:
            raise


def _addresses(info: dict) -> dict:
    ports = info.get("portMappings") or {}
    ssh = ports.get("22") or ports.get(22)
    return {"public_ip": info.get("publicIp") or None, "ssh_port": int(ssh) if ssh else None,
            "port_mappings": {str(k): int(v) for k, v in ports.items()}, "status": info.get("desiredStatus")}


def _reachable(c: rest.Client, pid: str) -> dict | None:
    info = c.request("GET", f"/pods/{pid}") or {}
    if info.get("desiredStatus") in ("TERMINATED", "EXITED"):
        raise rest.ApiError("runpod", 200, rest.CAPACITY, "", f"pod {pid} {info['desiredStatus'].lower()} while starting")
    addr = _addresses(info)
    return addr if addr["public_ip"] and addr["ssh_port"] else None


def _plain(body: dict) -> dict:
    """The body without secrets (the environment carries the host key)."""
    return {k: v for k, v in body.items() if k != "env"} | {"env_digest": repr(sorted((body.get("env") or {}).items()))}


def _outs(props: dict, pid: str, addr: dict) -> dict:
    from skyc.stacks.dynamic import digest

    return {"cluster": props["cluster"], "node": props["node"], "pod_id": pid,
            "body_digest": digest(repr(sorted(_plain(props["body"]).items()))), **addr}


def __getattr__(name: str):
    # Built on first use so importing this module stays free of Pulumi.
    from skyc.stacks import dynamic

    if name == "RunPodPodProvider":
        cls = dynamic.provider_class(__name__, name, _Pod)
    elif name == "RunPodPod":
        cls = dynamic.resource_class(__name__, name, globals().get("RunPodPodProvider") or __getattr__("RunPodPodProvider"),
                                     ("pod_id", "public_ip", "ssh_port", "port_mappings", "status", "body_digest"))
    else:
        raise AttributeError(name)
    globals()[name] = cls
    return cls


# ---------------------------------------------------------------- provider


def parse_instance_type(itype: str) -> dict[str, Any]:
    """`8x_H100-SXM_SECURE` -> GPU pod fields; `cpu3c-2-4` -> CPU pod fields."""
    if itype.startswith("cpu"):
        flavor, vcpus, _ = itype.rsplit("-", 2)
        return {"computeType": "CPU", "cpuFlavorIds": [flavor], "vcpuCount": int(vcpus)}
    count, _, rest_ = itype.partition("x_")
    name, _, cloud = rest_.rpartition("_")
    if not (count.isdigit() and name in GPU_TYPES and cloud in ("SECURE", "COMMUNITY")):
        raise common.field_error("resources.instance_type", f"{itype!r} is not a RunPod instance type (e.g. 1x_A100-80GB_SECURE)")
    return {"computeType": "GPU", "gpuTypeIds": [GPU_TYPES[name]], "gpuCount": int(count), "cloudType": cloud}


def start_command(spec: StackSpec) -> str:
    """Write the keys from the pod's environment where the pod bootstrap expects them, then run it."""
    script = common.bootstrap_script("startup_pod.j2", spec, USER, key_mount=KEY_DIR, ssh_port=22)
    keys = (f"mkdir -p {KEY_DIR} && printf '%s\\n' \"$SKYC_AUTHORIZED_KEYS\" > {KEY_DIR}/authorized_keys && "
            f"printf '%s' \"$SKYC_HOST_KEY_B64\" | base64 -d > {KEY_DIR}/ssh_host_ed25519_key && "
            f"printf '%s\\n' \"$SKYC_HOST_KEY_PUB\" > {KEY_DIR}/ssh_host_ed25519_key.pub\n")
    return keys + script


def pod_body(spec: StackSpec) -> dict[str, Any]:
    host_private, host_public = common.host_key(spec)
    image = common.container_image(spec.image_id or DEFAULT_IMAGE)
    ports = ["22/tcp"] + [f"{p}/tcp" for lo, hi in common.parse_ports(spec.ports) for p in range(lo, hi + 1)]
    body: dict[str, Any] = {
        "name": f"{spec.stack}-head",
        "imageName": image,
        **parse_instance_type(spec.instance_type or ""),
        "interruptible": spec.use_spot,
        "containerDiskInGb": spec.disk_size,
        "ports": ports,
        "supportPublicIp": True,
        "countryCodes": [spec.region],
        "dockerEntrypoint": ["/bin/bash", "-c", start_command(spec)],
        "env": {
            "SKYC_AUTHORIZED_KEYS": common.public_key(spec),
            "SKYC_HOST_KEY_B64": base64.b64encode((host_private.strip() + "\n").encode()).decode(),
            "SKYC_HOST_KEY_PUB": host_public,
            "SKYC_CLUSTER": spec.stack,
        },
    }
    if spec.zone:
        body["dataCenterIds"] = [spec.zone]
    return body


class RunPodProvider(Provider, SupportsSpot, SupportsPorts):
    name = "runpod"
    display_name = "RunPod"
    catalog = "runpod"
    python_package = None  # a dynamic resource over REST: no Pulumi SDK, no plugin to download

    def check_credentials(self) -> CredentialReport:
        key, why = read_api_key()
        return CredentialReport(enabled=bool(key), reason=why)

    def cleanup(self, stack: str) -> None:
        """After destroy: delete a pod of the cluster that an interrupted `up` created before the
        state recorded it (found by its name)."""
        if not read_api_key()[0]:
            return
        try:
            c = client()
            for pod in c.request("GET", "/pods") or []:
                if pod.get("name") == f"{stack}-head" and pod.get("desiredStatus") != "TERMINATED":
                    _delete(c, pod["id"])
        except rest.ApiError as e:
            from skyc.errors import ProviderError

            raise ProviderError(f"could not check RunPod for leftovers of {stack}: {e}; run `skyc down {stack}` again") from None

    def mock_outputs(self, typ: str, name: str, inputs: dict) -> dict | None:
        from skyc.stacks.render import fake_ip

        if typ == "pulumi-python:dynamic:Resource" and "body" in inputs:
            return {"pod_id": f"{name}-id", "public_ip": fake_ip(name, "203.0"), "ssh_port": 10022,
                    "port_mappings": {"22": 10022}, "status": "RUNNING"}
        return None

    def validate(self, spec: StackSpec) -> None:
        from skyc.errors import ProviderError

        common.require_region(spec, "RunPod")
        if spec.num_nodes > 1:
            raise ProviderError("RunPod runs single-node clusters only; use num_nodes: 1")
        if spec.stopped:
            raise ProviderError("RunPod pods cannot be stopped in skyc; use `skyc down`")
        if spec.disk_tier:
            raise common.field_error("resources.disk_tier", "disk tiers are not available on RunPod; remove disk_tier")
        image = spec.image_id or ""
        if image.startswith(("ami-", "projects/", "/subscriptions/")):
            raise common.field_error("resources.image_id", f"{image!r} is a VM image; RunPod pods need a container image, e.g. docker:ubuntu:22.04")
        common.container_image(image or DEFAULT_IMAGE)
        parse_instance_type(spec.instance_type or "")
        common.parse_ports(spec.ports)
        common.check_disk_size(spec, 10)
        common.check_offered("runpod", "RunPod", spec, InstanceType=spec.instance_type or "")

    def program(self, spec: StackSpec) -> Callable[[], None]:
        self.validate(spec)
        body = pod_body(spec)
        tags = common.cost_tags(spec)

        def run() -> None:
            import pulumi

            from skyc.stacks import runpod as me

            secret_body = pulumi.Output.secret(body) if spec.ssh_host_key else body
            pod = me.RunPodPod("head", {"cluster": spec.stack, "node": "head", "body": secret_body})

            def inventory(values: list) -> dict:
                ip, port = values
                node = common.vm_node(spec, USER, 0, ip, ip)
                node["ssh_port"] = int(port or 22)
                return {"nodes": [node], "tags": tags}

            pulumi.export("inventory", pulumi.Output.all(pod.public_ip, pod.ssh_port).apply(inventory))
            pulumi.export("tags", tags)

        return run
