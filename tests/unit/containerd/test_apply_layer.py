"""apply_layer semantics and containment: nothing may be written outside root."""

import io
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from layertar import Entry, d, f, hard, make_tar, sym

from dockyard.containerd.diff import HashingReader, UnsafeLayerPath, apply_layer
from dockyard.containerd.diff.apply import LayerApplyError, resolve_in_root
from dockyard.oci.digest import sha256_digest


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    return r


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A directory outside root, watched for any change."""
    o = Path("/tmp") / f"outside-{uuid.uuid4().hex}"
    o.mkdir()
    (o / "keep").write_text("original")
    yield o
    for p in sorted(o.rglob("*"), reverse=True):
        p.unlink() if not p.is_dir() or p.is_symlink() else p.rmdir()
    o.rmdir()


def apply(root: Path, entries: list[Entry]) -> int:
    return apply_layer(io.BytesIO(make_tar(entries)), root)


def assert_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["keep"]
    assert (outside / "keep").read_text() == "original"


def test_basic_types_and_metadata(root: Path) -> None:
    data = b"x" * 3000
    n = apply(root, [
        d("bin", mtime=1_000_000),
        f("bin/tool", data, mode=0o4755, uid=1234, gid=5678, mtime=1_500_000),
        sym("bin/link", "tool"),
        sym("abs", "/etc/passwd"),
        hard("bin/tool2", "bin/tool"),
        Entry("null", b"3", devmajor=1, devminor=3, mode=0o666),
        Entry("fifo", b"6", mode=0o600),
    ])
    assert n > len(data)
    st = os.lstat(root / "bin/tool")
    assert (root / "bin/tool").read_bytes() == data
    assert stat.S_IMODE(st.st_mode) == 0o4755 and (st.st_uid, st.st_gid) == (1234, 5678)
    assert st.st_mtime == 1_500_000
    assert os.readlink(root / "bin/link") == "tool"
    assert os.readlink(root / "abs") == "/etc/passwd"  # kept as-is, resolved in the container later
    assert os.lstat(root / "bin/tool2").st_ino == st.st_ino
    assert os.lstat(root / "bin").st_mtime == 1_000_000  # dir mtime set after its children
    assert stat.S_ISFIFO(os.lstat(root / "fifo").st_mode)
    nst = os.lstat(root / "null")
    assert stat.S_ISCHR(nst.st_mode) and (os.major(nst.st_rdev), os.minor(nst.st_rdev)) == (1, 3)


def test_returns_size_and_hash_of_whole_tar(root: Path) -> None:
    tar = make_tar([f("a", b"abc")])
    reader = HashingReader(io.BytesIO(tar))
    assert apply_layer(reader, root) == len(tar)  # type: ignore[arg-type]
    assert reader.digester.digest() == sha256_digest(tar)


def test_xattrs_and_capabilities(root: Path) -> None:
    cap = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    pax = {"SCHILY.xattr.user.test": "hello", "SCHILY.xattr.security.capability": cap.decode("utf-8", "surrogateescape")}
    apply(root, [f("ping", b"elf", mode=0o755, pax=pax)])
    assert os.getxattr(root / "ping", "user.test") == b"hello"
    assert os.getxattr(root / "ping", "security.capability") == cap


def test_whiteout_and_opaque(root: Path) -> None:
    apply(root, [d("a"), f("a/gone", b"1"), f("a/stay", b"2"), d("o"), f("o/old", b"3"), d("o/sub"), f("o/sub/x", b"4")])
    apply(root, [f("a/.wh.gone"), d("o"), f("o/.wh..wh..opq"), f("o/new", b"5"), f(".wh.missing")])
    assert not (root / "a/gone").exists() and (root / "a/stay").exists()
    assert sorted(p.name for p in (root / "o").iterdir()) == ["new"]
    assert not (root / "a/.wh.gone").exists() and not (root / ".wh.missing").exists()


def test_opaque_keeps_entries_of_same_layer_listed_before(root: Path) -> None:
    apply(root, [d("o"), f("o/old", b"3")])
    apply(root, [d("o"), f("o/new", b"5"), f("o/.wh..wh..opq")])
    assert sorted(p.name for p in (root / "o").iterdir()) == ["new"]


def test_replaces_existing_entries_without_following(root: Path, outside: Path) -> None:
    os.symlink(outside / "keep", root / "file")
    apply(root, [f("file", b"new")])
    assert not (root / "file").is_symlink() and (root / "file").read_bytes() == b"new"
    assert_untouched(outside)
    apply(root, [d("x"), f("x/y", b"1")])
    apply(root, [f("x", b"now a file")])
    assert (root / "x").read_bytes() == b"now a file"


@pytest.mark.parametrize("name", ["../x", "a/../../x", "./../x", "../" + "tmp/x"])
def test_dotdot_escape_refused(root: Path, name: str) -> None:
    with pytest.raises(UnsafeLayerPath):
        apply(root, [f(name, b"pwn")])
    assert not (root.parent / "x").exists()


def test_absolute_names_made_relative(root: Path, outside: Path) -> None:
    apply(root, [f(str(outside / "abs"), b"pwn"), f("/etc/hostname-test", b"ok")])
    assert_untouched(outside)
    assert (root / outside.relative_to("/") / "abs").read_bytes() == b"pwn"
    assert (root / "etc/hostname-test").read_bytes() == b"ok"
    assert not Path("/etc/hostname-test").exists()


def test_symlink_then_write_stays_inside(root: Path, outside: Path) -> None:
    apply(root, [sym("a", str(outside)), f("a/pwn", b"pwn"), sym("b", "/etc"), f("b/passwd-test", b"x")])
    assert_untouched(outside)
    assert (root / outside.relative_to("/") / "pwn").read_bytes() == b"pwn"
    assert (root / "etc/passwd-test").read_bytes() == b"x"
    assert not Path("/etc/passwd-test").exists()


def test_self_referencing_absolute_symlink_is_a_loop(root: Path) -> None:
    """etc -> /etc inside root points at itself: refused (ELOOP), never the host's /etc."""
    with pytest.raises(UnsafeLayerPath):
        apply(root, [sym("etc", "/etc"), f("etc/passwd-test", b"x")])
    assert not Path("/etc/passwd-test").exists()


