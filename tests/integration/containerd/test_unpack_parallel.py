"""Layers extracted in parallel on overlay: really at the same time, same result as one at a time, contained."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import os
import random
import stat
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.containerd import mount as mountlib
from dockyard.containerd.content import LocalContentStore, write_blob
from dockyard.containerd.diff import write_layer
from dockyard.containerd.diff.apply import NeedsLowers, UnsafeLayerPath, apply_layer_apart
from dockyard.containerd.images import unpack
from dockyard.containerd.images.unpack import LayerUnpacker
from dockyard.containerd.remotes.pull import Lease, pull
from dockyard.containerd.snapshots import Kind, NativeSnapshotter, OverlaySnapshotter
from dockyard.oci import image as oci
from dockyard.oci.reference import parse
from dockyard.types import Descriptor

sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "containerd"))
from layertar import Entry, d, f, hard, make_tar, sym

pytestmark = pytest.mark.root


@pytest.fixture
def mnt() -> Iterator[Path]:
    target = Path(tempfile.mkdtemp(prefix="dockyard-it-par-"))
    try:
        yield target
    finally:
        mountlib.unmount_all(target, detach=True)
        if not mountlib.is_mounted(target):
            os.rmdir(target)


# -- concurrency ---------------------------------------------------------------------------------

class _Resp:
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self.status = 200
        self.content = self
        self._chunks = chunks

    def iter_any(self) -> AsyncIterator[bytes]:
        return self._chunks

    def release(self) -> None:
        pass


class _StallingRepo:
    """Serves an image; layer 0's download stops half-way until layer 1 shows up extracted."""

    def __init__(self, blobs: dict[str, bytes], manifest: bytes, first: str, snapshots: Path, size: int) -> None:
        self.ref = parse("127.0.0.1:5000/t/par:1")
        self.endpoint = type("E", (), {"host": "127.0.0.1:5000"})()
        self.blobs, self.manifest, self.first = blobs, manifest, first
        self.snapshots, self.size = snapshots, size
        self.seen: tuple[int, int] = (0, 0)  # sizes of layer-0 and layer-1 in extraction snapshots, at the stall
        self.corrupt: set[str] = set()

    async def get_manifest(self, ref: str, hint: str = "") -> tuple[Descriptor, bytes]:
        return oci.descriptor_for(oci.MEDIA_TYPE_OCI_MANIFEST, self.manifest), self.manifest

    def _extracted(self, name: str) -> int:
        """Bytes of ``name`` in an extraction snapshot: only an extractor can have put them there."""
        sizes = [0]
        for p in self.snapshots.glob(f"snapshots/*/fs/{name}"):
            try:
                sizes.append(p.stat().st_size)
            except FileNotFoundError:
                pass
        return max(sizes)

    async def _chunks(self, data: bytes, stall: bool) -> AsyncIterator[bytes]:
        half = len(data) // 2
        yield data[:half]
        if stall:  # layer 0: half downloaded, so half extracted at most, until layer 1 is extracted whole
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                self.seen = (self._extracted("layer-0"), self._extracted("layer-1"))
                if self.seen[0] and self.seen[1] == self.size:
                    break
                await asyncio.sleep(0.01)
        yield data[half:]

    async def open_blob(self, digest: str, offset: int = 0) -> _Resp:
        data = self.blobs[digest]
        if digest in self.corrupt:
            data = data[:-40] + b"\0" * 40  # same size, wrong bytes: only the digest can tell
        return _Resp(self._chunks(data[offset:], digest == self.first))


def _image(sizes: list[int]) -> tuple[list[bytes], dict[str, bytes], list[Descriptor], list[str], bytes]:
    datas = [random.Random(i).randbytes(n) for i, n in enumerate(sizes)]
    tars = [make_tar([f(f"layer-{i}", data)]) for i, data in enumerate(datas)]
    blobs, layers = {}, []
    for tar in tars:
        gz = gzip.compress(tar, mtime=0)
        desc = oci.descriptor_for(oci.MEDIA_TYPE_OCI_LAYER_GZIP, gz)
        blobs[desc.digest] = gz
        layers.append(desc)
    diff_ids = ["sha256:" + hashlib.sha256(t).hexdigest() for t in tars]
    cfg = oci.make_config(diff_ids, architecture="amd64")
    cdesc = oci.descriptor_for(oci.MEDIA_TYPE_OCI_CONFIG, cfg)
    blobs[cdesc.digest] = cfg
    return datas, blobs, layers, diff_ids, oci.make_manifest(cdesc, layers)


