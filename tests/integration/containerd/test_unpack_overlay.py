"""Unpack a two-layer image into overlay snapshots and run a container rootfs on top."""

import io
import json
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.containerd import mount as mountlib
from dockyard.containerd.content import LocalContentStore, write_blob
from dockyard.containerd.diff import diff_upper, write_layer
from dockyard.containerd.images import LayerDigestMismatch, read_manifest, unpack
from dockyard.containerd.snapshots import Kind, OverlaySnapshotter
from dockyard.oci import image as oci
from dockyard.types import Descriptor

pytestmark = pytest.mark.root


def tar_of(files: dict[str, bytes | None]) -> bytes:
    """name -> content (None = directory); names starting with .wh. are whiteouts."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_600_000_000
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def build_image(store: LocalContentStore, layers: list[bytes], *, index: bool = False) -> str:
    descs, diff_ids = [], []
    for tar in layers:
        desc, diff_id = write_layer(io.BytesIO(tar), store)
        descs.append(desc)
        diff_ids.append(diff_id)
    cfg = oci.make_config(diff_ids, config={"Cmd": ["/bin/sh"]})
    cdesc = Descriptor(oci.MEDIA_TYPE_OCI_CONFIG, write_blob(store, cfg), len(cfg))
    man = oci.make_manifest(cdesc, descs)
    mdigest = write_blob(store, man)
    if not index:
        return mdigest
    mdesc = Descriptor(oci.MEDIA_TYPE_OCI_MANIFEST, mdigest, len(man), platform={"os": "linux", "architecture": "amd64"})
    other = Descriptor(oci.MEDIA_TYPE_OCI_MANIFEST, "sha256:" + "0" * 64, 1, platform={"os": "linux", "architecture": "s390x"})
    return write_blob(store, oci.make_index([other, mdesc]))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[LocalContentStore, OverlaySnapshotter, Path]]:
    store = LocalContentStore(tmp_path / "content")
    sn = OverlaySnapshotter(tmp_path / "overlay")
    target = Path(tempfile.mkdtemp(prefix="dockyard-it-rootfs-"))
    try:
        yield store, sn, target
    finally:
        mountlib.unmount_all(target, detach=True)
        if not mountlib.is_mounted(target):
            os.rmdir(target)
        sn.close()
        store.close()


LAYER1 = tar_of({"etc": None, "etc/keep": b"keep\n", "etc/remove-me": b"bye\n", "bin": None, "bin/sh": b"#!fake\n"})
LAYER2 = tar_of({"etc/.wh.remove-me": b"", "etc/added": b"added\n"})


@pytest.mark.parametrize("index", [False, True], ids=["manifest", "index"])
def test_unpack_two_layers_and_container_view(env: tuple[LocalContentStore, OverlaySnapshotter, Path], index: bool) -> None:
    store, sn, target = env
    digest = build_image(store, [LAYER1, LAYER2], index=index)
    top = unpack(store, sn, digest)
    manifest = read_manifest(store, digest)
    diff_ids = json.loads(store.read_all(manifest.config.digest))["rootfs"]["diff_ids"]
    assert top == oci.chain_ids(diff_ids)[-1]
    committed = sorted(i.name for i in sn.walk() if i.kind is Kind.COMMITTED)
    assert committed == sorted(oci.chain_ids(diff_ids))
    assert not [i for i in sn.walk() if i.kind is not Kind.COMMITTED]  # no extract-* leftovers

    # idempotent: a second unpack reuses the snapshots
    assert unpack(store, sn, digest) == top
    assert len(list(sn.walk())) == 2

    mounts = sn.prepare("container-1", top)
    assert mounts[0].type == "overlay"
    mountlib.mount_all(mounts, target)
    try:
        assert sorted(os.listdir(target / "etc")) == ["added", "keep"]
        assert (target / "etc/keep").read_text() == "keep\n"
        assert (target / "bin/sh").read_text() == "#!fake\n"
        (target / "etc/keep").unlink()
        (target / "new").write_text("container data")
    finally:
        mountlib.unmount_all(target)
    upper = Path(mounts[0].options[2].split("=", 1)[1])
    assert stat.S_ISCHR(os.lstat(upper / "etc/keep").st_mode)  # overlay whiteout in the upper dir
    with tarfile.open(fileobj=diff_upper(upper), mode="r|") as tf:
        names = {m.name for m in tf}
    assert {"etc/.wh.keep", "new", "etc"} <= names

    # the image's own layers are untouched
    v = sn.view("check", top)
    mountlib.mount_all(v, target)
    try:
        assert sorted(os.listdir(target / "etc")) == ["added", "keep"]
        assert not (target / "new").exists()
    finally:
        mountlib.unmount_all(target)


def test_diff_id_mismatch_refused(env: tuple[LocalContentStore, OverlaySnapshotter, Path]) -> None:
    store, sn, _ = env
    desc, _ = write_layer(io.BytesIO(LAYER1), store)
    cfg = oci.make_config(["sha256:" + "1" * 64])
    cdesc = Descriptor(oci.MEDIA_TYPE_OCI_CONFIG, write_blob(store, cfg), len(cfg))
    mdigest = write_blob(store, oci.make_manifest(cdesc, [desc]))
    with pytest.raises(LayerDigestMismatch):
        unpack(store, sn, mdigest)
    assert list(sn.walk()) == []
    assert not [line for line in open("/proc/self/mountinfo") if "dockyard-unpack-" in line]


def test_diff_upper_roundtrip_with_opaque_dir(env: tuple[LocalContentStore, OverlaySnapshotter, Path]) -> None:
    store, sn, target = env
    top = unpack(store, sn, build_image(store, [LAYER1]))
    mounts = sn.prepare("c", top)
    mountlib.mount_all(mounts, target)
    try:
        for name in os.listdir(target / "etc"):
            (target / "etc" / name).unlink()
        (target / "etc").rmdir()
        (target / "etc").mkdir()  # recreated dir over a lower one: overlay marks it opaque
        (target / "etc" / "fresh").write_text("fresh")
    finally:
        mountlib.unmount_all(target)
    upper = Path(mounts[0].options[2].split("=", 1)[1])
    tar = diff_upper(upper).read()
    desc, diff_id = write_layer(io.BytesIO(tar), store)
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        assert "etc/.wh..wh..opq" in tf.getnames()
    # apply the diff as a new layer on the image: only etc/fresh remains in etc
    top2 = unpack(store, sn, _image_from(store, [LAYER1], [(desc, diff_id)]))
    v = sn.view("v", top2)
    mountlib.mount_all(v, target)
    try:
        assert os.listdir(target / "etc") == ["fresh"]
        assert (target / "bin/sh").exists()
    finally:
        mountlib.unmount_all(target)


def _image_from(store: LocalContentStore, tars: list[bytes], extra: list[tuple[Descriptor, str]]) -> str:
    pairs = [write_layer(io.BytesIO(t), store) for t in tars] + extra
    cfg = oci.make_config([p[1] for p in pairs])
    cdesc = Descriptor(oci.MEDIA_TYPE_OCI_CONFIG, write_blob(store, cfg), len(cfg))
    return write_blob(store, oci.make_manifest(cdesc, [p[0] for p in pairs]))


def test_overlay_with_lowerdir_longer_than_a_page(env: tuple[LocalContentStore, OverlaySnapshotter, Path]) -> None:
    _, sn, target = env
    parent = ""
    for i in range(80):
        mounts = sn.prepare(f"k{i}", parent)
        upper = next((o[len("upperdir="):] for o in mounts[0].options if o.startswith("upperdir=")), mounts[0].source)
        upper = Path(upper)
        (upper / f"f{i}").write_text(str(i))
        sn.commit(f"L{i}", f"k{i}")
        parent = f"L{i}"
    mounts = sn.prepare("top", parent)
    assert len(",".join(mounts[0].options)) > os.sysconf("SC_PAGE_SIZE")
    mountlib.mount_all(mounts, target)
    try:
        assert len(os.listdir(target)) == 80
        assert (target / "f0").read_text() == "0"
    finally:
        mountlib.unmount_all(target)
