"""Task YAML: every accepted form normalises to the expected canonical value; every bad input is located."""

from __future__ import annotations

import textwrap

import pytest

from skyc.compiler.spec import Task, apply_overrides, load_task_from_text, load_tasks
from skyc.errors import SpecError, UsageError


def load1(text: str, **kw) -> Task:
    tasks = load_task_from_text(textwrap.dedent(text), filename="t.yaml", **kw)
    assert len(tasks) == 1
    return tasks[0]


def cands(text: str):
    return load1(text).resources.candidates


def issues_of(text: str, **kw):
    with pytest.raises(SpecError) as e:
        load_task_from_text(textwrap.dedent(text), filename="t.yaml", **kw)
    return e.value.issues


# --- valid forms -------------------------------------------------------------------------------------------

RES = "resources:\n  "

VALID_RESOURCES = [
    # (yaml, mode, [(attr, value) checked on every candidate or list per candidate])
    ("accelerators: A100", "single", [{"accelerator": ("A100", 1)}]),
    ("accelerators: a100:8", "single", [{"accelerator": ("A100", 8)}]),
    ("accelerators: A100:0.5", "single", [{"accelerator": ("A100", 0.5)}]),
    ("accelerators: {A100: 8}", "single", [{"accelerator": ("A100", 8)}]),
    ("gpus: H100:2", "single", [{"accelerator": ("H100", 2)}]),
    ("accelerators: {A100: 8, V100: 4}", "any_of", [{"accelerator": ("A100", 8)}, {"accelerator": ("V100", 4)}]),
    ("accelerators: {A100:8, V100:8}", "any_of", [{"accelerator": ("A100", 8)}, {"accelerator": ("V100", 8)}]),
    ("accelerators: {A100: null}", "single", [{"accelerator": ("A100", 1)}]),
    ("accelerators: [A100:8, V100:8]", "ordered", [{"accelerator": ("A100", 8)}, {"accelerator": ("V100", 8)}]),
    ("accelerators: TPU-V2-8", "single", [{"accelerator": ("tpu-v2-8", 1), "cloud": "gcp"}]),
    ("cpus: 8", "single", [{"cpus": 8.0, "cpus_at_least": False}]),
    ("cpus: 8+", "single", [{"cpus": 8.0, "cpus_at_least": True}]),
    ("cpus: '0.5'", "single", [{"cpus": 0.5}]),
    ("memory: 32", "single", [{"memory": 32.0, "memory_at_least": False}]),
    ("memory: 32GB+", "single", [{"memory": 32.0, "memory_at_least": True}]),
    ("memory: 1TB", "single", [{"memory": 1024.0}]),
    ("memory: 512MB", "single", [{"memory": 0.5}]),
    ("infra: aws", "single", [{"cloud": "aws", "region": None, "zone": None}]),
    ("infra: AWS/us-east-1", "single", [{"cloud": "aws", "region": "us-east-1"}]),
    ("infra: aws/us-east-1/use1-az1", "single", [{"cloud": "aws", "region": "us-east-1", "zone": "use1-az1"}]),
    # a zone alone names its region, and a region or zone found in one catalog only names its cloud
    ("infra: aws/*/use1-az1", "single", [{"cloud": "aws", "region": "us-east-1", "zone": "use1-az1"}]),
    ("infra: '*/eastus'", "single", [{"cloud": "azure", "region": "eastus"}]),
    ("infra: '*/*/europe-west4-a'", "single", [{"cloud": "gcp", "region": "europe-west4", "zone": "europe-west4-a"}]),
    ("infra: GCP/US-Central1", "single", [{"cloud": "gcp", "region": "us-central1"}]),
    ("infra: 'gcp/us-*'", "single", [{"cloud": "gcp", "region": "us-*"}]),
    ("infra: k8s/ctx/", "single", [{"cloud": "kubernetes", "region": "ctx"}]),
    ("infra: k8s", "single", [{"cloud": "kubernetes", "region": None}]),
    ("infra: k8s/gke_proj/us:ctx", "single", [{"cloud": "kubernetes", "region": "gke_proj/us:ctx"}]),
    ("infra: ssh/lab", "single", [{"cloud": "ssh", "region": "lab"}]),
    ("infra: local", "single", [{"cloud": "local"}]),
    ("instance_type: p4d.24xlarge", "single", [{"instance_type": "p4d.24xlarge", "cloud": "aws"}]),
    ("{instance_type: n1-standard-8, cpus: 8, memory: 30+}", "single", [{"cloud": "gcp", "cpus": 8.0}]),
    ("use_spot: true", "single", [{"use_spot": True}]),
    ("disk_size: 100", "single", [{"disk_size": 100}]),
    ("disk_size: 1TB", "single", [{"disk_size": 1024}]),
    ("disk_tier: HIGH", "single", [{"disk_tier": "high"}]),
    ("network_tier: best", "single", [{"network_tier": "best"}]),
    ("ports: 8080", "single", [{"ports": ("8080",)}]),
    ("ports: [8081, '8080', '8082-8085']", "single", [{"ports": ("8080-8085",)}]),
    ("ports: '9000,8000-8010'", "single", [{"ports": ("8000-8010", "9000")}]),
    ("image_id: docker:ubuntu:22.04", "single", [{"image_id": {"docker": "ubuntu:22.04"}}]),
    ("{infra: aws/us-east-1, image_id: ami-123}", "single", [{"image_id": {"*": "ami-123"}}]),
    ("{infra: aws, image_id: {us-east-1: ami-1, us-west-2: ami-2}}", "single",
     [{"image_id": {"us-east-1": "ami-1", "us-west-2": "ami-2"}}]),
    ("{infra: k8s, image_id: myimg:1}", "single", [{"image_id": {"docker": "myimg:1"}}]),
    ("labels: {team: ml}", "single", [{"labels": {"team": "ml"}}]),
    ("max_hourly_cost: 3.5", "single", [{"max_hourly_cost": 3.5}]),
    ("priority: 10", "single", [{"priority": 10}]),
    ("local_disk: nvme", "single", [{"local_disk": "nvme:100+"}]),
    ("{any_of: [{infra: aws}, {infra: gcp}]}", "any_of", [{"cloud": "aws"}, {"cloud": "gcp"}]),
    ("{ordered: [{infra: gcp}, {infra: aws}]}", "ordered", [{"cloud": "gcp"}, {"cloud": "aws"}]),
    ("{accelerators: {A100: 1, T4: 1}, any_of: [{infra: aws}, {infra: gcp}]}", "any_of",
     [{"cloud": "aws", "accelerator": ("A100", 1)}, {"cloud": "aws", "accelerator": ("T4", 1)},
      {"cloud": "gcp", "accelerator": ("A100", 1)}, {"cloud": "gcp", "accelerator": ("T4", 1)}]),
    ("{cpus: 4, labels: {a: '1', b: '2'}, any_of: [{infra: aws, labels: {b: x}}, {cpus: 8}]}", "any_of",
     [{"cpus": 4.0, "labels": {"a": "1", "b": "x"}}, {"cpus": 8.0, "labels": {"a": "1", "b": "2"}}]),
]