def test_pull_extracts_layers_at_the_same_time(tmp_path: Path, mnt: Path) -> None:
    """Layer 1 is extracted whole while layer 0's file is partly written: the intervals overlap."""
    # random bytes; half of layer 0 is several of the download's 1 MiB writes and of the extractor's reads
    sizes = [8 << 20, 1 << 20, 1 << 20, 1 << 20]
    datas, blobs, layers, diff_ids, manifest = _image(sizes)
    store = LocalContentStore(tmp_path / "content")
    sn = OverlaySnapshotter(tmp_path / "overlay")
    try:
        repo = _StallingRepo(blobs, manifest, layers[0].digest, tmp_path / "overlay", sizes[1])
        unpacker = LayerUnpacker(store, sn, tmp_path)
        assert unpacker.parallel
        asyncio.run(pull(store, repo, None, lambda e: None, Lease(), unpacker))  # type: ignore[arg-type]
        assert 0 < repo.seen[0] < sizes[0] and repo.seen[1] == sizes[1], \
            f"layer 1 was not extracted while layer 0 was half-way (extracted bytes: {repo.seen})"

        chains = oci.chain_ids(diff_ids)
        infos = {i.name: i for i in sn.walk()}
        assert sorted(infos) == sorted(chains)  # no extraction snapshot left over
        assert [infos[c].parent for c in chains] == ["", *chains[:-1]]  # committed in chain order
        mountlib.mount_all(sn.view("v", chains[-1]), mnt)
        assert sorted(os.listdir(mnt)) == [f"layer-{i}" for i in range(4)]
        assert all((mnt / f"layer-{i}").read_bytes() == datas[i] for i in range(4))
    finally:
        mountlib.unmount_all(mnt, detach=True)
        sn.close()
        store.close()


def test_failed_parallel_pull_leaves_no_snapshot_behind(tmp_path: Path) -> None:
    """A corrupt layer fails the pull; no extraction snapshot stays, only what was committed before it."""
    _, blobs, layers, diff_ids, manifest = _image([1 << 20] * 4)
    store = LocalContentStore(tmp_path / "content")
    sn = OverlaySnapshotter(tmp_path / "overlay")
    try:
        repo = _StallingRepo(blobs, manifest, "", tmp_path / "overlay", 0)
        repo.corrupt = {layers[1].digest}
        with pytest.raises(errors.FailedPrecondition, match="digest"):
            asyncio.run(pull(store, repo, None, lambda e: None, Lease(), LayerUnpacker(store, sn, tmp_path)))
        chains = oci.chain_ids(diff_ids)
        left = {i.name: i.kind for i in sn.walk()}
        assert set(left) <= {chains[0]} and all(k is Kind.COMMITTED for k in left.values()), left
        assert len(list((tmp_path / "overlay" / "snapshots").iterdir())) == len(left)  # no directory either
    finally:
        sn.close()
        store.close()


def test_two_unpacks_of_one_image_extract_each_layer_once(tmp_path: Path) -> None:
    """Side by side (two pulls of one image), every layer is extracted by one of them only."""
    store = LocalContentStore(tmp_path / "content")
    sn = OverlaySnapshotter(tmp_path / "overlay")
    prepared: list[str] = []
    prepare = sn.prepare

    def counting(key: str, parent: str = "", labels: Any = None) -> Any:
        prepared.append(key)
        return prepare(key, parent, labels)

    sn.prepare = counting  # type: ignore[method-assign]
    try:
        digest = _build(store, [make_tar([f(f"l{i}", random.Random(i).randbytes(1 << 20))]) for i in range(6)])
        with ThreadPoolExecutor(2) as pool:
            tops = list(pool.map(lambda _: unpack(store, sn, digest, work_dir=tmp_path), range(2)))
        assert tops[0] == tops[1]
        assert len([k for k in prepared if k.startswith("extract-")]) == 6
        assert sorted(i.kind.value for i in sn.walk()) == ["committed"] * 6
    finally:
        sn.close()
        store.close()


# -- same result as one at a time ----------------------------------------------------------------

def _tricky_layers() -> list[bytes]:
    base = [
        d("tmp", mode=0o1777), d("usr", mode=0o755, uid=7, gid=8), d("usr/lib", mode=0o750), f("usr/lib/libfoo", b"foo"),
        sym("lib", "usr/lib"), d("etc"), f("etc/a", b"a"), f("etc/b", b"b"), d("dd"), f("dd/old", b"old"),
        d("dd/sub"), f("dd/sub/deep", b"deep"), f("ff", b"file"), sym("abs", "/usr"),
        Entry("srv", tarfile.DIRTYPE, mode=0o711, pax={"SCHILY.xattr.user.k": "v"}),
    ]
    return [
        make_tar(base),
        # apart on its own, settled at commit: implicit dirs that exist below (tmp 1777, usr uid 7),
        # a whiteout, an opaque directory, a deleted file made again as a directory, a layer symlink
        make_tar([f("tmp/x", b"x"), f("usr/share/doc", b"doc"), d("etc"), f("etc/.wh.a"), d("dd"), f("dd/.wh..wh..opq"),
                  f("dd/new", b"new"), f(".wh.ff"), d("ff"), f("ff/inside", b"in"), f("srv/file", b"s"),
                  sym("mylink", "/opt/x"), f("mylink/through", b"t"), f("etc/.wh.never-was")]),
        # through a lower symlink (lib -> usr/lib): applied again on its parent
        make_tar([f("lib/libbar", b"bar")]),
        # a hard link to a lower file: applied again on its parent
        make_tar([hard("etc/b-link", "etc/b")]),
        # a whiteout in a directory only the lowers have: applied again on its parent
        make_tar([f("usr/lib/.wh.libfoo")]),
        # through a lower absolute symlink (abs -> /usr), then a plain layer on top
        make_tar([f("abs/local/thing", b"t")]),
        make_tar([d("top"), f("top/last", b"last")]),
    ]


