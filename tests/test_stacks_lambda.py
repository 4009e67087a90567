"""Lambda Cloud: the program under Pulumi mocks, its REST client against a local fake of Lambda's
API (capacity errors, bad key, rate limits), and the real Pulumi engine creating and destroying
a cluster through the dynamic provider, with launch failing over after capacity errors."""

from __future__ import annotations


import pytest

from skyc.errors import ProviderError, SpecError
from skyc.stacks import lambda_cloud, render, rest
from skyc.stacks.base import StackSpec
from skyc.stacks.registry import get
from tests.fake_clouds import FakeLambda, serving

A100_REGIONS = ["us-east-1", "us-west-1", "us-west-2"]
SPEC = StackSpec(stack="c1", provider="lambda", region="us-west-2", instance_type="gpu_8x_a100",
                 accelerator_name="A100", accelerator_count=8, num_nodes=2, ports=["8080", "9000-9010"])


@pytest.fixture
def api(tmp_path, monkeypatch):
    """A fake Lambda API with a key file in a private HOME; the env reaches the engine's plugin."""
    home = tmp_path / "home"
    (home / ".lambda_cloud").mkdir(parents=True)
    (home / ".lambda_cloud" / "lambda_keys").write_text(f"api_key = {FakeLambda.key}\n")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    fake = FakeLambda({"gpu_8x_a100": list(A100_REGIONS), "gpu_1x_a10": ["us-east-1"]})
    with serving(fake, monkeypatch, "SKYC_LAMBDA_API_URL", home) as server:
        yield server


# ---------------------------------------------------------------- program under mocks


def test_program_registers_key_firewall_and_one_instance_per_node():
    out = render.render(SPEC)
    by_name = {r["name"]: r["inputs"] for r in out["resources"]}
    assert sorted(by_name) == ["firewall", "head", "ssh-key", "worker1"]
    key = by_name["ssh-key"]
    assert key["name"].startswith("skyc-c1-") and key["public_key"].startswith("ssh-ed25519 ")
    head, worker = by_name["head"], by_name["worker1"]
    assert (head["region"], head["instance_type"], head["name"]) == ("us-west-2", "gpu_8x_a100", "c1-head")
    assert worker["name"] == "c1-worker1" and head["ssh_key_name"] == worker["ssh_key_name"] == key["name"]
    assert head["user_data"].startswith("#cloud-config") and "ed25519_public" in head["user_data"]
    assert by_name["firewall"]["port_ranges"] == [[8080, 8080], [9000, 9010]]
    assert by_name["firewall"]["tag"] == "skyc c1" and by_name["firewall"]["source_network"] == "0.0.0.0/0"
    assert any("account-wide" in w for w in out["warnings"])
    nodes = out["outputs"]["inventory"]["nodes"]
    assert [(n["name"], n["ssh_user"], n["ssh_port"]) for n in nodes] == [("head", "ubuntu", 22), ("worker1", "ubuntu", 22)]
    assert all(n["public_ip"].startswith("203.0.") and n["accelerators"] == {"A100": 8} for n in nodes)


def test_no_ports_no_firewall_rules():
    names = [r["name"] for r in render.render_resources(SPEC.model_copy(update={"ports": [], "num_nodes": 1}))]
    assert names == ["head", "ssh-key"]


@pytest.mark.parametrize("update, error, match", [
    ({"use_spot": True}, ProviderError, "no spot"),
    ({"stopped": True}, ProviderError, "cannot be stopped"),
    ({"image_id": "ami-0123456789abcdef0"}, SpecError, "docker:"),
    ({"disk_tier": "high"}, SpecError, "disk_tier"),
    ({"region": "us-south-1"}, SpecError, "no firewall"),
    ({"instance_type": "gpu_9x_nothing"}, ProviderError, "does not offer"),
    ({"stack": "x" * 60}, SpecError, "too long"),
])
def test_validation_names_the_problem(update, error, match):
    with pytest.raises(error, match=match):
        get("lambda").validate(SPEC.model_copy(update=update))


def test_capabilities_no_spot_no_stop():
    from skyc.stacks.base import SupportsMultiNode, SupportsPorts, SupportsSpot, SupportsStopStart, supports

    p = get("lambda")
    assert supports(p, SupportsMultiNode) and supports(p, SupportsPorts)
    assert not supports(p, SupportsSpot) and not supports(p, SupportsStopStart)


# ---------------------------------------------------------------- credentials and the REST client