def _acc(r):
    return None if r.accelerator is None else (r.accelerator.name, r.accelerator.count)


@pytest.mark.parametrize("body,mode,expected", VALID_RESOURCES, ids=[v[0] for v in VALID_RESOURCES])
def test_resource_forms(body, mode, expected):
    text = RES + body if not body.startswith("{") else "resources: " + body
    task = load1(text)
    assert task.resources.mode == mode
    got = task.resources.candidates
    assert len(got) == len(expected)
    for r, exp in zip(got, expected):
        for attr, value in exp.items():
            actual = _acc(r) if attr == "accelerator" else getattr(r, attr)
            assert actual == value, (attr, actual, value)


@pytest.mark.parametrize("body,idle,enabled,down", [
    ("autostop: false", 0, False, False),
    ("autostop: true", 0, True, False),
    ("autostop: 10", 10, True, False),
    ("autostop: '2h'", 120, True, False),
    ("autostop: 1d", 1440, True, False),
    ("autostop: {idle_minutes: 5, down: true, wait_for: jobs}", 5, True, True),
])
def test_autostop_forms(body, idle, enabled, down):
    (r,) = cands(RES + body)
    assert (r.autostop.idle_minutes, r.autostop.enabled, r.autostop.down) == (idle, enabled, down)


def test_autostop_hook_moves_to_config_hooks():
    t = load1(RES + "autostop: {idle_minutes: 5, down: true, hook: echo bye, hook_timeout: 60}")
    assert t.config["hooks"] == [{"run": "echo bye", "events": ["down"], "timeout": 60}]


