"""The fast tar reader behind FileTree.add_tar agrees with tarfile, and the cache bookkeeping."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from dockyard.builder.cache import BuildCache
from dockyard.builder.context import FileTree, _members


def _tar(fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tf:
        d = tarfile.TarInfo("dir")
        d.type, d.mode = tarfile.DIRTYPE, 0o750
        tf.addfile(d)
        for name, data in (("dir/a.txt", b"A" * 700), ("x" * 150 + "/long-name.txt", b"long"),
                           ("dir/ünïcode", b"u"), ("empty", b"")):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.uid, ti.gid, ti.mtime = len(data), 0o640, 1000, 2000, 1_700_000_000
            tf.addfile(ti, io.BytesIO(data))
        s = tarfile.TarInfo("dir/link")
        s.type, s.linkname = tarfile.SYMTYPE, "y" * 120
        tf.addfile(s)
        h = tarfile.TarInfo("hard")
        h.type, h.linkname = tarfile.LNKTYPE, "dir/a.txt"
        tf.addfile(h)
    return out.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_fast_reader_matches_tarfile(fmt: int) -> None:
    data = _tar(fmt)
    fast = list(_members(data))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        slow = [(m, tf.extractfile(m).read() if m.isreg() else b"") for m in tf]  # type: ignore[union-attr]
    assert len(fast) == len(slow) == 7
    for (a, da, offset), (b, db) in zip(fast, slow):
        assert (a.name, a.type, a.mode, a.uid, a.gid, a.size, int(a.mtime), a.linkname) == \
            (b.name, b.type, b.mode, b.uid, b.gid, b.size, int(b.mtime), b.linkname)
        assert da == db
        assert offset == b.offset_data  # where the bytes are: what names a big file (its ident)
        assert data[offset:offset + b.size] == db


def test_big_files_are_named_by_where_they_came_in() -> None:
    big, small = b"B" * 70_000, b"s"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("small", small), ("big", big)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    t = FileTree()
    t.add_tar(buf.getvalue(), "sha256:abc")
    assert t.entries["small"].ident == ""  # small files are hashed: cheap
    offset = int(t.entries["big"].ident.removeprefix("sha256:abc@"))
    assert buf.getvalue()[offset:offset + len(big)] == big
    untold = FileTree()
    untold.add_tar(buf.getvalue())  # no digest of the tar: nothing to name the bytes by
    assert untold.entries["big"].ident == ""


def test_add_tar_falls_back_and_rejects_garbage() -> None:
    t = FileTree()
    t.add_tar(_tar(tarfile.PAX_FORMAT))
    assert t.entries["dir/a.txt"].data == b"A" * 700 and t.is_dir("dir")
    with pytest.raises(tarfile.TarError):
        FileTree().add_tar(b"not a tar at all" * 100)


def test_cache_roots_prune_returns_only_unused_roots(tmp_path: Path) -> None:
    c = BuildCache(tmp_path / "c.db")
    c.put("k1", "sha256:c1", [{"digest": "sha256:l1"}], 10, root="sha256:r1")
    c.put("k2", "sha256:c2", [], 0, root="sha256:r2")
    c.put("old", "sha256:c3", [], 0)  # an entry from before roots existed is a miss
    assert c.get("k1") == ("sha256:c1", [{"digest": "sha256:l1"}], "sha256:r1")
    assert c.get("old") is None
    assert sorted(c.roots()) == ["sha256:r1", "sha256:r2"]
    n, size, roots = c.prune()
    assert (n, size, roots) == (3, 10, ["sha256:r1", "sha256:r2"])
    assert c.usage() == (0, 0)
