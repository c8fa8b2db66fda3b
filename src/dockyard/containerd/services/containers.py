"""The containers service of dockyard-containerd (gRPC wiring over the library)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import IO, Any

import grpc

from dockyard import errors
from dockyard.api import pb, rpc
from dockyard.archive.files import extract_stream, extract_tar, stat_path, write_tar
from dockyard.archive.idmap import IdMap
from dockyard.containerd.metadata.db import ContainerRecord
from dockyard.containerd.rootfs_files import changes, mounted, overlay_dirs
from dockyard.containerd.services.base import (
    Services,
    _container_pb,
    namespace_of,
    spooled,
    translated,
)
from dockyard.containerd.snapshots import remap

log = logging.getLogger(__name__)

class ContainersServicer(rpc.ContainersServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    @translated
    async def Create(self, request: pb.Container, context: Any) -> pb.Container:
        if not request.id:
            raise errors.InvalidArgument("container id must not be empty")
        rec = ContainerRecord(request.id, request.image, request.snapshotter or "overlayfs", request.snapshot_key,
                              request.spec, request.runtime or "dockyard-runc", dict(request.labels))
        return _container_pb(await asyncio.to_thread(self.s.meta.create_container, namespace_of(context), rec))

    @translated
    async def Get(self, request: pb.GetContainerRequest, context: Any) -> pb.Container:
        return _container_pb(await asyncio.to_thread(self.s.meta.get_container, namespace_of(context), request.id))

    @translated
    async def List(self, request: pb.ListContainersRequest, context: Any) -> pb.ListContainersResponse:
        recs = await asyncio.to_thread(self.s.meta.list_containers, namespace_of(context))
        return pb.ListContainersResponse(containers=[_container_pb(c) for c in recs])

    @translated
    async def Delete(self, request: pb.DeleteContainerRequest, context: Any) -> pb.Empty:
        ns = namespace_of(context)
        if self.s.tasks.bundle(ns, request.id).exists():
            raise errors.FailedPrecondition(f"container {request.id!r}: has a task; delete the task first")
        try:
            await asyncio.to_thread(self.s.meta.delete_container, ns, request.id)
        finally:
            await self.s.tasks.release_shm(ns, request.id)  # a shareable IPC's tmpfs (tasks/shm.py)
        return pb.Empty()

    # -- files of the rootfs: docker cp, export, diff -----------------------------------

    def _rootfs(self, ns: str, id: str) -> Any:
        """A context manager yielding the container's rootfs path (see containerd.rootfs_files.mounted)."""
        rec = self.s.meta.get_container(ns, id)
        mounts = self.s.snapshots(ns).mounts(rec.snapshot_key)
        return mounted(self.s.tasks.bundle(ns, id) / "rootfs", mounts, self.s.work_dir)

    def _ids(self, ns: str, id: str) -> IdMap | None:
        """The user namespace ranges of the container's snapshot (its Prepare's remap labels): its
        archives carry the container's view of ownership, as dockerd's of a remapped container."""
        rec = self.s.meta.get_container(ns, id)
        return remap.ranges(self.s.snapshots(ns).stat(rec.snapshot_key).labels)

    @translated
    async def StatPath(self, request: pb.ContainerPathRequest, context: Any) -> pb.PathStat:
        def run() -> dict[str, Any]:
            with self._rootfs(namespace_of(context), request.id) as root:
                return stat_path(root, request.path or "/")

        return pb.PathStat(json=json.dumps(await asyncio.to_thread(run)).encode())

    async def Archive(self, request: pb.ContainerPathRequest, context: Any) -> Any:
        ns = namespace_of(context)

        def write(spool: IO[bytes]) -> None:
            ids = self._ids(ns, request.id)
            with self._rootfs(ns, request.id) as root:
                write_tar(root, request.path, spool, ids=ids)  # "": the whole rootfs, names relative (export)

        async for data in spooled(context, self.s.work_dir, write, "archive"):
            yield pb.DataChunk(data=data)

    @translated
    async def Extract(self, request_iterator: Any, context: Any) -> pb.Empty:
        ns = namespace_of(context)
        requests = request_iterator.__aiter__()
        try:
            first = await requests.__anext__()
        except StopAsyncIteration:
            raise errors.InvalidArgument("extract: no request") from None

        async def chunks() -> Any:
            yield first.data
            async for req in requests:
                yield req.data

        def run(src: Any) -> None:
            ids = self._ids(ns, first.id)
            with self._rootfs(ns, first.id) as root:
                extract_tar(root, first.path or "/", src, first.no_overwrite_dir_non_dir,
                            (first.uid, first.gid) if first.chown else None, ids)

        try:
            await extract_stream(chunks(), run)
        except errors.DockyardError:
            await _drain(requests)  # so the client reads this status, not gRPC's "Internal error from Core"
            raise
        return pb.Empty()

    @translated
    async def Changes(self, request: pb.ContainerPathRequest, context: Any) -> pb.ChangesResponse:
        ns = namespace_of(context)

        def run() -> list[tuple[int, str]]:
            rec = self.s.meta.get_container(ns, request.id)
            dirs = overlay_dirs(self.s.snapshots(ns).mounts(rec.snapshot_key))
            if dirs is None:
                raise errors.NotImplementedYet("changes: only overlay snapshots are supported")
            return changes(*dirs)

        return pb.ChangesResponse(changes=[pb.Change(path=p, kind=k) for k, p in await asyncio.to_thread(run)])


async def _drain(requests: Any, limit: int = 1 << 28, timeout: float = 2.0) -> None:
    """Read what the client still sends of a refused stream (at most ``limit`` bytes, ``timeout``
    seconds): a call ended while the client is mid-write reaches it as INTERNAL, not our status."""
    async def read() -> None:
        seen = 0
        async for req in requests:
            seen += len(req.data)
            if seen > limit:
                return

    try:
        await asyncio.wait_for(read(), timeout)
    except (TimeoutError, StopAsyncIteration, grpc.RpcError, RuntimeError) as err:
        log.debug("extract: stopped draining a refused stream: %r", err)
