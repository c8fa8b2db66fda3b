"""Build contexts received as a stream onto disk (issue 13): every compression, limits,
traversal refused, files named by number in a private directory, kept contexts hard-linked,
and bind-mount sources written without following the tree's symlinks."""

from __future__ import annotations

import asyncio
import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.builder.context import ContextDir, FileTree, OnDisk, materialize, read_payload
from dockyard.builder.contexts import ContextCache
from dockyard.builder.receive import Limits, receive


def tar(members: list[tuple[str, bytes | str | None]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """``None``: a directory; a ``str``: a symlink to it; bytes: a file (``@name`` bytes: a hard link)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, what in members:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_700_000_000
            if what is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif isinstance(what, str):
                ti.type, ti.linkname = tarfile.SYMTYPE, what
                tf.addfile(ti)
            elif what.startswith(b"@"):
                ti.type, ti.linkname = tarfile.LNKTYPE, what[1:].decode()
                tf.addfile(ti)
            else:
                ti.size, ti.mode = len(what), 0o640
                tf.addfile(ti, io.BytesIO(what))
    return buf.getvalue()


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def received(tmp_path: Path, data: bytes, limits: Limits = Limits()) -> FileTree:
    store = ContextDir(tmp_path / "contexts")
    try:
        return asyncio.run(receive(chunks(data), store, limits))
    except BaseException:
        store.release()
        raise


CONTEXT = [("Dockerfile", b"FROM scratch\n"), ("dir", None), ("dir/a.txt", b"A" * 70_000),
           ("dir/link", "a.txt"), ("hard", b"@dir/a.txt"), ("x" * 150 + "/long.txt", b"long"),
           (".wh.Dockerfile", b"a file, not a whiteout")]


@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress, bz2.compress, lzma.compress,
                                      lambda b: gzip.compress(b[:3000]) + gzip.compress(b[3000:])],
                         ids=["plain", "gzip", "bzip2", "xz", "gzip-two-members"])
def test_every_compression_lands_on_disk_as_the_tar_said(tmp_path: Path, compress) -> None:  # type: ignore[no-untyped-def]
    tree = received(tmp_path, compress(tar(CONTEXT)))
    e = tree.entries
    assert read_payload(e["Dockerfile"].data) == b"FROM scratch\n"
    assert e[".wh.Dockerfile"].info.isreg()  # a context has no whiteouts
    a = e["dir/a.txt"]
    assert isinstance(a.data, OnDisk) and a.data.size == 70_000 and a.info.mode == 0o640
    assert read_payload(a.data) == b"A" * 70_000
    assert e["dir/link"].info.issym() and e["dir/link"].info.linkname == "a.txt"
    assert e["hard"].info.isreg() and read_payload(e["hard"].data) == b"A" * 70_000
    assert read_payload(e["x" * 150 + "/long.txt"].data) == b"long"
    assert a.ident.startswith(e["Dockerfile"].ident.split("@")[0] + "@")  # named by the body's digest
    assert e["hard"].ident == a.ident
    assert tree.store is not None
    root = Path(tree.store.path)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE(root.parent.stat().st_mode) == 0o700
    assert all(p.name.isalnum() and p.is_file() and not p.is_symlink() for p in root.iterdir())
    tree.store.release()
    assert not root.exists()


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "/../../etc/passwd"])
def test_traversal_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="outside"):
        received(tmp_path, tar([("Dockerfile", b"x"), (name, b"x")]))
    assert list((tmp_path / "contexts").iterdir()) == []


def test_the_size_limit_counts_the_expanded_bytes(tmp_path: Path) -> None:
    body = gzip.compress(tar([("zeros", bytes(1 << 20))]), 1)
    assert len(body) < 10_000
    with pytest.raises(errors.InvalidArgument, match=r"limit of 512.0 KiB \(dockyardd --build-context-limit\)"):
        received(tmp_path, body, Limits(size=512 << 10))
    assert list((tmp_path / "contexts").iterdir()) == []
    received(tmp_path, body, Limits(size=2 << 20))


def test_the_entry_limit(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidArgument, match="more than 3 entries"):
        received(tmp_path, tar([(f"f{i}", b"") for i in range(4)]), Limits(files=3))
    received(tmp_path, tar([(f"f{i}", b"") for i in range(3)]), Limits(files=3))


@pytest.mark.parametrize("body", [b"FROM scratch\n" * 100, tar([("f", b"x" * 5000)])[:1500],
                                  gzip.compress(b"not a tar" * 100)[:-20]])
def test_garbage_and_truncation_are_invalid_arguments(tmp_path: Path, body: bytes) -> None:
    with pytest.raises(errors.InvalidArgument):
        received(tmp_path, body)


def test_an_empty_body_is_an_empty_context(tmp_path: Path) -> None:
    assert received(tmp_path, b"").entries == {}


def test_kept_contexts_link_unchanged_files_and_free_their_directories(tmp_path: Path) -> None:
    cache = ContextCache(budget=1 << 20)
    line = ["big", 70_000, 1, 1, 7, 1, 0o100644, 0, 0]
    token, need = cache.need("k", [line])
    first = cache.assemble(token, received(tmp_path, tar([("big", b"B" * 70_000)])))
    assert first.store is not None
    first.store.release()  # the build is done; the cache holds it
    first_dir = Path(first.store.path)
    assert first_dir.exists()
    token, need = cache.need("k", [line])
    assert need == []
    second = cache.assemble(token, received(tmp_path, tar([("Dockerfile", b"FROM scratch\n")])))
    assert second.store is not None
    big = second.entries["big"].data
    assert isinstance(big, OnDisk) and big.path.startswith(second.store.path)
    assert read_payload(big) == b"B" * 70_000
    assert not first_dir.exists()  # replaced: its file lives on as a link in the new directory
    second.store.release()
    assert Path(second.store.path).exists()  # still the session's kept context


def test_materialize_never_follows_the_trees_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = outside / "canary"
    canary.write_text("untouched")
    tree = received(tmp_path, tar([("src", None), ("src/esc", str(outside)), ("src/esc/canary", b"overwritten"),
                                   ("src/ok", b"fine")]))
    dest = tmp_path / "bind"
    materialize(tree, "src", str(dest))
    assert canary.read_text() == "untouched"
    assert os.readlink(dest / "esc") == str(outside)
    assert (dest / "ok").read_bytes() == b"fine"


def test_kept_contexts_are_bounded_by_their_entries_too(tmp_path: Path) -> None:
    cache = ContextCache(max_entries=3)
    for key in ("old", "new"):
        token, _ = cache.need(key, [["f", 1, 1, 1, 7, 1, 0o100644, 0, 0]])
        tree = cache.assemble(token, received(tmp_path, tar([("f", b"x"), ("g", b"y")])))
        assert tree.store is not None
        tree.store.release()
    assert cache.need("old", [["f", 1, 1, 1, 7, 1, 0o100644, 0, 0]])[1] == ["f"]  # evicted: 4 entries > 3
    assert cache.need("new", [["f", 1, 1, 1, 7, 1, 0o100644, 0, 0]])[1] == []
    assert len(list((tmp_path / "contexts").iterdir())) == 1  # the evicted one's directory is gone


def test_a_packed_file_reads_as_itself(tmp_path: Path) -> None:
    """Small files share one pack: reading one (an ADDed archive, is_archive) sees its bytes only."""
    from dockyard.builder.context import is_archive, open_payload

    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tf:
        ti = tarfile.TarInfo("pkg/readme")
        ti.size = 11
        tf.addfile(ti, io.BytesIO(b"inside tar\n"))
    tree = received(tmp_path, tar([("first", b"x" * 1000), ("pkg.tar.gz", inner.getvalue()), ("last", b"y")]))
    data = tree.entries["pkg.tar.gz"].data
    assert isinstance(data, OnDisk) and data.packed and data.offset > 0
    assert is_archive(data) and not is_archive(tree.entries["first"].data)
    with open_payload(data) as f, tarfile.open(fileobj=f, mode="r|*") as tf:
        assert [(m.name, tf.extractfile(m).read()) for m in tf] == [("pkg/readme", b"inside tar\n")]  # type: ignore[union-attr]
