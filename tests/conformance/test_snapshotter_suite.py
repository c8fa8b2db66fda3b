"""Snapshotter conformance suite (containerd core/snapshots/testsuite style).

Metadata behaviour runs everywhere; tests that mount are marked ``root``.
"""

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.containerd import mount as mountlib
from dockyard.containerd.snapshots import Kind, NativeSnapshotter, OverlaySnapshotter
from dockyard.containerd.snapshots.base import MetadataSnapshotter
from dockyard.errors import AlreadyExists, FailedPrecondition, NotFound
from dockyard.types import Mount

IMPLS: dict[str, Callable[[Path], MetadataSnapshotter]] = {"overlay": OverlaySnapshotter, "native": NativeSnapshotter}


@pytest.fixture(params=sorted(IMPLS))
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sn(impl: str, tmp_path: Path) -> Iterator[MetadataSnapshotter]:
    s = IMPLS[impl](tmp_path / "snap")
    yield s
    s.close()


class Mounted:
    """Mount snapshot mounts on temp dirs; unmounts everything at teardown."""

    def __init__(self) -> None:
        self.dirs: list[Path] = []

    def __call__(self, mounts: list[Mount]) -> Path:
        target = Path(tempfile.mkdtemp(prefix="dockyard-test-mnt-"))
        self.dirs.append(target)
        mountlib.mount_all(mounts, target)
        return target

    def release(self, target: Path) -> None:
        mountlib.unmount_all(target)

    def cleanup(self) -> None:
        for d in reversed(self.dirs):
            try:
                mountlib.unmount_all(d, detach=True)
            finally:
                if not mountlib.is_mounted(d):
                    os.rmdir(d)


@pytest.fixture
def mounted() -> Iterator[Mounted]:
    m = Mounted()
    try:
        yield m
    finally:
        m.cleanup()


def test_prepare_commit_stat_walk(sn: MetadataSnapshotter) -> None:
    sn.prepare("a-active", labels={"x": "1"})
    info = sn.stat("a-active")
    assert (info.name, info.parent, info.kind, info.labels) == ("a-active", "", Kind.ACTIVE, {"x": "1"})
    sn.commit("A", "a-active")
    with pytest.raises(NotFound):
        sn.stat("a-active")
    assert sn.stat("A").kind is Kind.COMMITTED and sn.stat("A").labels == {"x": "1"}
    sn.prepare("b-active", "A")
    assert sn.stat("b-active").parent == "A"
    sn.commit("B", "b-active", labels={"y": "2"})
    assert sn.stat("B").labels == {"y": "2"}
    sn.view("v", "B")
    assert sn.stat("v").kind is Kind.VIEW
    assert sorted((i.name, i.parent, i.kind.value) for i in sn.walk()) == [
        ("A", "", "committed"), ("B", "A", "committed"), ("v", "B", "view")]
    assert [i.name for i in sn.walk(["kind==view"])] == ["v"]
    assert [i.name for i in sn.walk(["labels.y==2"])] == ["B"]


def test_errors(sn: MetadataSnapshotter) -> None:
    sn.prepare("a")
    with pytest.raises(AlreadyExists):
        sn.prepare("a")
    with pytest.raises(NotFound):
        sn.prepare("b", "missing")
    with pytest.raises(FailedPrecondition):
        sn.prepare("b", "a")  # parent must be committed
    sn.commit("A", "a")
    with pytest.raises(FailedPrecondition):
        sn.commit("A2", "A")  # only active can be committed
    sn.view("v", "A")
    with pytest.raises(FailedPrecondition):
        sn.commit("V", "v")
    sn.prepare("c")
    with pytest.raises(AlreadyExists):
        sn.commit("A", "c")
    with pytest.raises(FailedPrecondition):
        sn.mounts("A")
    with pytest.raises(NotFound):
        sn.stat("nope")
    with pytest.raises(NotFound):
        sn.remove("nope")


def test_remove_parent_with_children_refused(sn: MetadataSnapshotter) -> None:
    sn.prepare("a")
    sn.commit("A", "a")
    sn.prepare("child", "A")
    with pytest.raises(FailedPrecondition):
        sn.remove("A")
    assert sn.stat("A").kind is Kind.COMMITTED
    sn.remove("child")
    sn.remove("A")
    assert list(sn.walk()) == []
    assert list((sn.root / "snapshots").iterdir()) == []


def test_update_labels_and_usage(sn: MetadataSnapshotter) -> None:
    mounts = sn.prepare("a")
    src = Path(mounts[0].source)
    (src / "f").write_bytes(b"x" * 10000)
    u = sn.usage("a")
    assert u.inodes == 2 and u.size >= 10000
    sn.commit("A", "a")
    assert sn.usage("A") == u
    assert sn.update("A", {"k": "v"}).labels == {"k": "v"}
    assert sn.update("A", {"k2": "v2"}, ["labels.k2"]).labels == {"k": "v", "k2": "v2"}
    assert sn.update("A", {}, ["labels.k"]).labels == {"k2": "v2"}


