"""Hostile archives through the one routine for untrusted roots (archive/safe_extract).

Every test has a canary directory next to the root (``tmp_path/canary``, with a file) and
asserts that its entries, content, mode and owner are what they were."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from layertar import Entry, d, f, hard, make_tar, sym

from dockyard import errors
from dockyard.archive.files import extract_tar, write_tar
from dockyard.archive.safe_extract import Root, UnsafeLayerPath, extract_archive
from dockyard.containerd.diff.apply import apply_layer, apply_layer_apart
from dockyard.volumes import copyup

pytestmark = pytest.mark.root  # owners, device nodes, trusted.* xattrs


class Canary:
    def __init__(self, base: Path) -> None:
        self.dir = base / "canary"
        self.dir.mkdir()
        (self.dir / "file").write_text("original")
        os.chmod(self.dir, 0o750)
        os.chmod(self.dir / "file", 0o640)
        self.before = self._state()

    def _state(self) -> list[tuple[str, int, int, int, int, str]]:
        out = []
        for p in sorted([self.dir, *self.dir.rglob("*")]):
            st = os.lstat(p)
            body = p.read_text() if stat.S_ISREG(st.st_mode) else ""
            out.append((str(p), st.st_mode, st.st_uid, st.st_gid, st.st_nlink, body))
        return out

    def assert_untouched(self) -> None:
        assert self.dir.is_dir(), "the canary directory outside the root is gone"
        assert self._state() == self.before


@pytest.fixture
def canary(tmp_path: Path) -> Canary:
    return Canary(tmp_path)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    return r


def layer(root: Path, entries: list[Entry]) -> int:
    return apply_layer(io.BytesIO(make_tar(entries)), root)


def cp(root: Path, dest: str, entries: list[Entry]) -> None:
    extract_tar(str(root), dest, io.BytesIO(make_tar(entries)))


# -- whiteouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [".wh..", ".wh...", ".wh.", "sub/.wh...", "sub/.wh.."])
def test_whiteout_naming_no_entry_refused(root: Path, canary: Canary, name: str) -> None:
    """issue 13: `.wh...` made rmtree(<root>/..): the root's siblings went."""
    (root / "sub").mkdir()
    (root / "keep").write_text("k")
    with pytest.raises(UnsafeLayerPath):
        layer(root, [f(name)])
    canary.assert_untouched()
    assert (root / "keep").read_text() == "k" and (root / "sub").is_dir()


@pytest.mark.parametrize("name", [".wh..", ".wh..."])
def test_whiteout_naming_no_entry_refused_apart(root: Path, canary: Canary, name: str) -> None:
    with pytest.raises(UnsafeLayerPath):
        apply_layer_apart(io.BytesIO(make_tar([d("a"), f(f"a/{name}")])), root)
    canary.assert_untouched()


def test_opaque_whiteouts_in_odd_places_stay_inside(root: Path, canary: Canary) -> None:
    layer(root, [d("a"), f("a/x", b"1"), sym("up", ".."), sym("abs", str(canary.dir)), sym("rel", "../../canary")])
    layer(root, [f("up/.wh..wh..opq"), f("abs/.wh..wh..opq"), f("rel/.wh..wh..opq"), f("abs/.wh.file"),
                 f("rel/.wh.file"), f("up/up/up/.wh.canary")])
    canary.assert_untouched()
    assert os.listdir(root) == []  # `up` resolved to the root itself: an opaque root, nothing more


def test_opaque_whiteout_as_a_directory_member(root: Path, canary: Canary) -> None:
    layer(root, [d("o"), f("o/old", b"1"), sym("l", str(canary.dir))])
    layer(root, [d("o/.wh..wh..opq"), d("l/.wh..wh..opq")])
    assert os.listdir(root / "o") == []
    canary.assert_untouched()


# -- layers: names, links, devices, setuid ---------------------------------------------------------


def test_layer_hostile_names_and_links(root: Path, canary: Canary) -> None:
    rel = os.path.relpath(canary.dir, root)
    layer(root, [
        f(str(canary.dir / "file"), b"abs name"),
        sym("a", str(canary.dir)), f("a/file", b"through abs link"),
        sym("r", rel), f("r/file", b"through .. link"),
        sym("x", "/"), hard("h", f"x/{canary.dir.relative_to('/')}/file"),
    ])
    canary.assert_untouched()
    assert (root / canary.dir.relative_to("/") / "file").read_bytes() == b"through abs link"
    for bad in ([f("../canary/file", b"x")], [hard("h2", "../canary/file")], [hard("h3", "a/../../canary/file")]):
        with pytest.raises(UnsafeLayerPath):
            layer(root, bad)
    canary.assert_untouched()


