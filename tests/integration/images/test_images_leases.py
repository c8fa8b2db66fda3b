"""Leases over gRPC: a named lease holds blobs and a pull's layers against GC until deleted or expired."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_images_registry import drain, make_image  # type: ignore[import-not-found]

from dockyard import errors
from dockyard.api import pb
from dockyard.containerd.leases import LeaseManager

pytestmark = pytest.mark.root


def test_images_lease_holds_blob_and_pull(containerd, registry) -> None:  # type: ignore[no-untyped-def]
    name = f"{registry.host}/lease/img:1"

    async def go(c):  # type: ignore[no-untyped-def]
        lease = await c.leases.Create(pb.CreateLeaseRequest(id="build-1", labels={"by": "test"}, expire_seconds=3600))
        assert lease.expires_at > time.time_ns()
        with pytest.raises(errors.AlreadyExists):
            await c.leases.Create(pb.CreateLeaseRequest(id="build-1"))
        info = await c.write_blob(b"held by a lease")
        await c.leases.AddResource(pb.AddLeaseResourceRequest(id="build-1", digest=info.digest))
        assert info.digest not in (await c.gc()).blobs
        # A pull under the lease: its blobs stay after the image record is gone.
        target = await make_image(c, name, [41, 42])
        await drain(c.push(name))
        await c.images.Delete(pb.DeleteImageRequest(name=name))
        await c.gc()
        c.metadata = (*c.metadata, ("containerd-lease", "build-1"))
        await drain(c.pull(name))
        await c.images.Delete(pb.DeleteImageRequest(name=name))
        (listed,) = (await c.leases.List(pb.ListLeasesRequest())).leases
        assert listed.id == "build-1" and listed.labels["by"] == "test"
        assert target.digest in listed.digests and info.digest in listed.digests and len(listed.snapshots) == 2
        kept = await c.gc()
        assert kept.blobs == [] and kept.snapshots == []
        await c.leases.Delete(pb.DeleteLeaseRequest(id="build-1"))
        with pytest.raises(errors.NotFound):
            await c.leases.Delete(pb.DeleteLeaseRequest(id="build-1"))
        freed = await c.gc()
        assert info.digest in freed.blobs and target.digest in freed.blobs and len(freed.snapshots) == 2

    containerd.run(go)


def test_images_lease_expiry_and_persistence(tmp_path: Path) -> None:
    m = LeaseManager(tmp_path / "leases.json")
    keep = m.create("keep", {"a": "b"})
    gone = m.create("gone", expire_seconds=60)
    m.add("keep", {"sha256:" + "1" * 64}, {"chain"})
    gone.expires_at = time.time_ns() - 1  # as if a minute passed
    assert [x.id for x in m.live()] == ["keep"]
    again = LeaseManager(tmp_path / "leases.json")  # a restarted daemon keeps named leases
    (x,) = again.list()
    assert (x.id, x.labels, x.digests, x.snapshots) == ("keep", {"a": "b"}, {"sha256:" + "1" * 64}, {"chain"})
    assert keep.created_at == x.created_at
    with pytest.raises(errors.InvalidArgument):
        m.create("neg", expire_seconds=-1)