@pytest.mark.parametrize("body,strategy,restarts,codes", [
    ("job_recovery: failover", "FAILOVER", 0, ()),
    ("job_recovery: {strategy: EAGER_NEXT_REGION, max_restarts_on_errors: 3, recover_on_exit_codes: [33, 34]}",
     "EAGER_NEXT_REGION", 3, (33, 34)),
    ("job_recovery: {max_restarts_on_errors: 1, recover_on_exit_codes: 7}", None, 1, (7,)),
])
def test_job_recovery_forms(body, strategy, restarts, codes):
    (r,) = cands(RES + body)
    assert (r.job_recovery.strategy, r.job_recovery.max_restarts_on_errors, r.job_recovery.recover_on_exit_codes) \
        == (strategy, restarts, codes)


def test_job_recovery_none_is_unset():
    (r,) = cands(RES + "job_recovery: none")
    assert r.job_recovery is None


def test_memory_based_accelerators_expand_from_catalog_memory():
    task = load1(RES + "accelerators: nvidia:80GB+:8")
    names = {r.accelerator.name for r in task.resources.candidates}
    assert task.resources.mode == "any_of"
    assert {"A100-80GB", "H100", "H200"} <= names
    assert "T4" not in names and "A100" not in names  # 16 GB and 40 GB parts do not qualify
    assert all(r.accelerator.count == 8 for r in task.resources.candidates)
    exact = {r.accelerator.name for r in cands(RES + "accelerators: 16GB")}
    assert "T4" in exact and "H100" not in exact


def test_tpu_defaults_and_args():
    (r,) = cands(RES + "accelerators: tpu-v2-8\n  accelerator_args: {tpu_name: mytpu}")
    assert r.cloud == "gcp"
    assert r.accelerator_args == {"runtime_version": "tpu-vm-base", "tpu_vm": True, "tpu_name": "mytpu"}


def test_deprecated_cloud_fields_warn_but_load():
    t = load1(RES + "cloud: AWS\n  region: us-east-1")
    (r,) = t.resources.candidates
    assert (r.cloud, r.region) == ("aws", "us-east-1")
    assert any("deprecated" in w and "infra: aws/us-east-1" in w for w in t.warnings)


def test_top_level_fields():
    t = load1("""
        name: job
        workdir: {url: https://x/y.git, ref: v1}
        num_nodes: 3
        resources: null
        envs: {A: 1, B: true, C: x}
        secrets: [secrets:TOKEN]
        setup: echo s
        run:
        event_callback: echo cb
        """)
    assert t.name == "job" and t.num_nodes == 3 and t.workdir.url == "https://x/y.git" and t.workdir.ref == "v1"
    assert t.envs == {"A": "1", "B": "True", "C": "x"}  # str() of YAML values, like SkyPilot
    assert t.secrets == {"TOKEN": None} and t.missing_secrets() == ["TOKEN"]
    assert t.run is None and t.setup == "echo s"
    assert t.resources.mode == "single" and t.resources.candidates[0].cloud is None


def test_file_mounts_and_storage_forms():
    t = load1("""
        file_mounts:
          /a: ./local
          /b: s3://bucket/path
          /c: {name: bkt, source: ./dir, mode: mount_cached}
          /d: {source: [./x, ./y], mode: COPY, name: b2}
        """)
    assert t.file_mounts["/a"] == "./local" and t.file_mounts["/b"] == "s3://bucket/path"
    assert t.file_mounts["/c"].mode == "MOUNT_CACHED" and t.file_mounts["/c"].persistent is True
    assert t.file_mounts["/d"].source == ["./x", "./y"]