def test_layer_devices_and_setuid_stay_inside(root: Path, canary: Canary) -> None:
    layer(root, [
        sym("dev", str(canary.dir)),
        Entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
        f("bin/su", b"elf", mode=0o4755, uid=0, gid=0),
        f("bin/sg", b"elf", mode=0o2755, uid=1000, gid=1000),
    ])
    canary.assert_untouched()
    nst = os.lstat(root / canary.dir.relative_to("/") / "null")
    assert stat.S_ISCHR(nst.st_mode) and os.major(nst.st_rdev) == 1
    assert stat.S_IMODE(os.lstat(root / "bin/su").st_mode) == 0o4755
    sg = os.lstat(root / "bin/sg")
    assert stat.S_IMODE(sg.st_mode) == 0o2755 and (sg.st_uid, sg.st_gid) == (1000, 1000)


def test_symlink_member_metadata_is_never_followed(root: Path, canary: Canary) -> None:
    layer(root, [sym("s", str(canary.dir / "file"))])
    layer(root, [Entry("s", tarfile.SYMTYPE, linkname=str(canary.dir / "file"), uid=4242, gid=4242,
                       pax={"SCHILY.xattr.trusted.test": "x"})])
    canary.assert_untouched()
    assert os.lstat(root / "s").st_uid == 4242


# -- docker cp ---------------------------------------------------------------------------------------


def test_cp_directory_member_over_a_planted_symlink(root: Path, canary: Canary) -> None:
    """issue 13: `/x -> /etc` in the container, `docker cp ./x c:/` chmodded and chowned host /etc."""
    os.symlink(str(canary.dir), root / "x")
    cp(root, "/", [d("x", mode=0o777, uid=4242, gid=4242), f("x/file", b"pwn", mode=0o777, uid=4242)])
    canary.assert_untouched()
    assert not (root / "x").is_symlink() and (root / "x/file").read_bytes() == b"pwn"
    assert os.lstat(root / "x").st_uid == 4242


def test_cp_file_member_over_a_planted_symlink(root: Path, canary: Canary) -> None:
    os.symlink(str(canary.dir / "file"), root / "f")
    cp(root, "/", [f("f", b"new", mode=0o777, uid=4242)])
    canary.assert_untouched()
    assert (root / "f").read_bytes() == b"new" and not (root / "f").is_symlink()


def test_cp_destination_symlink_resolved_in_the_root(root: Path, canary: Canary) -> None:
    os.symlink(str(canary.dir), root / "dest")
    os.symlink("../../../../..", root / "up")
    with pytest.raises(errors.NotFound):  # <root>/<canary's path> does not exist
        cp(root, "/dest", [f("file", b"in root")])
    (root / canary.dir.relative_to("/")).mkdir(parents=True)
    cp(root, "/dest", [f("file", b"in root")])
    cp(root, "/up", [f("top", b"in root")])
    canary.assert_untouched()
    assert (root / canary.dir.relative_to("/") / "file").read_bytes() == b"in root"
    assert (root / "top").read_bytes() == b"in root"


def test_cp_hard_links_out_refused(root: Path, canary: Canary) -> None:
    """issue 13: a hard link `../../host/file` into a volume linked a host file into the container."""
    rel = os.path.relpath(canary.dir / "file", root)
    (root / "vol").mkdir()
    for target in (rel, "../" + rel, "../../../../../../../../" + str(canary.dir.relative_to("/")) + "/file"):
        with pytest.raises(errors.InvalidArgument):
            cp(root, "/vol", [hard("h", target)])
    os.symlink(str(canary.dir), root / "vol/l")
    with pytest.raises(errors.DockyardError):  # resolved in the root: root/<canary path>/file, absent
        cp(root, "/vol", [hard("h", "l/file")])
    canary.assert_untouched()
    assert not (root / "vol/h").exists()


def test_cp_traversal_and_absolute_names(root: Path, canary: Canary) -> None:
    (root / "d").mkdir()
    with pytest.raises(errors.InvalidArgument):
        cp(root, "/d", [f("../../canary/file", b"x")])
    cp(root, "/d", [f(str(canary.dir / "file"), b"abs")])
    canary.assert_untouched()
    assert (root / "d" / canary.dir.relative_to("/") / "file").read_bytes() == b"abs"


def test_cp_symlink_then_file_through_it(root: Path, canary: Canary) -> None:
    cp(root, "/", [sym("l", str(canary.dir)), f("l/file", b"pwn"), sym("m", "../.."), f("m/canary/file", b"pwn")])
    canary.assert_untouched()
    assert (root / canary.dir.relative_to("/") / "file").read_bytes() == b"pwn"
    assert (root / "canary/file").read_bytes() == b"pwn"


