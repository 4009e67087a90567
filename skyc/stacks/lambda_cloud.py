"""Lambda Cloud: the cluster's SSH key, one instance per node, and account firewall rules for the
task's ports, as Pulumi dynamic resources over Lambda's public REST API (there is no Pulumi
provider for it).

The API base URL comes from `SKYC_LAMBDA_API_URL`, else `lambda.api_url` in config.yaml, else
Lambda's own; the key from `~/.lambda_cloud/lambda_keys` (`api_key = ...`, as SkyPilot reads it),
read at each operation and never stored in the state. Lambda has no spot capacity and cannot stop
an instance. Its firewall rules are account-wide (and do not exist in us-south-1): each cluster
adds its own rules, tagged with its name, and removes exactly those on `down`.

Provider classes are pickled by reference into the state: keep `skyc.stacks.lambda_cloud`
importable with these class names.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from skyc import config
from skyc.stacks import common, rest
from skyc.stacks.base import CredentialReport, Provider, StackSpec, SupportsMultiNode, SupportsPorts

DEFAULT_API = "https://cloud.lambdalabs.com/api/v1"
CREDENTIALS = "~/.lambda_cloud/lambda_keys"
KEY_PAGE = "https://cloud.lambda.ai/api-keys"
DEFAULT_USER = "ubuntu"
NO_FIREWALL_REGIONS = ("us-south-1",)
MAX_NAME = 57  # Lambda instance names: 64 characters, less the "-worker<N>" suffix
LAUNCH_TIMEOUT_S = 1200.0
OPEN_CIDR = "0.0.0.0/0"
CAPACITY_CODE = "instance-operations/launch/insufficient-capacity"


def api_url() -> str:
    return os.environ.get("SKYC_LAMBDA_API_URL") or str(config.get("lambda.api_url") or DEFAULT_API)


def api_key() -> str | None:
    return rest.read_key_value_file(CREDENTIALS, "api_key")


def classify(status: int, payload: Any) -> tuple[str, str, str, str]:
    """Lambda's errors are `{"error": {"code", "message", "suggestion"}}`; branch on the code."""
    err = payload.get("error") if isinstance(payload, dict) else None
    err = err if isinstance(err, dict) else {}
    code = str(err.get("code") or "")
    message = str(err.get("message") or (payload if isinstance(payload, str) and payload else f"HTTP {status}"))
    hint = str(err.get("suggestion") or "")
    if status == 429:
        return rest.RATE_LIMIT, code, "rate limited", hint
    if status in (401, 403) or code in ("global/invalid-api-key", "global/account-inactive"):
        return rest.AUTH, code, message, f"check the key in {CREDENTIALS} (create one at {KEY_PAGE})"
    if code == CAPACITY_CODE:
        return rest.CAPACITY, code, message, hint
    if status == 404 or code == "global/object-does-not-exist":
        return rest.NOT_FOUND, code, message, hint
    return rest.OTHER, code, message, hint


def client() -> rest.Client:
    key = api_key()
    if not key:
        raise rest.ApiError("lambda", 401, rest.AUTH, "", f"no API key in {CREDENTIALS}",
                            f"create one at {KEY_PAGE} and save `api_key = <KEY>` there")
    return rest.Client("lambda", api_url(), {"Authorization": f"Bearer {key}"}, classify)


def _ignore_missing(call: Callable[[], Any]) -> None:
    try:
        call()
    except rest.ApiError as e:
        if e.kind != rest.NOT_FOUND:
            raise


# ---------------------------------------------------------------- dynamic providers (run in the plugin)


