"""The snapshots service of dockyard-containerd (gRPC wiring over the library)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any, TypeVar

from dockyard import errors
from dockyard.api import pb, rpc
from dockyard.archive.files import write_tar
from dockyard.containerd import rootfs_files
from dockyard.containerd.services.base import (
    Services,
    _mounts_pb,
    namespace_of,
    spooled,
    translated,
)
from dockyard.containerd.snapshots import remap
from dockyard.containerd.snapshots.subtree import subtree_mounts

T = TypeVar("T")


class SnapshotsServicer(rpc.SnapshotsServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    @translated
    async def Prepare(self, request: pb.PrepareSnapshotRequest, context: Any) -> pb.MountsResponse:
        sn = self.s.snapshots(namespace_of(context))
        labels = dict(request.labels)
        if remap.ranges(labels) is not None:
            return _mounts_pb(await asyncio.to_thread(self._prepare_remapped, sn, request.key, request.parent, labels))
        return _mounts_pb(await asyncio.to_thread(sn.prepare, request.key, request.parent, labels))

    def _prepare_remapped(self, sn: Any, key: str, parent: str, labels: dict[str, str]) -> list[Any]:
        """An active snapshot for a user namespace: on the parent's remapped copy (``snapshots/remap.py``)."""
        uids, gids = remap.ranges(labels)  # type: ignore[misc]
        with self.s.unpack_lock:  # one copy of a chain at a time, and no GC between the copy and its child
            if parent:
                parent = remap.remapped_parent(sn, parent, uids, gids, self.s.work_dir)
            mounts: list[Any] = sn.prepare(key, parent, labels)
        remap.own_upper(mounts, uids.shift(0), gids.shift(0))
        return mounts

    @translated
    async def View(self, request: pb.PrepareSnapshotRequest, context: Any) -> pb.MountsResponse:
        sn = self.s.snapshots(namespace_of(context))
        return _mounts_pb(await asyncio.to_thread(sn.view, request.key, request.parent, dict(request.labels)))

    @translated
    async def Mounts(self, request: pb.SnapshotKey, context: Any) -> pb.MountsResponse:
        sn = self.s.snapshots(namespace_of(context))
        return _mounts_pb(await asyncio.to_thread(sn.mounts, request.key))

    @translated
    async def SubtreeMounts(self, request: pb.SnapshotPathRequest, context: Any) -> pb.MountsResponse:
        sn = self.s.snapshots(namespace_of(context))

        def run() -> list[Any]:
            return subtree_mounts(sn.mounts(request.key), request.path)

        return _mounts_pb(await asyncio.to_thread(run))

    @translated
    async def Commit(self, request: pb.CommitSnapshotRequest, context: Any) -> pb.Empty:
        sn = self.s.snapshots(namespace_of(context))
        await asyncio.to_thread(sn.commit, request.name, request.key)
        return pb.Empty()

    @translated
    async def Remove(self, request: pb.SnapshotKey, context: Any) -> pb.Empty:
        sn = self.s.snapshots(namespace_of(context))
        await asyncio.to_thread(sn.remove, request.key)
        return pb.Empty()

    @translated
    async def Stat(self, request: pb.SnapshotKey, context: Any) -> pb.SnapshotInfo:
        sn = self.s.snapshots(namespace_of(context))
        info = await asyncio.to_thread(sn.stat, request.key)
        prefix = sn.prefix
        return pb.SnapshotInfo(name=info.name.removeprefix(prefix), parent=(info.parent or "").removeprefix(prefix),
                               kind=info.kind.name.lower(), labels=dict(info.labels))

    @translated
    async def Usage(self, request: pb.SnapshotKey, context: Any) -> pb.SnapshotUsage:
        sn = self.s.snapshots(namespace_of(context))
        u = await asyncio.to_thread(sn.usage, request.key)
        return pb.SnapshotUsage(size=u.size, inodes=u.inodes)

    # -- files of a snapshot, for the engine's reads of a rootfs (users, volume copy-up) ------

    def _view(self, ns: str, key: str, read: Callable[[str], T]) -> T:
        """``read(root)`` on the snapshot's files, read-only: the rootfs of a running task on it, else a
        read-only mount that only this call sees (``rootfs_files.viewed``)."""
        running = self._task_rootfs(ns, key)
        if running is not None and os.path.ismount(running):
            return read(str(running))
        return rootfs_files.viewed(None, self.s.snapshots(ns).mounts(key), self.s.work_dir, read)

    def _task_rootfs(self, ns: str, key: str) -> Path | None:
        """Where the task of the container on snapshot ``key`` has its rootfs. The engine and the CRI
        name a container's snapshot after the container (those whose files are read here), so the
        container is looked up by the key; a build step's (another key) is never read here."""
        try:
            rec = self.s.meta.get_container(ns, key)
        except errors.NotFound:
            return None
        return self.s.tasks.bundle(ns, rec.id) / "rootfs" if rec.snapshot_key == key else None

    @translated
    async def ReadFiles(self, request: pb.ReadFilesRequest, context: Any) -> pb.ReadFilesResponse:
        ns = namespace_of(context)

        def run() -> dict[str, bytes]:
            return self._view(ns, request.key, lambda root: rootfs_files.read_files(
                root, list(request.paths), request.max_size or rootfs_files.READ_FILES_MAX))

        return pb.ReadFilesResponse(files=await asyncio.to_thread(run))

    async def Archive(self, request: pb.SnapshotPathRequest, context: Any) -> AsyncIterator[pb.SnapshotChunk]:
        ns = namespace_of(context)

        def write(spool: IO[bytes]) -> None:
            self._view(ns, request.key, lambda root: write_tar(root, request.path or "/", spool))

        async for data in spooled(context, self.s.work_dir, write, "snapshot archive"):
            yield pb.SnapshotChunk(data=data)
