"""Property tests: mutated tasks fail only with SpecError; valid tasks survive load -> dump -> load."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyc.compiler.spec import load_task_from_text
from skyc.compiler.yaml_loader import dump
from skyc.errors import SpecError

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))
BASES = [list(yaml.safe_load_all(p.read_text())) for p in EXAMPLES]
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["A100:8", "80GB+", "tpu-v2-8", "aws/us-east-1", "8+", "1TB", "8080-8081", "$HOME", "none",
                     "docker:x", "k8s/ctx", "*/*/z", "ssh/pool", "10h", "MOUNT", "/path", "s3://b", "ü—🙂"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _set(root, path, value):
    if not path:
        return value
    cur = root
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value
    return root


@st.composite
def mutated(draw):
    docs = copy.deepcopy(draw(st.sampled_from(BASES)))
    i = draw(st.integers(0, len(docs) - 1))
    doc = docs[i]
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "unknown_key", "delete", "nest"]))
        if action == "replace":
            doc = _set(doc, path, draw(values))
        elif action == "unknown_key":
            target = doc
            for p in path:
                target = target[p]
            if isinstance(target, dict):
                target[draw(st.text(min_size=1, max_size=10))] = draw(values)
        elif action == "delete" and path:
            parent = doc
            for p in path[:-1]:
                parent = parent[p]
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
        elif action == "nest":
            deep = draw(values)
            for _ in range(draw(st.integers(1, 60))):
                deep = {"k": deep} if draw(st.booleans()) else [deep]
            doc = _set(doc, path, deep)
    docs[i] = doc
    return "---\n".join(yaml.safe_dump(d, allow_unicode=True) for d in docs)


@SETTINGS
@given(mutated())
def test_mutations_raise_only_spec_error(text):
    try:
        tasks = load_task_from_text(text, filename="m.yaml")
    except SpecError as e:
        assert e.issues and all(i.message for i in e.issues)
        # The loader's last-resort net must not have been needed: every problem is a real validation finding.
        assert not any(i.message.startswith("could not load the task") for i in e.issues), str(e)
        return
    assert tasks  # valid mutation: still loads


@SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_spec_error(text):
    try:
        load_task_from_text(text)
    except SpecError as e:
        assert not any(i.message.startswith("could not load the task") for i in e.issues), str(e)


def _comparable(task) -> dict:
    data = task.model_dump(mode="json")
    data.pop("warnings")
    data.pop("source_file")
    return data


def _roundtrip(text: str) -> None:
    first = load_task_from_text(text)
    dumped = "---\n".join(dump(t.to_yaml_config()) for t in first)
    if first[0].dag_name:
        dumped = dump({"name": first[0].dag_name}) + "---\n" + dumped
    second = load_task_from_text(dumped)
    assert [_comparable(t) for t in first] == [_comparable(t) for t in second]


def test_examples_round_trip():
    for p in EXAMPLES:
        _roundtrip(p.read_text())


accel = st.sampled_from([None, "A100:8", "a100", {"H100": 2}, ["A100:8", "V100:8"], {"A100": 1, "T4": 1},
                         "80GB+", "tpu-v2-8", "L4:0.5"])
infra = st.sampled_from([None, "aws", "gcp/us-central1", "aws/us-east-1/use1-az1", "k8s/ctx", "ssh/pool", "local",
                         "*/eastus"])
cpus = st.one_of(st.none(), st.integers(1, 256), st.sampled_from(["8+", "0.5", "2"]))
memory = st.one_of(st.none(), st.integers(1, 2048), st.sampled_from(["32GB+", "1TB", "64+", "512MB"]))
ports = st.one_of(st.none(), st.integers(1, 65535), st.lists(st.integers(1, 65535), max_size=5),
                  st.sampled_from(["8000-8010", "22,80"]))
autostop = st.sampled_from([None, True, False, 30, "2h", {"idle_minutes": 5, "down": True}])
env_vals = st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True),
                           st.text(alphabet=st.characters(blacklist_characters="$", blacklist_categories=("Cs",)),
                                   max_size=10), max_size=3)


@st.composite
def valid_task(draw):
    res = {}
    for key, strat in (("accelerators", accel), ("cpus", cpus), ("memory", memory), ("ports", ports),
                       ("autostop", autostop)):
        v = draw(strat)
        if v is not None:
            res[key] = v
    acc = res.get("accelerators")
    tpu = acc == "tpu-v2-8"
    inf = draw(infra)
    if inf and not tpu:
        res["infra"] = inf
    if draw(st.booleans()):
        res["use_spot"] = True
    if draw(st.booleans()):
        res["disk_size"] = draw(st.integers(1, 4096))
    if draw(st.booleans()) and not isinstance(acc, list):
        res["any_of"] = [{"infra": "aws"}, {"infra": "gcp", "cpus": 4}] if not tpu else [{"infra": "gcp"}]
    task = {"name": draw(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)), "resources": res,
            "envs": draw(env_vals), "run": draw(st.text(max_size=40))}
    if draw(st.booleans()):
        task["num_nodes"] = draw(st.integers(1, 64))
    if draw(st.booleans()):
        task["file_mounts"] = {"/data": "s3://bucket/x", "/c": {"name": "bkt", "mode": "copy"}}
    return yaml.safe_dump(task, allow_unicode=True)


@SETTINGS
@given(valid_task())
def test_valid_tasks_round_trip(text):
    _roundtrip(text)