class _SSHKey:
    """The cluster's public key registered under a name Lambda's launch call refers to."""

    def create(self, props):
        import pulumi.dynamic as dyn

        c = client()
        try:
            data = c.request("POST", "/ssh-keys", {"name": props["name"], "public_key": props["public_key"]})["data"]
        except rest.ApiError as e:
            # The same key left registered by an interrupted launch: adopt it.
            same = [k for k in c.request("GET", "/ssh-keys")["data"]
                    if k.get("name") == props["name"] and k.get("public_key", "").strip() == props["public_key"].strip()]
            if e.kind == rest.AUTH or not same:
                raise
            data = same[0]
        return dyn.CreateResult(id_=str(data["id"]), outs={**props, "key_id": str(data["id"])})

    def diff(self, _id, olds, news):
        import pulumi.dynamic as dyn

        changed = [k for k in ("name", "public_key") if olds.get(k) != news.get(k)]
        return dyn.DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=True)

    def delete(self, id_, props):
        _ignore_missing(lambda: client().request("DELETE", f"/ssh-keys/{id_}"))


class _Instance:
    """One node: launch (after a capacity check, since launches are rate limited to a few a
    minute), wait until active, terminate. A launch that never becomes ready is terminated
    before the error is raised, so nothing is left that the state does not record."""

    def create(self, props):
        import pulumi.dynamic as dyn

        c = client()
        itype, region = props["instance_type"], props["region"]
        types = c.request("GET", "/instance-types")["data"]
        if itype not in types:
            raise rest.ApiError("lambda", 400, rest.OTHER, "global/invalid-parameters", f"unknown instance type {itype}")
        with_capacity = [r["name"] for r in types[itype].get("regions_with_capacity_available") or []]
        if region not in with_capacity:
            raise rest.ApiError("lambda", 400, rest.CAPACITY, CAPACITY_CODE,
                                f"no {itype} capacity in {region} (regions with capacity: {', '.join(with_capacity) or 'none'})")
        body = {"region_name": region, "instance_type_name": itype, "ssh_key_names": [props["ssh_key_name"]],
                "quantity": 1, "name": props["name"], "user_data": props["user_data"]}
        iid = c.request("POST", "/instance-operations/launch", body)["data"]["instance_ids"][0]
        try:
            info = rest.wait_for(f"Lambda instance {props['name']}", lambda: _active(c, iid),
                                 float(props.get("timeout") or LAUNCH_TIMEOUT_S), rest.poll_interval())
        except BaseException:
            _ignore_missing(lambda: c.request("POST", "/instance-operations/terminate", {"instance_ids": [iid]}))
            raise
        return dyn.CreateResult(id_=iid, outs=_outs(props, iid, info))

    def diff(self, _id, olds, news):
        import pulumi.dynamic as dyn

        from skyc.stacks.dynamic import digest

        changed = [k for k in ("name", "region", "instance_type", "ssh_key_name") if olds.get(k) != news.get(k)]
        if olds.get("user_data_digest") != digest(news.get("user_data") or ""):
            changed.append("user_data")
        return dyn.DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=True)

    def read(self, id_, props):
        import pulumi.dynamic as dyn

        try:
            info = client().request("GET", f"/instances/{id_}")["data"]
        except rest.ApiError as e:
            if e.kind == rest.NOT_FOUND:
                return dyn.ReadResult(id_="", outs={})
            raise
        if info.get("status") in ("terminated", "terminating"):
            return dyn.ReadResult(id_="", outs={})  # gone: refresh drops it, `up` launches it again
        return dyn.ReadResult(id_=id_, outs={**props, "ip": info.get("ip"), "private_ip": info.get("private_ip"),
                                             "status": info.get("status")})

    def delete(self, id_, props):
        _ignore_missing(lambda: client().request("POST", "/instance-operations/terminate", {"instance_ids": [id_]}))


def _active(c: rest.Client, iid: str) -> dict | None:
    info = c.request("GET", f"/instances/{iid}")["data"]
    status = info.get("status")
    if status in ("terminated", "terminating", "unhealthy"):
        raise rest.ApiError("lambda", 200, rest.CAPACITY, status, f"instance {iid} is {status} while booting")
    return info if status == "active" and info.get("ip") else None


def _outs(props: dict, iid: str, info: dict) -> dict:
    from skyc.stacks.dynamic import digest

    outs = {k: v for k, v in props.items() if k != "user_data"}  # holds the host key: not kept in state
    return {**outs, "user_data_digest": digest(props.get("user_data") or ""), "instance_id": iid,
            "ip": info.get("ip"), "private_ip": info.get("private_ip") or info.get("ip"), "status": info.get("status")}


