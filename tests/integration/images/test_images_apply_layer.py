"""Diff.ApplyLayer and plain (uncompressed) layers: what the builder stores and reuses.

A layer stored with ``compression="none"`` is its own tar: the blob digest is the diff_id.
``ApplyLayer`` makes the snapshot of one stored layer on a committed parent, and must refuse
a diff_id that is not the layer's, leaving no snapshot behind.
"""

from __future__ import annotations

import os

import pytest

from dockyard import errors
from dockyard.api import pb
from dockyard.oci import image as oci
from tests.integration.images.test_images_import_unpack import tar_of

pytestmark = pytest.mark.root


def _files_of(mounts) -> set[str]:  # type: ignore[no-untyped-def]
    lowers = [o.removeprefix("lowerdir=") for m in mounts for o in m.options if o.startswith("lowerdir=")]
    dirs = lowers[0].split(":") if lowers else [m.source for m in mounts]
    return {os.path.relpath(os.path.join(root, f), d) for d in dirs for root, _, files in os.walk(d) for f in files}


def test_a_plain_layer_is_its_own_diff_and_applies_onto_another_parent(containerd):
    base_a = tar_of({"etc/a": b"a\n"})
    base_b = tar_of({"etc/b": b"b\n"})
    top = tar_of({"app/data.bin": os.urandom(1 << 20)})

    async def go(c):  # type: ignore[no-untyped-def]
        a = await c.import_layer([base_a], unpack_onto="", compression="none")
        b = await c.import_layer([base_b], unpack_onto="", compression="none")
        t = await c.import_layer([top], unpack_onto=a.snapshot, compression="none")
        assert t.layer.media_type == oci.MEDIA_TYPE_OCI_LAYER
        assert t.layer.digest == t.diff_id and t.layer.size == len(top)  # stored as sent
        layer = {"mediaType": t.layer.media_type, "digest": t.layer.digest, "size": t.layer.size}
        # the same stored layer on the other base: a new chain, made from the blob alone
        chain = await c.apply_layer(layer, t.diff_id, b.snapshot)
        assert chain == oci.chain_ids([b.diff_id, t.diff_id])[1]
        assert await c.apply_layer(layer, t.diff_id, b.snapshot) == chain  # already there: the same answer
        view = await c.snapshots.View(pb.PrepareSnapshotRequest(key="apply-view", parent=chain))
        files = _files_of(list(view.mounts))
        await c.snapshots.Remove(pb.SnapshotKey(key="apply-view"))
        return files

    files = containerd.run(go)
    assert {"etc/b", "app/data.bin"} <= files and "etc/a" not in files


def test_apply_layer_refuses_a_diff_id_that_is_not_the_layers(containerd):
    layer_tar = tar_of({"x": b"x"})
    wrong = "sha256:" + "1" * 64

    snapshot_dirs = containerd.root / "snapshots" / "overlayfs" / "snapshots"

    async def go(c):  # type: ignore[no-untyped-def]
        r = await c.import_layer([layer_tar], unpack_onto="", compression="none")
        layer = {"mediaType": r.layer.media_type, "digest": r.layer.digest, "size": r.layer.size}
        before = sorted(snapshot_dirs.iterdir())
        assert len(before) == 1  # the import's own snapshot
        with pytest.raises(errors.FailedPrecondition, match="does not match"):
            await c.apply_layer(layer, wrong, "")
        with pytest.raises(errors.NotFound):
            await c.snapshots.Stat(pb.SnapshotKey(key=wrong))
        after = sorted(snapshot_dirs.iterdir())
        return before, after

    before, after = containerd.run(go)
    assert after == before  # the half-made snapshot was removed


def test_apply_layer_of_a_missing_blob_is_not_found(containerd):
    async def go(c):  # type: ignore[no-untyped-def]
        layer = {"mediaType": oci.MEDIA_TYPE_OCI_LAYER, "digest": "sha256:" + "2" * 64, "size": 10}
        with pytest.raises(errors.NotFound):
            await c.apply_layer(layer, "sha256:" + "2" * 64, "")

    containerd.run(go)