def test_crash_leftovers_cleaned_on_start(sn: MetadataSnapshotter, impl: str) -> None:
    sn.prepare("a")
    d = sn.root / "snapshots"
    (d / "new-deadbeef" / "fs").mkdir(parents=True)
    (d / "999" / "fs").mkdir(parents=True)
    sn.close()
    again = IMPLS[impl](sn.root)
    assert sorted(p.name for p in d.iterdir()) == ["1"]
    assert again.stat("a").kind is Kind.ACTIVE
    again.close()


def test_mounts_shape(sn: MetadataSnapshotter, impl: str) -> None:
    base = sn.root / "snapshots"
    m = sn.prepare("a")
    assert m == [Mount("bind", str(base / "1" / "fs"), ("rbind", "rw"))]
    assert sn.mounts("a") == m
    sn.commit("A", "a")
    sn.prepare("b", "A")
    sn.commit("B", "b")
    active = sn.prepare("c", "B")
    view1 = sn.view("v1", "A")
    view2 = sn.view("v2", "B")
    if impl == "overlay":
        assert active == [Mount("overlay", "overlay", (
            "index=off", f"workdir={base}/3/work", f"upperdir={base}/3/fs", f"lowerdir={base}/2/fs:{base}/1/fs"))]
        assert view1 == [Mount("bind", f"{base}/1/fs", ("ro", "rbind"))]
        assert view2 == [Mount("overlay", "overlay", ("index=off", f"lowerdir={base}/2/fs:{base}/1/fs"))]
    else:
        assert active == [Mount("bind", f"{base}/3/fs", ("rbind", "rw"))]
        assert view1 == [Mount("bind", f"{base}/4/fs", ("rbind", "ro"))]
        assert view2 == [Mount("bind", f"{base}/5/fs", ("rbind", "ro"))]
    assert sn.mounts("c") == active and sn.mounts("v2") == view2


@pytest.mark.root
def test_child_sees_parent_and_parent_does_not_see_child(sn: MetadataSnapshotter, mounted: Mounted) -> None:
    t = mounted(sn.prepare("a"))
    (t / "base").write_text("base")
    (t / "doomed").write_text("doomed")
    (t / "dir").mkdir()
    (t / "dir" / "inner").write_text("inner")
    mounted.release(t)
    sn.commit("A", "a")

    c = mounted(sn.prepare("c", "A"))
    assert (c / "base").read_text() == "base"
    (c / "child-only").write_text("child")
    (c / "doomed").unlink()
    shutil.rmtree(c / "dir")
    (c / "base").write_text("changed")
    assert sorted(p.name for p in c.iterdir()) == ["base", "child-only"]
    mounted.release(c)
    sn.commit("C", "c")

    pv = mounted(sn.view("pv", "A"))
    assert sorted(p.name for p in pv.iterdir()) == ["base", "dir", "doomed"]
    assert (pv / "base").read_text() == "base"
    cv = mounted(sn.view("cv", "C"))
    assert sorted(p.name for p in cv.iterdir()) == ["base", "child-only"]
    assert (cv / "base").read_text() == "changed"
    with pytest.raises(OSError) as exc:
        (cv / "x").write_text("ro")
    assert exc.value.errno == errno.EROFS


@pytest.mark.root
def test_three_levels_and_view(sn: MetadataSnapshotter, mounted: Mounted) -> None:
    parent = ""
    for i in range(3):
        t = mounted(sn.prepare(f"k{i}", parent))
        (t / f"f{i}").write_text(str(i))
        mounted.release(t)
        sn.commit(f"L{i}", f"k{i}")
        parent = f"L{i}"
    v = mounted(sn.view("v", "L2"))
    assert sorted(p.name for p in v.iterdir()) == ["f0", "f1", "f2"]


@pytest.mark.root
def test_native_copy_preserves_metadata(tmp_path: Path, mounted: Mounted) -> None:
    sn = NativeSnapshotter(tmp_path / "native")
    src = Path(sn.prepare("a")[0].source)
    (src / "f").write_text("data")
    os.chown(src / "f", 1234, 4321)
    os.chmod(src / "f", 0o4750)
    os.setxattr(src / "f", "user.k", b"v")
    os.link(src / "f", src / "hl")
    os.symlink("/abs/target", src / "sl")
    os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mkfifo(src / "fifo")
    (src / "d").mkdir(mode=0o711)
    os.utime(src / "d", (1000, 1000))
    sn.commit("A", "a")
    dst = Path(sn.prepare("b", "A")[0].source)
    st = os.lstat(dst / "f")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 4321, 0o4750)
    assert os.getxattr(dst / "f", "user.k") == b"v"
    assert os.lstat(dst / "hl").st_ino == st.st_ino and st.st_nlink == 2
    assert os.readlink(dst / "sl") == "/abs/target"
    assert os.lstat(dst / "null").st_rdev == os.makedev(1, 3)
    assert stat.S_ISFIFO(os.lstat(dst / "fifo").st_mode)
    assert stat.S_IMODE(os.lstat(dst / "d").st_mode) == 0o711 and os.lstat(dst / "d").st_mtime == 1000
    (dst / "f").write_text("changed")
    assert (src / "f").read_text() == "data"
    sn.close()
