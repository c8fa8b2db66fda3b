"""Diff.ImportLayer with ``unpack``: the layer's snapshot is made while the layer is stored.

The builder's COPY relies on it (its next RUN needs the snapshot). It is an
optimisation that must never be wrong: the snapshot is committed under the
ChainID of the bytes actually stored, a missing parent or a hostile tar yields
no snapshot (and no error), and nothing is left behind.
"""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from dockyard.api import pb
from dockyard.oci import image as oci

pytestmark = pytest.mark.root


def tar_of(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        for name, target in (links or {}).items():
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.SYMTYPE
            ti.linkname = target
            tf.addfile(ti)
    return buf.getvalue()


def test_unpack_commits_the_snapshot_under_the_chain_id_of_the_stored_bytes(containerd):
    base = tar_of({"etc/base": b"base\n"})
    top = tar_of({"app/data.bin": os.urandom(3 << 20)})

    async def go(c):  # type: ignore[no-untyped-def]
        r1 = await c.import_layer([base], unpack_onto="")
        assert r1.snapshot == r1.diff_id  # a bottom layer's ChainID is its DiffID
        r2 = await c.import_layer([top[i:i + 65536] for i in range(0, len(top), 65536)], unpack_onto=r1.snapshot)
        assert r2.snapshot == oci.chain_ids([r1.diff_id, r2.diff_id])[1]
        info = await c.snapshots.Stat(pb.SnapshotKey(key=r2.snapshot))
        assert info.parent == r1.snapshot
        # the content is there: a view on the chain sees both layers' files
        return [m for m in (await c.snapshots.View(pb.PrepareSnapshotRequest(key="v", parent=r2.snapshot))).mounts]

    mounts = containerd.run(go)
    assert mounts, "a view of the imported chain has mounts"
    lowers = [o.removeprefix("lowerdir=") for m in mounts for o in m.options if o.startswith("lowerdir=")]
    dirs = lowers[0].split(":") if lowers else [m.source for m in mounts]
    found = {os.path.relpath(os.path.join(root, f), d) for d in dirs for root, _, files in os.walk(d) for f in files}
    assert {"etc/base", "app/data.bin"} <= found


def test_missing_parent_or_hostile_tar_gives_no_snapshot_but_the_layer_is_stored(containerd):
    # a symlink to an absolute host path, then a write through it
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("evil")
        ti.type = tarfile.SYMTYPE
        ti.linkname = "/tmp/dockyard-import-escape"
        tf.addfile(ti)
        data = b"pwned"
        ti = tarfile.TarInfo("evil/owned")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    hostile = buf.getvalue()

    async def go(c):  # type: ignore[no-untyped-def]
        missing = await c.import_layer([tar_of({"a": b"a"})], unpack_onto="sha256:" + "0" * 64)
        assert missing.snapshot == "" and missing.diff_id
        bad = await c.import_layer([hostile], unpack_onto="")
        return missing, bad

    missing, bad = containerd.run(go)
    assert not os.path.exists("/tmp/dockyard-import-escape/owned")
    assert bad.layer.digest  # stored: ImportLayer's contract does not change
    # no mount point or work directory of an unpack is left behind
    assert "dockyard-import-" not in open("/proc/self/mounts").read()
    assert not [p for p in (containerd.root / "unpack").iterdir() if p.name.startswith("dockyard-import-")]
