"""The bundled catalog (facts from its README), the cache, `gpus list`, `catalog update`, `check`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from skyc import paths
from skyc.cli.main import cli, main
from skyc.compiler.catalog import forget, load_catalog
from skyc.errors import CatalogError

FIXTURE = Path(__file__).parent / "fixtures" / "catalog"


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, standalone_mode=False)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    return load_catalog(use_cache=False)


def _cheapest(offers, spot=False):
    key = (lambda o: o.spot_price) if spot else (lambda o: o.price)
    return min((o for o in offers if key(o) is not None), key=key)


def test_bundled_gcp_h100x8_is_host_plus_accelerator(bundled):
    h100 = [o for o in bundled.accelerator_offers("H100") if o.cloud == "gcp" and o.accelerator_count == 8]
    best = _cheapest(h100)
    assert round(best.price, 2) == 43.07 and best.zone == "us-central1-a" and best.host_price == 9.46006
    spot = _cheapest(h100, spot=True)
    assert round(spot.spot_price, 2) == 15.81 and spot.zone == "us-east4-a"


def test_bundled_facts_per_cloud(bundled):
    def cheapest(cloud, name="H100", n=8):
        return _cheapest([o for o in bundled.accelerator_offers(name) if o.cloud == cloud and o.accelerator_count == n])

    assert cheapest("aws").price == 98.32 and cheapest("aws").instance_type == "p5.48xlarge"
    assert cheapest("lambda").price == 23.92
    assert cheapest("mithril").price == 8.0
    assert cheapest("azure").instance_type == "Standard_ND96isr_H100_v5"
    aws_spot = _cheapest([o for o in bundled.accelerator_offers("H100") if o.cloud == "aws"], spot=True)
    assert (aws_spot.spot_price, aws_spot.zone) == (12.1195, "use2-az1")
    assert all(o.price is None for o in bundled.instance_offers("p5e.48xlarge"))  # empty Price, spot only
    assert all(o.spot_price is None for o in bundled.offers if o.cloud in ("vast", "lambda", "cudo", "simplepod"))
    # no a4 host in the catalog: B200 accelerator rows alone are not an offer on GCP
    assert not [o for o in bundled.accelerator_offers("B200") if o.cloud == "gcp"]
    # placeholder 700.0 TPU prices are dropped
    assert not [o for o in bundled.offers if o.cloud == "gcp" and o.price == 700.0]
    assert all(o.spot_price is None or o.price is None or o.spot_price <= o.price for o in bundled.offers)


def test_cache_is_written_once_and_rebuilt_when_a_csv_changes(tmp_path):
    data = tmp_path / "cat"
    shutil.copytree(FIXTURE, data)
    first = load_catalog(data)
    caches = list(paths.catalog_cache_dir().glob("catalog-*.pickle"))
    assert len(caches) == 1
    forget()
    again = load_catalog(data)
    assert [tuple(o) for o in again.offers] == [tuple(o) for o in first.offers]
    assert list(paths.catalog_cache_dir().glob("catalog-*.pickle")) == caches  # read, not rebuilt
    csv = data / "lambda" / "vms.csv"
    csv.write_text(csv.read_text().replace("10.32", "9.99"))
    forget()
    changed = load_catalog(data)
    assert changed.instance_offers("gpu_8x_a100")[0].price == 9.99
    assert list(paths.catalog_cache_dir().glob("catalog-*.pickle")) != caches


def test_corrupt_cache_is_rebuilt(tmp_path):
    load_catalog(FIXTURE)
    (cache,) = paths.catalog_cache_dir().glob("catalog-*.pickle")
    cache.write_bytes(b"not a pickle")
    forget()
    assert load_catalog(FIXTURE).instance_offers("gpu_8x_a100")


def test_gpus_list_json_shape_and_cheapest_gcp(bundled):
    r = run("gpus", "list", "H100:8", "--infra", "gcp", "-o", "json")
    data = json.loads(r.stdout)
    assert list(data) == ["H100"]
    row = data["H100"][0]
    assert set(row) == {"cloud", "instance_type", "accelerator_name", "accelerator_count", "cpu_count",
                        "device_memory", "memory", "price", "spot_price", "region"}
    assert row["cloud"] == "gcp" and round(row["price"], 2) == 43.07 and round(row["spot_price"], 2) == 15.81
    assert row["accelerator_count"] == 8 and row["device_memory"] == 80.0


def test_gpus_list_every_catalog_cloud_and_all_regions():
    data = json.loads(run("gpus", "list", "H100", "-o", "json").stdout)
    clouds = {r["cloud"] for r in data["H100"]}
    assert {"aws", "gcp", "azure", "lambda", "runpod", "nebius", "vast", "cudo", "hyperbolic", "mithril",
            "shadeform"} <= clouds
    regional = json.loads(run("gpus", "list", "H100:8", "--infra", "aws", "--all-regions", "-o", "json").stdout)
    p5 = [r for r in regional["H100"] if r["instance_type"] == "p5.48xlarge"]
    assert len({r["region"] for r in p5}) == len(p5) > 1


def test_gpus_list_text_and_errors(capsys):
    r = run("gpus", "list", "A100:8")
    assert "a2-highgpu-8g" in r.stdout and "p4d.24xlarge" in r.stdout
    assert main(["gpus", "list", "H1000"]) == 2
    assert "did you mean" in capsys.readouterr().err
    assert main(["gpus", "list", "--all-regions"]) == 2


def test_catalog_update_replaces_and_validates_first(tmp_path, capsys):
    src = tmp_path / "new"
    (src / "lambda").mkdir(parents=True)
    (src / "lambda" / "vms.csv").write_text((FIXTURE / "lambda" / "vms.csv").read_text().replace("10.32", "7.5"))
    assert main(["catalog", "update", "--from", str(src)]) == 0
    assert (paths.catalog_dir() / "lambda" / "vms.csv").exists()
    forget()
    lam = load_catalog().instance_offers("gpu_8x_a100")
    assert lam[0].price == 7.5
    assert load_catalog().instance_offers("p5.48xlarge")  # other clouds still bundled

    bad = tmp_path / "bad"
    (bad / "aws").mkdir(parents=True)
    (bad / "aws" / "vms.csv").write_text("Name,Cost\nx,1\n")
    (bad / "lambda").mkdir()
    (bad / "lambda" / "vms.csv").write_text((FIXTURE / "lambda" / "vms.csv").read_text().replace("10.32", "1.0"))
    capsys.readouterr()
    assert main(["catalog", "update", "--from", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "missing columns" in err and "nothing was replaced" in err
    forget()
    assert load_catalog().instance_offers("gpu_8x_a100")[0].price == 7.5  # untouched
    assert main(["catalog", "reset"]) == 0
    forget()
    assert load_catalog().instance_offers("gpu_8x_a100")[0].price != 7.5


def test_catalog_update_rejects_unknown_cloud_dirs(tmp_path):
    (tmp_path / "mycloud").mkdir()
    shutil.copy(FIXTURE / "lambda" / "vms.csv", tmp_path / "mycloud" / "vms.csv")
    from skyc.compiler.catalog.update import update_from

    with pytest.raises(CatalogError, match="unknown cloud directory 'mycloud'"):
        update_from(tmp_path)


def test_check_json_with_fake_credentials(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_access_key_id = AKIAFAKE\naws_secret_access_key = x\n")
    kube = home / "kubeconfig"
    kube.write_text("apiVersion: v1\ncontexts:\n- name: kind-dev\n  context: {cluster: kind}\ncurrent-context: kind-dev\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KUBECONFIG", str(kube))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / "gcloud"))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE",
                "AWS_CONFIG_FILE", "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_CLIENT_ID", "AZURE_TENANT_ID",
                "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    data = json.loads(run("check", "-o", "json").stdout)
    assert set(data["default"]) == {"local", "aws", "kubernetes"}
    assert data["default"]["aws"] == ["compute"]
    (paths.config_file()).write_text("allowed_infra: [local, kubernetes]\n")
    assert set(json.loads(run("check", "-o", "json").stdout)["default"]) == {"local", "kubernetes"}
    offline = json.loads(run("check", "--offline", "-o", "json").stdout)
    assert set(offline["default"]) == {"local", "kubernetes"}  # offline still honours allowed_infra
    text = run("check").stdout
    assert "not in allowed_infra" in text