def test_cp_whiteout_names_are_plain_files(root: Path, canary: Canary) -> None:
    (root / "keep").write_text("k")
    cp(root, "/", [f(".wh.keep", b"w"), f(".wh..wh..opq", b"o")])
    assert (root / "keep").read_text() == "k" and (root / ".wh.keep").read_bytes() == b"w"
    cp(root, "/", [f(".wh...", b"x"), f(".wh..", b"y")])  # plain names here: nothing is deleted
    assert (root / ".wh...").read_bytes() == b"x" and (root / "keep").read_text() == "k"
    canary.assert_untouched()


def test_cp_devices_and_setuid(root: Path, canary: Canary) -> None:
    os.symlink(str(canary.dir), root / "dev")
    cp(root, "/", [Entry("dev/zero", tarfile.CHRTYPE, devmajor=1, devminor=5, mode=0o666),
                   f("su", b"elf", mode=0o4755)])
    canary.assert_untouched()
    st = os.lstat(root / canary.dir.relative_to("/") / "zero")
    assert stat.S_ISCHR(st.st_mode) and stat.S_IMODE(os.lstat(root / "su").st_mode) == 0o4755


def test_cp_missing_destination_is_not_found(root: Path) -> None:
    with pytest.raises(errors.NotFound):
        cp(root, "/nope", [f("a")])
    (root / "file").write_text("")
    with pytest.raises(errors.InvalidArgument):
        cp(root, "/file", [f("a")])


def test_cp_streams_a_compressed_tar(root: Path) -> None:
    import gzip

    extract_archive(io.BytesIO(gzip.compress(make_tar([f("z", b"zz")]))), root, "/")
    assert (root / "z").read_bytes() == b"zz"


# -- the walk itself -----------------------------------------------------------------------------


def test_walk_never_leaves_and_reports_canonical_names(root: Path) -> None:
    os.symlink("/", root / "r")
    os.symlink("../../..", root / "u")
    (root / "a/b").mkdir(parents=True)
    os.symlink("/a/b", root / "ab")
    with Root(root) as r:
        assert r.dir(["r", "u", "r"]).parts == ()
        assert r.dir(["ab", "..", "b"]).parts == ("a", "b")
        made: list[str] = []
        assert r.dir(["ab", "new", "deeper"], create=True, created=made).parts == ("a", "b", "new", "deeper")
        assert made == ["a/b/new", "a/b/new/deeper"]
        os.symlink("loop", root / "loop")
        with pytest.raises(UnsafeLayerPath):
            r.dir(["loop"])


# -- volume copy-up --------------------------------------------------------------------------------


class _LayerArchive:
    """``snapshot_archive`` of containerd for a one-layer snapshot: ``write_tar`` over its directory."""

    def __init__(self, layer: Path) -> None:
        self.layer = layer

    def snapshot_archive(self, key: str, path: str) -> AsyncIterator[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            out = io.BytesIO()
            write_tar(str(self.layer), path, out)
            yield out.getvalue()

        return chunks()


def _copy_up(layer: Path, path: str, dest: Path) -> bool:
    return asyncio.run(copyup.copy_image_path(_LayerArchive(layer), "c", path, dest))  # type: ignore[arg-type]


def test_copyup_follows_no_image_symlink_on_the_host(tmp_path: Path, canary: Canary) -> None:
    layer_dir, dest = tmp_path / "layer", tmp_path / "vol"
    layer_dir.mkdir()
    dest.mkdir()
    os.symlink(str(canary.dir.parent), layer_dir / "data")  # the image's /data -> <host dir of the canary>
    assert not _copy_up(layer_dir, "/data/canary", dest)  # resolved inside the image: nothing there
    assert os.listdir(dest) == []
    canary.assert_untouched()


def test_copyup_writes_nothing_through_a_planted_symlink(tmp_path: Path, canary: Canary) -> None:
    layer_dir, dest = tmp_path / "layer", tmp_path / "vol"
    (layer_dir / "data/sub").mkdir(parents=True)
    (layer_dir / "data/sub/file").write_text("image")
    dest.mkdir()
    os.symlink(str(canary.dir), dest / "sub")  # another container sharing the volume was quicker
    assert _copy_up(layer_dir, "/data", dest)
    assert not (dest / "sub").is_symlink() and (dest / "sub" / "file").read_text() == "image"  # replaced
    canary.assert_untouched()


def test_copyup_gives_the_volume_the_image_directorys_metadata(tmp_path: Path) -> None:
    layer_dir, dest = tmp_path / "layer", tmp_path / "vol"
    (layer_dir / "data").mkdir(parents=True)
    (layer_dir / "data/file").write_text("image")
    os.chmod(layer_dir / "data", 0o751)
    os.utime(layer_dir / "data", (1_000_000, 1_000_000))
    dest.mkdir()
    assert _copy_up(layer_dir, "/data", dest)
    st = os.stat(dest)
    assert (st.st_mode & 0o7777, int(st.st_mtime)) == (0o751, 1_000_000)  # the archive's root entry's