class _Firewall:
    """The cluster's inbound rules inside the account-wide rule list (PUT replaces the list)."""

    def _put(self, props: dict | None, tag: str) -> None:
        c = client()
        rules = [r for r in c.request("GET", "/firewall-rules")["data"] if r.get("description") != tag]
        if props is not None:
            rules += [{"protocol": "tcp", "port_range": [lo, hi], "source_network": props["source_network"],
                       "description": tag} for lo, hi in props["port_ranges"]]
        c.request("PUT", "/firewall-rules", {"data": rules})

    def create(self, props):
        import pulumi.dynamic as dyn

        self._put(props, props["tag"])
        return dyn.CreateResult(id_=props["tag"], outs=props)

    def diff(self, _id, olds, news):
        import pulumi.dynamic as dyn

        changed = [k for k in ("port_ranges", "source_network", "tag") if olds.get(k) != news.get(k)]
        return dyn.DiffResult(changes=bool(changed), replaces=["tag"] if "tag" in changed else [])

    def update(self, _id, olds, news):
        import pulumi.dynamic as dyn

        self._put(news, news["tag"])
        return dyn.UpdateResult(outs=news)

    def delete(self, _id, props):
        self._put(None, props["tag"])


_DYNAMIC = {
    "LambdaSSHKeyProvider": _SSHKey,
    "LambdaInstanceProvider": _Instance,
    "LambdaFirewallProvider": _Firewall,
}
_RESOURCES = {
    "LambdaSSHKey": ("LambdaSSHKeyProvider", ("key_id",)),
    "LambdaInstance": ("LambdaInstanceProvider", ("instance_id", "ip", "private_ip", "status", "user_data_digest")),
    "LambdaFirewall": ("LambdaFirewallProvider", ()),
}


def __getattr__(name: str):
    # Built on first use so importing this module stays free of Pulumi.
    from skyc.stacks import dynamic

    if name in _DYNAMIC:
        cls = dynamic.provider_class(__name__, name, _DYNAMIC[name])
    elif name in _RESOURCES:
        prov, outputs = _RESOURCES[name]
        cls = dynamic.resource_class(__name__, name, globals().get(prov) or __getattr__(prov), outputs)
    else:
        raise AttributeError(name)
    globals()[name] = cls
    return cls


# ---------------------------------------------------------------- provider


def ports_cidr() -> str:
    return str(config.get("lambda.ports_cidr") or OPEN_CIDR)