def test_symlink_from_lower_layer_stays_inside(root: Path, outside: Path) -> None:
    apply(root, [sym("a", str(outside))])
    apply(root, [f("a/pwn", b"pwn")])
    assert_untouched(outside)


def test_relative_symlink_escape_stays_inside(root: Path, outside: Path) -> None:
    rel = os.path.relpath(outside, root)  # ../../../tmp/outside-...
    apply(root, [sym("a", rel), f("a/pwn", b"pwn")])
    assert_untouched(outside)


def test_symlink_dir_chain_stays_inside(root: Path, outside: Path) -> None:
    apply(root, [
        sym("l1", "l2"), sym("l2", "../../../l3"), sym("l3", str(outside.parent)),
        f(f"l1/{outside.name}/pwn", b"pwn"),
        d("real"), sym("real/up", "../.."), f(f"real/up/{outside.relative_to('/')}/pwn2", b"pwn"),
    ])
    assert_untouched(outside)
    assert (root / outside.relative_to("/") / "pwn").read_bytes() == b"pwn"
    assert (root / outside.relative_to("/") / "pwn2").read_bytes() == b"pwn"


def test_symlink_loop_refused(root: Path) -> None:
    with pytest.raises(UnsafeLayerPath):
        apply(root, [sym("a", "b"), sym("b", "a"), f("a/x", b"1")])


def test_hardlink_outside_refused(root: Path) -> None:
    with pytest.raises(UnsafeLayerPath):
        apply(root, [hard("pw", "../../../../../../etc/passwd")])
    # an absolute target is re-rooted: /etc/passwd means root/etc/passwd, absent here
    with pytest.raises(LayerApplyError):
        apply(root, [hard("pw", "/etc/passwd")])
    assert not (root / "pw").exists()


def test_hardlink_through_symlink_stays_inside(root: Path, outside: Path) -> None:
    with pytest.raises(LayerApplyError):
        apply(root, [sym("o", str(outside)), hard("h", "o/keep")])
    assert os.lstat(outside / "keep").st_nlink == 1


def test_hardlink_to_symlink_links_the_symlink(root: Path, outside: Path) -> None:
    apply(root, [sym("s", str(outside / "keep")), hard("h", "s")])
    assert os.readlink(root / "h") == str(outside / "keep")
    assert os.lstat(outside / "keep").st_nlink == 1


def test_whiteout_through_symlink_stays_inside(root: Path, outside: Path) -> None:
    apply(root, [sym("a", str(outside)), f("a/.wh.keep"), f("a/.wh..wh..opq")])
    assert_untouched(outside)


def test_resolve_in_root_never_leaves(root: Path) -> None:
    os.symlink("/", root / "r")
    os.symlink("../../..", root / "u")
    assert resolve_in_root(str(root), ["r", "u", "r"]) == str(root)