def test_credentials_as_skypilot_reads_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    report = get("lambda").check_credentials()
    assert not report.enabled and "~/.lambda_cloud/lambda_keys" in report.reason and "api_key = <KEY>" in report.reason
    (tmp_path / ".lambda_cloud").mkdir()
    (tmp_path / ".lambda_cloud" / "lambda_keys").write_text("api_key = secret123\n")
    assert get("lambda").check_credentials().enabled and lambda_cloud.api_key() == "secret123"


def test_rate_limits_are_retried_then_reported(api):
    api.rate_limit_next = 2
    assert lambda_cloud.client().request("GET", "/ssh-keys") == {"data": []}
    assert len(api.calls("GET", "/ssh-keys")) == 3
    api.rate_limit_next = 100
    with pytest.raises(rest.ApiError, match="rate limited.*after 6 attempts") as err:
        lambda_cloud.client().request("GET", "/ssh-keys")
    assert err.value.kind == rest.RATE_LIMIT


def test_bad_key_and_capacity_and_not_found_are_classified(api, monkeypatch):
    c = lambda_cloud.client()
    with pytest.raises(rest.ApiError) as err:
        c.request("POST", "/instance-operations/launch", {"region_name": "us-south-1", "instance_type_name": "gpu_8x_a100",
                                                         "ssh_key_names": [], "quantity": 1})
    assert err.value.kind == rest.CAPACITY and "no capacity" in str(err.value)
    with pytest.raises(rest.ApiError) as err:
        c.request("GET", "/instances/nope")
    assert err.value.kind == rest.NOT_FOUND
    api.key = "rotated"
    with pytest.raises(rest.ApiError, match="credentials rejected: API key was invalid") as err:
        c.request("GET", "/instances")
    assert err.value.kind == rest.AUTH and "lambda_keys" in str(err.value)


def test_unreachable_api_is_a_clear_error(monkeypatch, api):
    monkeypatch.setenv("SKYC_LAMBDA_API_URL", "http://127.0.0.1:9/api/v1")
    with pytest.raises(rest.ApiError, match="cannot reach http://127.0.0.1:9"):
        lambda_cloud.client().request("GET", "/instances")


# ---------------------------------------------------------------- the real engine against the fake API


def test_engine_up_and_destroy_leave_the_account_as_it_was(api, engine):
    foreign = {"protocol": "tcp", "port_range": [443, 443], "source_network": "0.0.0.0/0", "description": "web"}
    api.firewall = [foreign]
    inv = engine.up(SPEC)
    live = api.live()
    by_name = {i["name"]: i for i in live}  # the nodes launch in parallel: addresses come in any order
    assert [(n.name, n.public_ip, n.private_ip, n.ssh_user) for n in inv.nodes] == [
        (node, by_name[f"c1-{node}"]["ip"], by_name[f"c1-{node}"]["private_ip"], "ubuntu") for node in ("head", "worker1")]
    (key,) = api.keys.values()
    assert [i["region"]["name"] for i in live] == ["us-west-2", "us-west-2"]
    assert all(i["ssh_key_names"] == [key["name"]] for i in live)
    assert all(inv.head.host_key and inv.head.host_key.split()[1] in i["user_data"] for i in live)  # pinned host key
    assert api.firewall[0] == foreign and [r["port_range"] for r in api.firewall[1:]] == [[8080, 8080], [9000, 9010]]
    state = engine.export("c1")
    assert "BEGIN OPENSSH PRIVATE KEY" not in str(state)  # the host key stays out of the state
    engine.destroy("c1")
    assert api.live() == [] and api.keys == {} and api.firewall == [foreign]


class _UI:
    def __init__(self):
        self.notes: list[str] = []

    def phase(self, _what):
        import contextlib

        return contextlib.nullcontext()

    def note(self, text):
        self.notes.append(text)


def _task(tmp_path, body: str):
    from skyc.compiler.spec import load_tasks

    f = tmp_path / "task.yaml"
    f.write_text(body)
    (task,) = load_tasks(f)
    return task


