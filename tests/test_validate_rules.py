"""What launch would refuse, `validate` refuses first: one located error per rule, with the fix.

Catalog-grounded cases take their names from whatever catalogs the loader provides, so they hold
for clouds added later too.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from skyc.compiler.catalog.names import catalog_names
from skyc.compiler.spec import load_task_from_text, load_tasks
from skyc.errors import SpecError, UsageError

# (yaml, field, line, message fragment) -- each row one rule SkyPilot applies when it builds or launches
REFUSED = [
    # catalog-grounded infra and instance types
    ("resources:\n  infra: aws/us-east-9\n", "resources.infra", 2, "did you mean"),
    ("resources:\n  infra: gcp/us-central1/us-east1-b\n", "resources.infra", 2, "is in region us-east1"),
    ("resources:\n  infra: gcp/us-central1-a\n", "resources.infra", 2, "is a zone, not a region"),
    ("resources:\n  cloud: gcp\n  zone: us-central1\n", "resources.zone", 3, "is a region, not a zone"),
    ("resources:\n  infra: aws/us-east-1/us-east-1a\n", "resources.infra", 2, "use1-az1"),
    ("resources:\n  infra: azure/eastus/eastus-1\n", "resources.infra", 2, "azure has no zones"),
    ("resources:\n  infra: gcp\n  instance_type: p4d.24xlarge\n", "resources.instance_type", 3, "gcp has no instance type"),
    ("resources:\n  instance_type: p9z.mega\n", "resources.instance_type", 2, "no price catalog has instance type"),
    ("resources:\n  infra: '*/us-east-1'\n", "resources.infra", 2, "ambiguous: clouds aws, lambda"),
    ("resources:\n  infra: '*/nowhere-9'\n", "resources.infra", 2, "k8s/<context>"),
    ("resources:\n  instance_type: p4d.24xlarge\n  infra: '*/us-central1'\n", "resources.infra", 3, "no single cloud"),
    ("resources:\n  instance_type: n1-standard-8\n  cpus: 16\n", "resources.cpus", 3, "has 8 vCPUs, not 16"),
    ("resources:\n  instance_type: n1-standard-8\n  memory: 64+\n", "resources.memory", 3, "GiB memory, not 64+"),
    ("resources:\n  any_of:\n    - infra: aws/us-east-1\n    - infra: gcp/mars-1\n", "resources.any_of[1].infra", 4,
     "gcp has no region"),
    # per-cloud rules: labels, images
    ("resources:\n  infra: gcp\n  labels: {Team: ml}\n", "resources.labels", 3, "lower-case letter"),
    ("resources:\n  infra: gcp\n  labels: {team: ML}\n", "resources.labels", 3, "values hold only"),
    ("resources:\n  infra: gcp\n  labels: {team: 'a b'}\n", "resources.labels", 3, "not valid on GCP"),
    (f"resources:\n  infra: gcp\n  labels: {{k{'x' * 63}: v}}\n", "resources.labels", 3, "at most 63"),
    ("resources:\n  infra: aws\n  labels: {'aws:owner': me}\n", "resources.labels", 3, "'aws:'"),
    (f"resources:\n  infra: aws\n  labels: {{k: {'v' * 256}}}\n", "resources.labels", 3, "255"),
    ("resources:\n  infra: k8s\n  labels: {'my domain/app': x}\n", "resources.labels", 3, "Kubernetes"),
    (f"resources:\n  infra: k8s\n  labels: {{{'a' * 64}: x}}\n", "resources.labels", 3, "name of at most 63"),
    (f"resources:\n  infra: k8s\n  labels: {{{'d' * 254}/app: x}}\n", "resources.labels", 3, "at most 253"),
    ("resources:\n  labels: {'Team Name': x}\n", "resources.labels", 2, "not valid on"),  # no cloud: every cloud's rules
    ("resources:\n  infra: local\n  image_id: ami-0abc\n", "resources.image_id", 3, "docker:<image>"),
    ("resources:\n  infra: ssh/pool\n  image_id: my-vm-image\n", "resources.image_id", 3, "container images only"),
    ("resources:\n  accelerator_args: {tpu_vm: false}\n  accelerators: A100\n", "resources.accelerator_args", 2, "TPU"),
    # syntax SkyPilot refuses
    ("nme:\nrun: x\n", "nme", 1, "did you mean 'name'"),
    ("extra_field:\n", "extra_field", 1, "unknown field"),
    ("resources:\n  infra: aws/\n", "resources.infra", 2, "write 'aws'"),
    ("resources:\n  infra: gcp/us-central1/\n", "resources.infra", 2, "stray '/'"),
    ("resources:\n  infra: k8s/\n", "resources.infra", 2, "stray '/'"),
    ("resources:\n  priority: 1001\n", "resources.priority", 2, "less than or equal to 1000"),
    ("resources:\n  priority: -1001\n", "resources.priority", 2, "greater than or equal to -1000"),
    ("resources:\n  autostop: 1.5\n", "resources.autostop", 2, "got 1.5"),
    ("resources:\n  autostop: '1.5'\n", "resources.autostop", 2, "'0.5h'"),
    ("resources:\n  autostop: 2s\n", "resources.autostop", 2, "'30m'"),
    ("name: grp\nexecution: parallel\ntermination_delay: soon\n---\nname: a\n---\nname: b\n", "termination_delay", 3,
     "seconds"),
    ("config:\n  kubernetes:\n    provision_timeout: '30'\n", "config.kubernetes.provision_timeout", 3, "integer"),
    ("config:\n  docker:\n    run_options: [1]\n", "config.docker.run_options[0]", 3, "string"),
    ("config:\n  gcp:\n    managed_instance_group: {provision_timeout: 5}\n", "config.gcp.managed_instance_group", 3,
     "run_duration"),
    ("config:\n  kubernetes:\n    set_pod_resource_limits: 0.5\n", "config.kubernetes.set_pod_resource_limits", 3,
     "greater than or equal to 1"),
    ("config:\n  jobs: {controller: {}}\n", "config.jobs", 2, "cannot be set per task"),
]


def issues_of(text: str):
    with pytest.raises(SpecError) as e:
        load_task_from_text(text, filename="t.yaml")
    return e.value.issues


@pytest.mark.parametrize("text,field,line,fragment", REFUSED, ids=[f"{r[1]}:{r[3][:24]}" for r in REFUSED])
def test_refused_with_location_and_fix(text, field, line, fragment):
    issues = issues_of(text)
    match = [i for i in issues if i.field == field]
    assert match, [i.format() for i in issues]
    assert (match[0].file, match[0].line) == ("t.yaml", line), match[0].format()
    assert match[0].column is not None
    assert fragment in match[0].message, match[0].message


ACCEPTED = [
    # (yaml, attribute checks on the single candidate)
    ("resources:\n  infra: AWS/US-EAST-1\n", {"cloud": "aws", "region": "us-east-1"}),
    ("resources:\n  instance_type: Standard_NC4as_T4_v3\n", {"cloud": "azure"}),
    ("resources:\n  infra: '*/*/us-west1-b'\n", {"cloud": "gcp", "region": "us-west1", "zone": "us-west1-b"}),
    ("resources:\n  cloud: aws\n  zone: use1-az2\n", {"cloud": "aws", "region": "us-east-1", "zone": "use1-az2"}),
    ("resources:\n  infra: 'aws/us-*'\n", {"cloud": "aws", "region": "us-*"}),
    ("resources:\n  instance_type: n1-standard-8\n  cpus: 8+\n  memory: 30\n", {"cloud": "gcp", "cpus": 8.0}),
    ("resources:\n  infra: gcp\n  labels: {team: ml-infra, cost_center: '42'}\n", {"labels": {"team": "ml-infra",
                                                                                               "cost_center": "42"}}),
    ("resources:\n  infra: aws\n  labels: {Team: ML/Infra}\n", {"labels": {"Team": "ML/Infra"}}),
    ("resources:\n  infra: k8s\n  labels: {example.com/app: My.App-1}\n", {"labels": {"example.com/app": "My.App-1"}}),
    ("resources:\n  infra: k8s/ctx/\n", {"cloud": "kubernetes", "region": "ctx"}),
    ("resources:\n  infra: local\n  image_id: docker:ubuntu:22.04\n", {"image_id": {"docker": "ubuntu:22.04"}}),
    ("resources:\n  priority: -1000\n", {"priority": -1000}),
    ("resources:\n  priority: 1000\n", {"priority": 1000}),
    ("resources:\n  autostop: 0.5h\n", {"autostop.idle_minutes": 30}),
    ("resources:\n  autostop: 1.2d\n", {"autostop.idle_minutes": 1728}),  # rounded up to whole minutes
    ("resources:\n  autostop: 90\n", {"autostop.idle_minutes": 90}),
]


@pytest.mark.parametrize("text,checks", ACCEPTED, ids=[a[0].split("\n")[1].strip() for a in ACCEPTED])
def test_accepted(text, checks):
    (task,) = load_task_from_text(text, filename="t.yaml")
    (r,) = task.resources.candidates
    for attr, want in checks.items():
        got = r
        for part in attr.split("."):
            got = getattr(got, part)
        assert got == want, (attr, got)


def test_accepted_syntax_edge_cases():
    (t,) = load_task_from_text("name: grp\nexecution: parallel\ntermination_delay: {default: 1.5m, a: 30s}\n---\n"
                               "name: a\n---\nname: b\n", filename="t.yaml")[:1]
    assert t.name == "a"
    (t,) = load_task_from_text("run:\nsetup:\nconfig:\n  kubernetes:\n    dws: {enabled: true, max_run_duration: 2h}\n"
                               "  nvidia_gpus: {disable_ecc: true}\n  active_workspace: team\n", filename="t.yaml")
    assert t.run is None and t.config["kubernetes"]["dws"]["max_run_duration"] == "2h"


def test_every_catalog_is_checked_and_infers_its_own_cloud():
    """For each catalog: one of its regions that no other catalog has names that cloud; a made-up
    region is refused on it with a suggestion from its own list."""
    from skyc.compiler.infra import CLOUDS

    names = {c: n for c, n in catalog_names().items() if c in CLOUDS}
    assert {"aws", "gcp", "azure"} <= set(names)
    for cloud, n in names.items():
        others = set().union(*(m.regions for c, m in names.items() if c != cloud))
        unique = sorted(set(n.regions) - others)
        if unique:
            (task,) = load_task_from_text(f"resources:\n  infra: '*/{n.regions[unique[0]]}'\n", filename="t.yaml")
            assert task.resources.candidates[0].cloud == cloud
        region = next(iter(n.regions.values()))
        issues = issues_of(f"resources:\n  infra: {cloud}/{region}-typo\n")
        assert f"{cloud} has no region" in issues[0].message and region in issues[0].message.split(";")[1]
        if not n.zonal:
            issues = issues_of(f"resources:\n  infra: {cloud}/{region}/{region}-a\n")
            assert "has no zones" in issues[0].message


def test_all_problems_of_a_candidate_at_once():
    issues = issues_of("resources:\n  infra: gcp/us-central1/us-east1-b\n  instance_type: p4d.24xlarge\n"
                       "  labels: {Bad: x}\n")
    assert {i.field for i in issues} == {"resources.infra", "resources.instance_type", "resources.labels"}


def test_local_sources_resolve_against_the_task_file(tmp_path, monkeypatch):
    proj = tmp_path / "proj"
    (proj / "code").mkdir(parents=True)
    (proj / "data.txt").write_text("x")
    task = proj / "task.yaml"
    task.write_text("workdir: code\nfile_mounts:\n  /data.txt: ./data.txt\n  /b: s3://bucket/key\nrun: ls\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative paths follow the file, not the shell
    (t,) = load_tasks(task)
    from skyc.compiler.local_paths import with_absolute_paths

    absolute = with_absolute_paths(t)
    assert absolute.workdir == str(proj / "code") and absolute.file_mounts["/data.txt"] == str(proj / "data.txt")
    assert absolute.file_mounts["/b"] == "s3://bucket/key"  # a bucket is not a local path
    task.write_text("workdir: nocode\nfile_mounts:\n  /data.txt: ./missing.txt\nrun: ls\n")
    with pytest.raises(SpecError) as e:
        load_tasks(task)
    by_field = {i.field: i for i in e.value.issues}
    assert by_field["workdir"].line == 1 and "nocode does not exist or is not a directory" in by_field["workdir"].message
    assert by_field["file_mounts./data.txt"].line == 3 and str(proj) in by_field["file_mounts./data.txt"].message


def test_overrides_are_checked_too():
    from skyc.compiler.spec import apply_overrides

    (t,) = load_task_from_text("resources:\n  cpus: 4\n", filename="t.yaml")
    assert apply_overrides(t, infra="*/eastus").resources.candidates[0].cloud == "azure"
    with pytest.raises(UsageError, match="--infra: gcp has no region"):
        apply_overrides(t, infra="gcp/mars-1")
    with pytest.raises(UsageError, match="--instance-type: aws has no instance type"):
        apply_overrides(t, infra="aws", instance_type="n1-standard-8")


def test_validate_and_plan_report_the_same_located_error(tmp_path, skyc_home):
    from tests.cli_helpers import cli_env, skyc

    env = cli_env(skyc_home, tmp_path, KUBECONFIG=str(tmp_path / "none"))
    task = tmp_path / "t.yaml"
    task.write_text(textwrap.dedent("""\
        resources:
          infra: gcp/us-central1/us-east1-b
        run: echo hi
        """))
    for args in (["validate", str(task)], ["plan", str(task), "--offline", "--no-render"]):
        r = skyc(env, *args)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"{task}:2:10: resources.infra: zone 'us-east1-b' is in region us-east1" in r.stdout + r.stderr


def test_catalog_update_changes_what_is_known(tmp_path, skyc_home: Path):
    """A catalog override (`skyc catalog update`) is what validation reads."""
    from skyc import paths
    from skyc.compiler.catalog import store

    src = store.BUNDLED_DIR / "lambda" / "vms.csv"
    lines = src.read_text().splitlines()
    dst = paths.catalog_dir() / "lambda" / "vms.csv"
    dst.parent.mkdir(parents=True)
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("Region")] = "moon-base-1"
    dst.write_text("\n".join([lines[0], ",".join(row)]) + "\n")
    (t,) = load_task_from_text("resources:\n  infra: lambda/moon-base-1\n", filename="t.yaml")
    assert t.resources.candidates[0].region == "moon-base-1"
    assert "lambda has no region" in issues_of("resources:\n  infra: lambda/us-east-1\n")[0].message
