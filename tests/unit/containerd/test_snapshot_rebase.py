"""Commit with a parent (rebase) for layers extracted apart, and the unpack lock that guards them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dockyard.containerd.locks import UnpackLock
from dockyard.containerd.namespaces import NamespacedSnapshotter
from dockyard.containerd.snapshots import Kind, NativeSnapshotter, OverlaySnapshotter
from dockyard.errors import FailedPrecondition


def test_overlay_commit_puts_a_parentless_snapshot_on_its_parent(tmp_path: Path) -> None:
    sn = OverlaySnapshotter(tmp_path / "o")
    try:
        sn.prepare("k0")
        sn.prepare("k1")  # extracted before its parent is committed
        with pytest.raises(FailedPrecondition):
            sn.commit("c1", "k1", parent="k0")  # the parent must be committed first
        sn.commit("c0", "k0")
        sn.commit("c1", "k1", parent="c0")
        info = sn.stat("c1")
        assert (info.kind, info.parent) == (Kind.COMMITTED, "c0")
        mounts = sn.prepare("ctr", "c1")
        lowers = next(o for o in mounts[0].options if o.startswith("lowerdir=")).split("=", 1)[1].split(":")
        assert len(lowers) == 2  # c1 over c0, in that order
        assert lowers[1].endswith("/fs") and lowers[0] != lowers[1]
        sn.prepare("k2", "c1")
        with pytest.raises(FailedPrecondition):
            sn.commit("c2", "k2", parent="c0")  # only a parentless snapshot is rebased
    finally:
        sn.close()


def test_native_refuses_rebase_and_namespaces_pass_it_on(tmp_path: Path) -> None:
    nat = NativeSnapshotter(tmp_path / "n")
    ov = OverlaySnapshotter(tmp_path / "o")
    try:
        nat.prepare("k0")
        nat.commit("c0", "k0")
        nat.prepare("k1")
        with pytest.raises(FailedPrecondition):
            nat.commit("c1", "k1", parent="c0")  # its directories hold copies of their parents
        assert not NamespacedSnapshotter(nat, "ns").rebase
        ns = NamespacedSnapshotter(ov, "ns")
        assert ns.rebase
        ns.prepare("a")
        ns.commit("A", "a")
        ns.prepare("b")
        ns.commit("B", "b", parent="A")
        assert ov.stat("ns/B").parent == "ns/A"
    finally:
        nat.close()
        ov.close()


def test_unpack_lock_shares_between_pulls_and_excludes_gc() -> None:
    lock = UnpackLock()
    lock.acquire_shared()
    lock.acquire_shared()  # two pulls at once
    got = threading.Event()

    def gc() -> None:
        with lock:
            got.set()

    t = threading.Thread(target=gc)
    t.start()
    assert not got.wait(0.1)  # GC waits for both
    lock.release_shared()
    assert not got.wait(0.05)
    lock.release_shared()
    assert got.wait(5)
    t.join(5)
    with lock:
        assert not lock.try_acquire_shared()  # a pull waits for GC
    assert lock.try_acquire_shared()
    lock.release_shared()
