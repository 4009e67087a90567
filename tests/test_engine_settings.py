"""Workspace settings: backend URL precedence, passphrase file, environment for every operation."""

from __future__ import annotations

import stat

from skyc import paths
from skyc.stacks import workspace


def test_default_backend_is_file_state_dir(skyc_home, monkeypatch):
    monkeypatch.delenv("SKYC_BACKEND_URL", raising=False)
    url = workspace.backend_url()
    assert url == paths.state_dir().as_uri() and paths.state_dir().is_dir()


def test_backend_precedence_explicit_env_config(skyc_home, monkeypatch, tmp_path):
    (skyc_home / "config.yaml").write_text(f"backend_url: file://{tmp_path / 'from-config'}\n")
    monkeypatch.delenv("SKYC_BACKEND_URL", raising=False)
    assert workspace.backend_url() == (tmp_path / "from-config").as_uri()
    monkeypatch.setenv("SKYC_BACKEND_URL", "s3://bucket/skyc")
    assert workspace.backend_url() == "s3://bucket/skyc"
    assert workspace.backend_url("gs://other") == "gs://other"


def test_relative_and_home_file_urls_become_absolute(skyc_home, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKYC_BACKEND_URL", "file://rel/state")
    assert workspace.backend_url() == (tmp_path / "rel" / "state").as_uri()
    assert (tmp_path / "rel" / "state").is_dir()


def test_generated_passphrase_file_is_private_and_stable(skyc_home, monkeypatch):
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    env = workspace.passphrase_env()
    path = env["PULUMI_CONFIG_PASSPHRASE_FILE"]
    assert stat.S_IMODE(__import__("os").stat(path).st_mode) == 0o600
    first = open(path).read()
    assert len(first) >= 32 and workspace.passphrase_env() == env and open(path).read() == first


def test_user_passphrase_wins(skyc_home, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    assert workspace.passphrase_env() == {}
    assert not (skyc_home / "pulumi" / "passphrase").exists()


def test_env_vars_for_operations(skyc_home, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "example.com")
    env = workspace.env_vars("file:///x")
    assert env["PULUMI_BACKEND_URL"] == "file:///x"
    assert env["PULUMI_HOME"] == str(paths.pulumi_home())
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert env["NO_PROXY"] == "example.com,127.0.0.1,localhost"
