"""Cluster registry: rows, status transitions, usage intervals, terminated history."""

from __future__ import annotations

import threading

import pytest

from skyc import registry as reg
from skyc.errors import ClusterNotFoundError


def _c(name: str, **kw) -> reg.Cluster:
    return reg.Cluster(name=name, status=kw.pop("status", reg.INIT), stack=name, **kw)


def test_add_get_update_remove_roundtrip():
    r = reg.Registry()
    r.add(_c("a", hourly_price=2.0, accelerators={"A100": 8}, inventory={"nodes": []}))
    got = r.require("a")
    assert got.status == reg.INIT and got.accelerators == {"A100": 8} and got.inventory == {"nodes": []}
    r.update("a", status=reg.UP, autostop=10, to_down=True)
    got = r.require("a")
    assert (got.status, got.autostop, got.to_down) == (reg.UP, 10, True)
    assert [c.name for c in r.with_autostop()] == ["a"]
    r.remove("a")
    assert r.get("a") is None
    with pytest.raises(ClusterNotFoundError):
        r.require("a")
    hist = r.history()
    assert [(c.name, c.status) for c in hist] == [("a", reg.TERMINATED)] and hist[0].terminated_at


def test_name_reuse_after_down_is_a_new_incarnation():
    r = reg.Registry()
    first = r.add(_c("x"))
    with pytest.raises(ValueError):
        r.add(_c("x"))
    r.remove("x")
    second = r.add(_c("x"))
    assert first.cluster_hash != second.cluster_hash
    assert [c.status for c in r.history()] == [reg.TERMINATED, reg.INIT]


def test_usage_intervals_follow_running_states():
    r = reg.Registry()
    c = r.add(_c("u"))
    assert r.usage_intervals(c.cluster_hash) == []  # INIT is not billed
    r.update("u", status=reg.UP)
    r.update("u", status=reg.STOPPED)
    r.update("u", status=reg.UP)
    r.update("u", status=reg.AUTOSTOPPING)  # still running: same interval
    r.remove("u")
    iv = r.usage_intervals(c.cluster_hash)
    assert len(iv) == 2 and all(end is not None and end >= start for start, end in iv)


def test_list_filters_by_glob():
    r = reg.Registry()
    for n in ("dev-1", "dev-2", "prod"):
        r.add(_c(n))
    assert [c.name for c in r.list(["dev-*"])] == ["dev-1", "dev-2"]


def test_concurrent_writers_do_not_lose_updates():
    reg.Registry().add(_c("c", status=reg.UP))

    def bump(i: int) -> None:
        store = reg.Registry()
        for _ in range(20):
            store.update("c", last_use=f"t{i}")
        store.close()

    threads = [threading.Thread(target=bump, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reg.Registry().require("c").last_use.startswith("t")