def _build(store: LocalContentStore, tars: list[bytes]) -> str:
    descs, diff_ids = [], []
    for tar in tars:
        desc, diff_id = write_layer(io.BytesIO(tar), store)
        descs.append(desc)
        diff_ids.append(diff_id)
    cfg = oci.make_config(diff_ids)
    cdesc = Descriptor(oci.MEDIA_TYPE_OCI_CONFIG, write_blob(store, cfg), len(cfg))
    return write_blob(store, oci.make_manifest(cdesc, descs))


def _tree(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            what: object = None
            if stat.S_ISREG(st.st_mode):
                what = Path(p).read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                what = os.readlink(p)
            xattrs = sorted((n, os.getxattr(p, n, follow_symlinks=False)) for n in
                            os.listxattr(p, follow_symlinks=False) if not n.startswith("trusted.overlay."))
            links = st.st_nlink if stat.S_ISREG(st.st_mode) else 0
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, what, links, xattrs)
    return out


def test_parallel_unpack_matches_sequential(tmp_path: Path, mnt: Path) -> None:
    """Whiteouts, opaque dirs, implicit dirs, lower symlinks and hard links: overlay-parallel == native-sequential."""
    store = LocalContentStore(tmp_path / "content")
    ov = OverlaySnapshotter(tmp_path / "overlay")
    nat = NativeSnapshotter(tmp_path / "native")
    try:
        digest = _build(store, _tricky_layers())
        top = unpack(store, ov, digest, work_dir=tmp_path)
        assert unpack(store, nat, digest, work_dir=tmp_path) == top
        assert not [i.name for i in ov.walk() if i.kind is not Kind.COMMITTED]
        mountlib.mount_all(ov.view("v", top), mnt)
        native_mounts = nat.view("v", top)
        got, want = _tree(mnt), _tree(Path(native_mounts[0].source))
        assert got == want
        # what the sequence means, spelled out for the cases that differ from a plain apply
        assert want["tmp"][1] == 0o1777 and want["usr"][2:4] == (7, 8)
        assert "lib/libbar" not in want and want["usr/lib/libbar"][4] == b"bar"
        assert "usr/lib/libfoo" not in want and "etc/a" not in want and "dd/old" not in want
        assert want["ff"][0] == stat.S_IFDIR and "ff/inside" in want
        assert want["usr/local/thing"][4] == b"t" and want["etc/b-link"][5] == 2
    finally:
        mountlib.unmount_all(mnt, detach=True)
        ov.close()
        nat.close()
        store.close()


# -- contained --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("entries", "refused"), [
    ([f("../escape", b"x")], UnsafeLayerPath),
    ([sym("a", "{out}"), f("a/pwn", b"pwn")], None),
    ([sym("b", "../../../../{out}"), f("b/pwn", b"pwn")], None),
    ([sym("c", "{out}"), f("c/.wh.keep")], NeedsLowers),  # not in the layer: left to the sequential apply
    ([sym("e", "{out}"), d("e/sub"), f("e/sub/.wh..wh..opq")], None),
    ([hard("h", "{out}/keep")], NeedsLowers),
    ([hard("h", "../../../{out}/keep")], UnsafeLayerPath),
    ([sym("s", "{out}/keep"), hard("h2", "s"), f("h2", b"overwrite")], None),
], ids=["dotdot", "abs-symlink-write", "rel-symlink-write", "whiteout-through-symlink", "opaque-through-symlink",
        "hardlink-out", "hardlink-dotdot", "symlink-then-write"])
def test_apart_apply_stays_inside(tmp_path: Path, entries: list[Entry], refused: type[Exception] | None) -> None:
    outside = Path("/tmp") / f"outside-{uuid.uuid4().hex}"
    outside.mkdir()
    (outside / "keep").write_text("original")
    root = tmp_path / "upper"
    root.mkdir()
    try:
        for e in entries:
            e.name = e.name.replace("{out}", str(outside))
            e.linkname = e.linkname.replace("{out}", str(outside))
        tar = io.BytesIO(make_tar(entries))
        if refused is None:
            apply_layer_apart(tar, root)
            assert any(p.is_file() for p in root.rglob("*")) or any(root.rglob("sub"))
        else:
            with pytest.raises(refused):
                apply_layer_apart(tar, root)
        assert sorted(p.name for p in outside.iterdir()) == ["keep"]
        assert (outside / "keep").read_text() == "original"
        assert not (tmp_path / "escape").exists()
    finally:
        for p in sorted(outside.rglob("*"), reverse=True):
            p.unlink() if not p.is_dir() or p.is_symlink() else p.rmdir()
        outside.rmdir()