def test_service_normalisation():
    t = load1("""
        service:
          readiness_probe: /health
          replicas: 2
        resources: {ports: 8080}
        """)
    s = t.service
    assert s.readiness_probe.path == "/health" and s.readiness_probe.initial_delay_seconds == 1200
    assert (s.replica_policy.min_replicas, s.replica_policy.max_replicas, s.replicas) == (2, 2, None)
    assert s.ports == 8080
    post = load1("""
        service:
          readiness_probe: {path: /v1, post_data: '{"q": 1}'}
          ports: 9000
          load_balancing_policy: ROUND_ROBIN
        resources: {ports: [9000, 9001]}
        """).service
    assert post.readiness_probe.post_data == {"q": 1} and post.load_balancing_policy == "round_robin"


def test_multi_document_pipeline():
    tasks = load_task_from_text("name: pipe\n---\nrun: a\n---\nname: second\nrun: b\n", filename="p.yaml")
    assert [t.name for t in tasks] == ["pipe-0", "second"]
    assert all(t.dag_name == "pipe" for t in tasks)
    chain = load_task_from_text("run: a\n---\nrun: b\n")
    assert [t.run for t in chain] == ["a", "b"]
    header_only = load_task_from_text("name: solo\nexecution: serial\n")
    assert [t.name for t in header_only] == ["solo"]


# --- envs, secrets, substitution ---------------------------------------------------------------------------