def test_capacity_errors_fail_over_to_the_next_region(api, engine, tmp_path):
    from skyc import registry as reg
    from skyc.cli.status import cost_rows
    from skyc.lifecycle import ops
    from skyc.lifecycle.launch import provision_with_failover

    # Same price everywhere: regions are tried in name order.
    api.launch_fails_in = {"us-west-1"}  # advertised, but gone by the time of the launch
    ui = _UI()
    task = _task(tmp_path, "resources:\n  infra: lambda/us-west-*\n  accelerators: A100:8\n")
    chosen = provision_with_failover(task, "fo", ui=ui, ssh_config=False)
    assert chosen.stack.region == "us-west-2"
    failed = [n for n in ui.notes if n.startswith("Provisioning on")]
    assert [n.split(" failed")[0] for n in failed] == ["Provisioning on lambda/us-west-1"]
    assert "no capacity" in failed[0] and "insufficient-capacity" in failed[0]
    assert [i["region"]["name"] for i in api.live()] == ["us-west-2"] and len(api.keys) == 1  # nothing orphaned
    ops.down("fo")
    assert api.live() == [] and api.keys == {}
    # cost-report prices the cluster at the catalog's $/h, after it is gone too; the failed attempt never ran
    rows = {r["region"]: r for r in cost_rows(reg.Registry())}
    assert sorted(rows) == ["us-west-1", "us-west-2"]
    assert all(r["cloud"] == "lambda" and r["hourly_price"] == 10.32 for r in rows.values())
    assert rows["us-west-1"]["total_cost"] == 0
    assert rows["us-west-2"]["total_cost"] == pytest.approx(rows["us-west-2"]["duration"] / 3600 * 10.32, abs=0.02)


def test_a_region_without_advertised_capacity_is_not_launched_in(api):
    """Launches are rate limited to a few a minute: the instance-types capacity list is asked first."""
    key = lambda_cloud.client().request("POST", "/ssh-keys", {"name": "k", "public_key": "ssh-ed25519 AAAA"})["data"]
    props = {"name": "c-head", "region": "us-east-2", "instance_type": "gpu_8x_a100", "ssh_key_name": key["name"],
             "user_data": "#cloud-config\n", "timeout": 5}
    with pytest.raises(rest.ApiError, match="no capacity: no gpu_8x_a100 capacity in us-east-2") as err:
        lambda_cloud._Instance().create(props)
    assert err.value.kind == rest.CAPACITY and api.calls("POST", "/instance-operations/launch") == []
    api.boot_polls = 10_000  # never becomes active: the launched instance is terminated, not left behind
    with pytest.raises(TimeoutError):
        lambda_cloud._Instance().create({**props, "region": "us-east-1", "timeout": 0.3})
    assert len(api.calls("POST", "/instance-operations/launch")) == 1 and api.live() == []


def test_rejected_key_stops_the_launch_without_trying_every_region(api, engine, tmp_path):
    from skyc.errors import ResourcesUnavailableError
    from skyc.lifecycle.launch import provision_with_failover

    api.key = "revoked"
    ui = _UI()
    task = _task(tmp_path, "resources:\n  infra: lambda\n  accelerators: A100:8\n")
    with pytest.raises(ResourcesUnavailableError):
        provision_with_failover(task, "badkey", ui=ui, ssh_config=False)
    failed = [n for n in ui.notes if n.startswith("Provisioning on")]
    assert len(failed) == 1 and "credentials rejected" in failed[0]
    assert api.instances == {} and api.keys == {}


def test_down_sweeps_what_an_interrupted_launch_left(api, monkeypatch):
    """An `up` killed after Lambda launched the instance but before the state recorded it:
    destroy's clean-up finds the cluster's instances, key and rules by name, and nothing else."""
    c = lambda_cloud.client()
    for name in ("c1-ssh", "other"):
        c.request("POST", "/ssh-keys", {"name": f"skyc-{name}-0123abcd", "public_key": "ssh-ed25519 AAAA"})
    c.request("POST", "/instance-operations/launch", {"region_name": "us-east-1", "instance_type_name": "gpu_8x_a100",
                                                      "ssh_key_names": ["skyc-c1-ssh-0123abcd"], "quantity": 1, "name": "c1-ssh-head"})
    c.request("POST", "/instance-operations/launch", {"region_name": "us-east-1", "instance_type_name": "gpu_8x_a100",
                                                      "ssh_key_names": ["skyc-other-0123abcd"], "quantity": 1, "name": "other-head"})
    api.firewall = [{"protocol": "tcp", "port_range": [80, 80], "source_network": "0.0.0.0/0", "description": "skyc c1-ssh"},
                    {"protocol": "tcp", "port_range": [443, 443], "source_network": "0.0.0.0/0", "description": "web"}]
    get("lambda").cleanup("c1-ssh")
    assert [i["name"] for i in api.live()] == ["other-head"]
    assert [k["name"] for k in api.keys.values()] == ["skyc-other-0123abcd"]
    assert [r["description"] for r in api.firewall] == ["web"]
    monkeypatch.setenv("SKYC_LAMBDA_API_URL", "http://127.0.0.1:9/api/v1")  # nothing listens there
    with pytest.raises(ProviderError, match="run `skyc down other` again"):
        get("lambda").cleanup("other")