class LambdaProvider(Provider, SupportsMultiNode, SupportsPorts):
    name = "lambda"
    display_name = "Lambda"
    catalog = "lambda"
    python_package = None  # dynamic resources over REST: no Pulumi SDK, no plugin to download

    def check_credentials(self) -> CredentialReport:
        if api_key():
            return CredentialReport(enabled=True, reason=f"api_key in {CREDENTIALS}")
        return CredentialReport(enabled=False, reason=f"no Lambda API key: create one at {KEY_PAGE} and save "
                                                      f"`api_key = <KEY>` in {CREDENTIALS}")

    def mock_outputs(self, typ: str, name: str, inputs: dict) -> dict | None:
        from skyc.stacks.render import fake_ip

        if typ == "pulumi-python:dynamic:Resource" and "instance_type" in inputs:
            return {"instance_id": f"{name}-id", "ip": fake_ip(name, "203.0"), "private_ip": fake_ip(name, "10.0"),
                    "status": "active"}
        return None

    def validate(self, spec: StackSpec) -> None:
        from skyc.errors import ProviderError

        region = common.require_region(spec, "Lambda")
        if not spec.instance_type:
            raise common.field_error("resources.instance_type", "Lambda needs an instance type (the optimizer normally picks one)")
        if spec.use_spot:
            raise ProviderError("Lambda has no spot instances; remove use_spot")
        if spec.stopped:
            raise ProviderError("Lambda instances cannot be stopped; use `skyc down`")
        if spec.image_id and not spec.image_id.startswith("docker:"):
            raise common.field_error("resources.image_id", "Lambda runs its own Ubuntu image; use image_id: docker:<image> for a container")
        if spec.image_id:
            common.container_image(spec.image_id)
        if spec.disk_tier:
            raise common.field_error("resources.disk_tier", "Lambda instances have a fixed local disk; remove disk_tier")
        if len(spec.stack) > MAX_NAME:
            raise common.field_error("name", f"cluster name {spec.stack!r} is too long for Lambda (at most {MAX_NAME} characters)")
        if spec.ports and region in NO_FIREWALL_REGIONS:
            raise common.field_error("resources.ports", f"Lambda {region} has no firewall rules to open ports with; choose another region")
        common.parse_ports(spec.ports)
        common.check_offered("lambda", "Lambda", spec, InstanceType=spec.instance_type)

    def cleanup(self, stack: str) -> None:
        """After destroy: terminate instances, keys and firewall rules of the cluster that an
        interrupted `up` created before the state recorded them (found by their names)."""
        import re

        if not api_key():
            return
        nodes = re.compile(rf"^{re.escape(stack)}-(head|worker\d+)$")
        keys = re.compile(rf"^skyc-{re.escape(stack)}-[0-9a-f]{{8}}$")
        try:
            c = client()
            ids = [i["id"] for i in c.request("GET", "/instances")["data"]
                   if nodes.match(i.get("name") or "") and i.get("status") not in ("terminated", "terminating")]
            if ids:
                c.request("POST", "/instance-operations/terminate", {"instance_ids": ids})
            for key in c.request("GET", "/ssh-keys")["data"]:
                if keys.match(key.get("name") or ""):
                    _ignore_missing(lambda: c.request("DELETE", f"/ssh-keys/{key['id']}"))
            tag = f"skyc {stack}"
            if any(r.get("description") == tag for r in c.request("GET", "/firewall-rules")["data"]):
                _Firewall()._put(None, tag)
        except rest.ApiError as e:
            from skyc.errors import ProviderError

            raise ProviderError(f"could not check Lambda for leftovers of {stack}: {e}; run `skyc down {stack}` again") from None

    def warnings(self, spec: StackSpec) -> list[str]:
        if spec.ports and ports_cidr() == OPEN_CIDR:
            return ["Lambda firewall rules are account-wide: the task ports open to 0.0.0.0/0 on every instance of the "
                    "account while the cluster is up; set lambda.ports_cidr in config.yaml to restrict them"]
        return []

    def program(self, spec: StackSpec) -> Callable[[], None]:
        self.validate(spec)
        user = common.ssh_user(spec, DEFAULT_USER)
        user_data = common.bootstrap_script("cloud_init.j2", spec, user)
        tags = common.cost_tags(spec)
        public_key = common.public_key(spec)
        from skyc.stacks.dynamic import digest

        key_name = f"skyc-{spec.stack}-{digest(public_key)[:8]}"
        port_ranges = [[lo, hi] for lo, hi in common.parse_ports(spec.ports)]

        def run() -> None:
            import pulumi

            from skyc.stacks import lambda_cloud as me

            key = me.LambdaSSHKey("ssh-key", {"cluster": spec.stack, "name": key_name, "public_key": public_key})
            if port_ranges:
                me.LambdaFirewall("firewall", {"cluster": spec.stack, "tag": f"skyc {spec.stack}",
                                               "port_ranges": port_ranges, "source_network": ports_cidr()})
            addresses = []
            for rank, node in enumerate(common.node_names(spec.num_nodes)):
                inst = me.LambdaInstance(node, {
                    "cluster": spec.stack, "node": node, "rank": rank, "name": f"{spec.stack}-{node}",
                    "region": spec.region, "instance_type": spec.instance_type,
                    "ssh_key_name": key_name,
                    "user_data": common.secret_bootstrap(spec, user_data),
                }, pulumi.ResourceOptions(depends_on=[key]))
                addresses.append(pulumi.Output.all(inst.private_ip, inst.ip))
            common.export_vm_inventory(spec, user, addresses, tags)
            pulumi.export("tags", tags)

        return run