def test_env_overrides_and_substitution(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nexport SIZE=small\nFROM_FILE='quoted value'\n")
    monkeypatch.setenv("LOCAL_ONLY", "from-shell")
    t = load1("""
        envs: {SIZE: null, BUCKET: data, KEEP: x}
        secrets: {TOKEN: null}
        workdir: ~/code/$BUCKET
        file_mounts:
          /ckpt/${SIZE}: s3://$BUCKET/$SIZE/$NOPE
        """, env_file=str(env_file), env_overrides={"KEEP": "y", "LOCAL_ONLY": None},
        secret_overrides={"TOKEN": "s3cr3t"})
    assert t.envs["SIZE"] == "small" and t.envs["KEEP"] == "y" and t.envs["FROM_FILE"] == "quoted value"
    assert t.file_mounts == {"/ckpt/small": "s3://data/small/$NOPE"}  # unknown names stay verbatim
    assert t.workdir == "~/code/data"
    assert t.secrets["TOKEN"] == "s3cr3t" and t.secrets["SIZE"] == "small"  # env-file entries are secrets too
    assert t.envs["LOCAL_ONLY"] == "from-shell"  # `--env NAME` copies the local value


def test_env_override_copied_from_local_environment(monkeypatch):
    monkeypatch.setenv("FROM_SHELL", "v1")
    t = load1("envs: {FROM_SHELL: null}", env_overrides={"FROM_SHELL": None})
    assert t.envs["FROM_SHELL"] == "v1"
    monkeypatch.delenv("FROM_SHELL")
    with pytest.raises(UsageError):
        load1("envs: {FROM_SHELL: null}", env_overrides={"FROM_SHELL": None})


def test_secrets_are_redacted_everywhere():
    t = load1("""
        secrets: {API_KEY: hunter2-secret}
        file_mounts: {/x: s3://b/$API_KEY}
        """)
    dump = t.redacted()
    text = repr(dump) + repr(t)
    assert "hunter2-secret" not in text
    assert dump["secrets"] == {"API_KEY": "<redacted>"}
    assert dump["file_mounts"]["/x"] == "s3://b/<redacted>"
    assert t.secrets["API_KEY"] == "hunter2-secret"  # the value itself is still there for the runtime


# --- overrides ---------------------------------------------------------------------------------------------


def test_apply_overrides_to_every_candidate():
    t = load1(RES + "infra: aws/us-east-1/use1-az1\n  cpus: 4\n  any_of: [{accelerators: A100}, {accelerators: T4}]")
    o = apply_overrides(t, infra="gcp", cpus="8+", use_spot=True, num_nodes=2, disk_size="512",
                        ports=["8080", "8081"], memory="none")
    assert o.num_nodes == 2 and o.resources.mode == "any_of"
    for r in o.resources.candidates:
        assert (r.cloud, r.region, r.zone) == ("gcp", None, None)  # --infra resets all three
        assert (r.cpus, r.cpus_at_least, r.use_spot, r.disk_size, r.ports) == (8, True, True, 512, ("8080-8081",))
    g = apply_overrides(t, gpus="H100:8")
    assert {str(r.accelerator) for r in g.resources.candidates} == {"H100:8"}
    assert len(g.resources.candidates) == 1
    cleared = apply_overrides(t, gpus="none", image_id="none", instance_type="none")
    assert all(r.accelerator is None for r in cleared.resources.candidates)
    assert t.resources.candidates[0].cpus == 4  # original untouched
    tpu = apply_overrides(load1("run: x"), gpus="tpu-v2-8")
    assert tpu.resources.candidates[0].cloud == "gcp"
    assert tpu.resources.candidates[0].accelerator_args["tpu_vm"] is True
    with pytest.raises(UsageError, match="TPU"):
        apply_overrides(load1(RES + "infra: aws"), gpus="tpu-v2-8")
    mem = apply_overrides(load1("run: x"), gpus="80GB+")
    assert mem.resources.mode == "any_of" and len(mem.resources.candidates) > 3
    with pytest.raises(UsageError, match="--cpus"):
        apply_overrides(t, cpus="lots")
    with pytest.raises(UsageError, match="--infra"):
        apply_overrides(t, infra="aws/a/b/c")


# --- invalid inputs: field path and line -------------------------------------------------------------------

INVALID = [
    # (yaml, field, line, message fragment)
    ("nme: x\n", "nme", 1, "did you mean 'name'"),
    ("name: x\nresources:\n  acclerators: A100\n", "resources.acclerators", 3, "did you mean 'accelerators'"),
    ("resources:\n  spot_recovery: FAILOVER\n", "resources.spot_recovery", 2, "job_recovery"),
    ("resources:\n  hooks: []\n", "resources.hooks", 2, "config.hooks"),
    ("num_nodes: 0\n", "num_nodes", 1, "greater than or equal to 1"),
    ("num_nodes: '2'\n", "num_nodes", 1, "valid integer"),
    ("run: [a, b]\n", "run", 1, "string"),
    ("resources:\n  cpus: -2\n", "resources.cpus", 2, "greater than 0"),
    ("resources:\n  cpus: many\n", "resources.cpus", 2, "'8+'"),
    ("resources:\n  memory: 16G\n", "resources.memory", 2, "size"),
    ("resources:\n  accelerators: A100:x\n", "resources.accelerators", 2, "must be a number"),
    ("resources:\n  accelerators: A100:0\n", "resources.accelerators", 2, "greater than 0"),
    ("resources:\n  accelerators: A:1:2\n", "resources.accelerators", 2, "NAME:COUNT"),
    ("resources:\n  gpus: A100\n  accelerators: A100\n", "resources.gpus", 2, "not both"),
    ("resources:\n  infra: aws\n  cloud: aws\n", "resources.infra", 2, "cannot be combined"),
    ("resources:\n  infra: aws//x\n", "resources.infra", 2, "empty part"),
    ("resources:\n  infra: aws/a/b/c\n", "resources.infra", 2, "too many parts"),
    ("resources:\n  infra: awz\n", "resources.infra", 2, "did you mean 'aws'"),
    ("resources:\n  ports: 70000\n", "resources.ports", 2, "out of range"),
    ("resources:\n  ports: '9-3'\n", "resources.ports", 2, "start after its end"),
    ("resources:\n  disk_size: 0\n", "resources.disk_size", 2, "greater than or equal to 1"),
    ("resources:\n  disk_tier: fast\n", "resources.disk_tier", 2, "low, medium"),
    ("resources:\n  network_tier: turbo\n", "resources.network_tier", 2, "standard, best"),
    ("resources:\n  image_id: ami-1\n", "resources.image_id", 2, "needs a cloud"),
    ("resources:\n  infra: aws\n  image_id: ami-1\n", "resources.image_id", 3, "per region"),
    ("resources:\n  image_id: {docker: a, r1: 'docker:b'}\n", "resources.image_id", 2, "not both"),
    ("resources:\n  autostop: soon\n", "resources.autostop", 2, "'2h'"),
    ("resources:\n  job_recovery: sometimes\n", "resources.job_recovery", 2, "EAGER_NEXT_REGION"),
    ("resources:\n  priority: 5000\n", "resources.priority", 2, "less than or equal to 1000"),
    ("resources:\n  accelerators: tpu-v2-8\n  infra: aws\n", "resources.accelerators", 2, "only available on gcp"),
    ("resources:\n  accelerators: tpu-v2-8\n  instance_type: n1-standard-8\n", "resources.instance_type", 3,
     "conflicts with TPU VM"),
    ("resources:\n  accelerator_args: {tpu_vm: true}\n", "resources.accelerator_args", 2, "TPU"),
    ("resources:\n  any_of: [{infra: aws}]\n  ordered: [{infra: gcp}]\n", "resources.ordered", 3, "not both"),
    ("resources:\n  accelerators: [A100, V100]\n  any_of: [{infra: aws}]\n", "resources.accelerators", 2,
     "cannot be combined with any_of"),
    ("resources:\n  accelerators: {A100: 1, V100: 1}\n  ordered: [{infra: aws}]\n", "resources.accelerators", 2,
     "cannot be combined with ordered"),
    ("resources:\n  any_of:\n    - infra: aws\n      any_of: []\n", "resources.any_of[0].any_of", 4, "unknown field"),
    ("resources:\n  any_of:\n    - accelerators: [A100, T4]\n", "resources.any_of[0].accelerators", 3,
     "one accelerator"),
    ("resources:\n  any_of:\n    - {autostop: 5}\n    - {autostop: 10}\n", "resources.autostop", 2, "same autostop"),
    ("envs:\n  OK: 1\n  NEED: null\n", "envs.NEED", 3, "--env NEED=VALUE"),
    ("envs:\n  1BAD: x\n", "envs.1BAD", 2, "not a valid variable name"),
    ("secrets: [TOKEN]\n", "secrets[0]", 1, "secrets:NAME"),
    ("secrets:\n  'secrets:X': val\n", "secrets.secrets:X", 2, "reference"),
    ("workdir: {url: x, branch: main}\n", "workdir.branch", 1, "unknown field"),
    ("workdir: {ref: main}\n", "workdir", 1, "missing required field 'url'"),
    ("file_mounts:\n  s3://x/y: /local\n", "file_mounts.s3://x/y", 2, "not a URL"),
    ("file_mounts:\n  /a/: /local\n", "file_mounts./a/", 2, "end with '/'"),
    ("file_mounts:\n  /a: {name: b, mode: BIND}\n", "file_mounts./a.mode", 2, "MOUNT, COPY"),
    ("file_mounts:\n  /a: {source: ./dir}\n", "file_mounts./a.name", 2, "needs a bucket name"),
    ("file_mounts:\n  /a: {nmae: b}\n", "file_mounts./a.nmae", 2, "did you mean 'name'"),
    ("volumes:\n  rel/path: vol\n", "volumes.rel/path", 2, "absolute"),
    ("service:\n  readiness_probe: health\n  ports: 80\n", "service.readiness_probe", 2, "start with '/'"),
    ("service:\n  replicas: 2\n  replica_policy: {min_replicas: 1}\n  ports: 80\n", "service.replicas", 2,
     "not both"),
    ("service:\n  replica_policy: {min_replicas: 3, max_replicas: 1}\n  ports: 80\n",
     "service.replica_policy.max_replicas", 2, ">= min_replicas"),
    ("service:\n  replica_policy: {min_replicas: 1, max_replicas: 3}\n  ports: 80\n",
     "service.replica_policy.max_replicas", 2, "target_qps_per_replica"),
    ("service:\n  replica_policy: {min_replicas: 1}\n", "service.ports", 2, "needs one port"),
    ("service:\n  load_balancing_policy: random\n  ports: 80\n", "service.load_balancing_policy", 2, "least_load"),
    ("service:\n  replica_policy: {min_replicas: 1, base_ondemand_fallback_replicas: 1}\n  ports: 80\n",
     "service.replica_policy", 2, "use_spot"),
    ("service:\n  ports: 80\nresources:\n  job_recovery: FAILOVER\n", "resources.job_recovery", 4, "managed jobs"),
    ("service:\n  ports: 80\npool: {workers: 1}\n", "pool", 3, "not both"),
    ("config:\n  aws: {vpc_name: x}\n", "config.aws", 2, "cannot be set per task"),
    ("config:\n  gcp: {vpcname: x}\n", "config.gcp.vpcname", 2, "did you mean 'vpc_name'"),
    ("config:\n  hooks:\n    - run: ''\n", "config.hooks[0].run", 3, "at least 1"),
    ("envs:\n  SKYPILOT_DOCKER_USERNAME: u\n", "envs", 2, "all together"),
    ("inputs: {s3://a: 1, s3://b: 2}\n", "inputs", 1, "at most 1"),
]


@pytest.mark.parametrize("text,field,line,fragment", INVALID, ids=[v[1] + ":" + v[3][:20] for v in INVALID])
def test_invalid_inputs_are_located(text, field, line, fragment):
    issues = issues_of(text)
    match = [i for i in issues if i.field == field]
    assert match, [i.format() for i in issues]
    assert match[0].line == line, match[0].format()
    assert match[0].file == "t.yaml" and match[0].column is not None
    assert fragment in match[0].message, match[0].message


def test_all_issues_of_a_file_are_reported():
    issues = issues_of("""
        name: x
        num_nodes: 0
        resources:
          cpus: -1
          disk_tier: fast
        envs: {NEED: null}
        config: {nope: 1}
        """)
    fields = {i.field for i in issues}
    assert {"num_nodes", "resources.cpus", "resources.disk_tier", "envs.NEED", "config.nope"} <= fields
    assert [i.line for i in issues] == sorted(i.line for i in issues)


@pytest.mark.parametrize("text,line,fragment", [
    ("name: a\nname: b\n", 2, "duplicate key 'name'"),
    ("resources:\n  cpus: [1\nrun: x\n", 3, "YAML syntax error"),
    ("run: 'unterminated\n", 2, "YAML syntax error"),
])
def test_yaml_errors_are_located(text, line, fragment):
    (issue,) = issues_of(text)
    assert issue.line == line and fragment in issue.message


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file_is_an_empty_task_with_a_warning(text):
    # SkyPilot loads an empty file as one empty task; skyc too, and says so.
    (task,) = load_task_from_text(text, filename="t.yaml")
    assert task.run is None and task.setup is None and task.resources.candidates[0].cloud is None
    assert any("empty" in w for w in task.warnings)


@pytest.mark.parametrize("text,fragment", [
    ("just a string\n", "must be a mapping"),
    ("- a\n- b\n", "must be a mapping"),
    ("1: x\n", "field names must be strings"),
])
def test_degenerate_documents(text, fragment):
    issues = issues_of(text)
    assert fragment in issues[0].message


def test_missing_file():
    with pytest.raises(SpecError, match="no such file"):
        load_tasks("/nonexistent/task.yaml")


def test_job_group_needs_unique_names():
    issues = issues_of("name: grp\nexecution: parallel\n---\nname: a\nrun: x\n---\nname: a\nrun: y\n")
    assert "unique name" in issues[0].message
    issues = issues_of("name: p\nexecution: sideways\n---\nrun: x\n")
    assert issues[0].field == "execution" and issues[0].line == 2


def test_errors_in_later_documents_point_at_their_own_lines():
    issues = issues_of("name: p\n---\nrun: a\n---\nrun: b\nresources:\n  cpus: zero\n")
    (issue,) = issues
    assert (issue.field, issue.line, issue.column) == ("resources.cpus", 7, 9)
