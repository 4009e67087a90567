"""Cloud nodes present the cluster's own SSH host key, which the runtime pins: the key pair,
how it reaches VMs and pods (as secret bootstrap data), and the inventory that carries it."""

from __future__ import annotations

import re
import subprocess

import yaml

from skyc.stacks import common, keys, render
from skyc.stacks.base import StackSpec
from skyc.stacks.registry import get

AWS = dict(stack="hk", provider="aws", region="us-east-1", instance_type="m6i.large")


def _as_applied(**kw) -> StackSpec:
    """The spec as the engine hands it to a program: both public keys filled in."""
    _, login = keys.cluster_key(kw["stack"])
    _, host = keys.cluster_host_key(kw["stack"])
    return StackSpec(**kw, ssh_public_key=login, ssh_host_key=host)


def test_host_key_is_its_own_pair_kept_per_cluster(skyc_home):
    private, public = keys.cluster_host_key("hk")
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----") and public.startswith("ssh-ed25519 ")
    assert keys.cluster_host_key("hk") == (private, public)
    assert public != keys.cluster_key("hk")[1] and public != keys.cluster_host_key("other")[1]
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(skyc_home / "keys" / "hk.host")], capture_output=True,
                             text=True, check=True).stdout.split()[:2]
    assert derived == public.split()[:2]
    keys.remove_cluster_key("hk")
    assert not list((skyc_home / "keys").glob("hk*"))


def test_vm_cloud_init_installs_the_key_and_the_inventory_pins_it():
    spec = _as_applied(**AWS, num_nodes=2)
    private, public = keys.cluster_host_key("hk")
    user_data = yaml.safe_load(common.bootstrap_script("cloud_init.j2", spec, "ubuntu").split("\n", 1)[1])
    assert user_data["ssh_keys"] == {"ed25519_private": private.strip() + "\n", "ed25519_public": public}
    assert user_data["ssh_genkeytypes"] == [] and user_data["ssh_deletekeys"] is True

    out = render.render(spec)
    (head,) = [r for r in out["resources"] if r["name"] == "head"]
    assert head["inputs"]["userData"] == render.SECRET  # the private key is encrypted in state
    inv = get("aws").inventory(spec, out["outputs"])
    assert [n.host_key for n in inv.nodes] == [public, public]


def test_offline_plans_show_placeholders_not_keys(skyc_home):
    out = render.render(StackSpec(**AWS))
    (head,) = [r for r in out["resources"] if r["name"] == "head"]
    assert common.PLACEHOLDER_HOST_KEY in head["inputs"]["userData"]
    assert not (skyc_home / "keys").exists()  # planning creates no key


def test_gcp_startup_script_writes_the_key_before_restarting_sshd():
    spec = _as_applied(stack="hk", provider="gcp", region="us-central1", zone="us-central1-a",
                       instance_type="n2-standard-8")
    private, public = keys.cluster_host_key("hk")
    script = common.bootstrap_script("startup.j2", spec, "skyc")
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    written = re.search(r"<<'SKYC_HOST_KEY'\n(.*?)\nSKYC_HOST_KEY\n", script, re.S).group(1)
    assert written == private.strip() and f"echo '{public}'" in script
    assert script.index("SKYC_HOST_KEY\n)") < script.index("systemctl restart ssh")
    out = render.render(spec)
    (vm,) = [r for r in out["resources"] if r["type"] == "gcp:compute/instance:Instance"]
    assert vm["inputs"]["metadata"] == render.SECRET  # the mapping carrying the key is secret as a whole
    assert get("gcp").inventory(spec, out["outputs"]).head.host_key == public


def test_kubernetes_pods_get_the_key_from_the_secret():
    spec = _as_applied(stack="hk", provider="kubernetes", region="kind-dev", cpus=2, memory=4)
    _, public = keys.cluster_host_key("hk")
    out = render.render(spec)
    (secret,) = [r for r in out["resources"] if r["type"] == "kubernetes:core/v1:Secret"]
    assert secret["inputs"]["stringData"] == render.SECRET
    (pod,) = [r for r in out["resources"] if r["type"] == "kubernetes:core/v1:Pod"]
    script = pod["inputs"]["spec"]["containers"][0]["command"][2]
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    assert "/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key" in script
    assert script.index("ssh_host_ed25519_key") < script.index("ssh-keygen -A")  # -A only fills the rest
    assert get("kubernetes").inventory(spec, out["outputs"]).head.host_key == public
