"""The gRPC services of dockyard-containerd: thin wiring over the library.

Each servicer only translates: protobuf in, a call into content / snapshots /
metadata / images / tasks, protobuf out, and errors through one table
(``errors`` kind -> gRPC status). Blocking work (files, SQLite, unpack) runs in
worker threads so the event loop keeps serving waits and streams.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import queue
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc

from dockyard import __version__, errors
from dockyard.api import containerd_pb2 as pb
from dockyard.api import containerd_pb2_grpc as rpc
from dockyard.containerd import namespaces
from dockyard.containerd.content.local import LocalContentStore
from dockyard.containerd.diff.layer import write_layer
from dockyard.containerd.images.unpack import unpack
from dockyard.containerd.metadata.db import ContainerRecord, ImageRecord, MetadataStore
from dockyard.containerd.snapshots.overlay import OverlaySnapshotter
from dockyard.containerd.tasks.manager import Stdio, TaskManager, TaskState
from dockyard.types import Descriptor, Mount

log = logging.getLogger("dockyard.containerd")

STATUS: dict[type[errors.DockyardError], grpc.StatusCode] = {
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Conflict: grpc.StatusCode.ABORTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.NotImplementedYet: grpc.StatusCode.UNIMPLEMENTED,
}


def status_of(err: errors.DockyardError) -> grpc.StatusCode:
    for kind, code in STATUS.items():
        if isinstance(err, kind):
            return code
    return grpc.StatusCode.INTERNAL


F = TypeVar("F", bound=Callable[..., Any])


def translated(fn: F) -> F:
    """Turn library errors into gRPC status codes with the message intact."""

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await fn(self, request, context)
        except errors.DockyardError as err:
            await context.abort(status_of(err), str(err))
        except OSError as err:
            log.exception("%s failed", fn.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"{fn.__name__}: {err}")

    return wrapper  # type: ignore[return-value]


def namespace_of(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == namespaces.METADATA_KEY:
            return namespaces.validate(str(value))
    return namespaces.DEFAULT


def _desc_pb(d: Descriptor) -> pb.Descriptor:
    return pb.Descriptor(media_type=d.media_type, digest=d.digest, size=d.size, annotations=d.annotations)


def _desc(d: pb.Descriptor) -> Descriptor:
    return Descriptor(media_type=d.media_type, digest=d.digest, size=d.size, annotations=dict(d.annotations))


def _mounts_pb(mounts: list[Mount]) -> pb.MountsResponse:
    return pb.MountsResponse(mounts=[pb.Mount(type=m.type, source=m.source, options=list(m.options), target=m.target)
                                     for m in mounts])


def _image_pb(r: ImageRecord) -> pb.Image:
    return pb.Image(name=r.name, target=_desc_pb(r.target), labels=r.labels, created_at=r.created_at,
                    updated_at=r.updated_at)


def _container_pb(c: ContainerRecord) -> pb.Container:
    return pb.Container(id=c.id, image=c.image, snapshotter=c.snapshotter, snapshot_key=c.snapshot_key, spec=c.spec,
                        runtime=c.runtime, labels=c.labels, created_at=c.created_at)


def _task_pb(t: TaskState) -> pb.TaskState:
    return pb.TaskState(container_id=t.id, pid=t.pid, status=t.status, exit_status=t.exit_status,
                        exited_at=t.exited_at)


class _QueueReader(io.RawIOBase):
    """A blocking file fed from the event loop, so a sync consumer can stream a gRPC upload."""

    def __init__(self) -> None:
        self.q: queue.Queue[bytes | None] = queue.Queue(maxsize=64)
        self.buf = b""
        self.eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self.buf and not self.eof:
            chunk = self.q.get()
            if chunk is None:
                self.eof = True
            else:
                self.buf = chunk
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n


class Services:
    """The library objects every servicer shares."""

    def __init__(self, root: Path, state: Path) -> None:
        self.content = LocalContentStore(root / "content")
        self.meta = MetadataStore(root / "metadata.db")
        self.snapshotter = OverlaySnapshotter(root / "snapshots" / "overlayfs")
        self.tasks = TaskManager(state, state / "runc")
        self.unpack_lock = threading.Lock()

    def snapshots(self, namespace: str) -> namespaces.NamespacedSnapshotter:
        return namespaces.NamespacedSnapshotter(self.snapshotter, namespace)


class ContentServicer(rpc.ContentServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    def _info_pb(self, info: Any) -> pb.ContentInfo:
        return pb.ContentInfo(digest=info.digest, size=info.size, labels=info.labels,
                              created_at=int(info.created_at.timestamp() * 1e9))

    @translated
    async def Info(self, request: pb.ContentInfoRequest, context: Any) -> pb.ContentInfo:
        return self._info_pb(await asyncio.to_thread(self.s.content.info, request.digest))

    async def Read(self, request: pb.ReadContentRequest, context: Any) -> AsyncIterator[pb.ReadContentResponse]:
        try:
            f = await asyncio.to_thread(self.s.content.open, request.digest)
        except errors.DockyardError as err:
            await context.abort(status_of(err), str(err))
            return
        with f:
            if request.offset:
                f.seek(request.offset)
            while chunk := await asyncio.to_thread(f.read, 1 << 20):
                yield pb.ReadContentResponse(data=chunk)

    async def Write(self, request_iterator: AsyncIterator[pb.WriteContentRequest], context: Any) -> pb.ContentInfo:
        writer = None
        expected = ""
        labels: dict[str, str] = {}
        try:
            async for req in request_iterator:
                if writer is None:
                    expected = req.expected
                    labels = dict(req.labels)
                    writer = await asyncio.to_thread(
                        self.s.content.writer, req.ref or f"write-{uuid.uuid4().hex}", req.total or None,
                        expected or None)
                if req.data:
                    await asyncio.to_thread(writer.write, req.data)
            if writer is None:
                raise errors.InvalidArgument("content write: no data sent")
            try:
                digest = await asyncio.to_thread(writer.commit, None, expected or None, labels)
            except errors.AlreadyExists:
                digest = expected or writer.digest()
            return self._info_pb(await asyncio.to_thread(self.s.content.info, digest))
        except errors.DockyardError as err:
            if writer is not None:
                await asyncio.to_thread(writer.abort)
            await context.abort(status_of(err), str(err))
            raise  # unreachable: abort raises

    @translated
    async def List(self, request: pb.ListContentRequest, context: Any) -> pb.ListContentResponse:
        infos = await asyncio.to_thread(lambda: list(self.s.content.walk()))
        return pb.ListContentResponse(infos=[self._info_pb(i) for i in infos])

    @translated
    async def Delete(self, request: pb.DeleteContentRequest, context: Any) -> pb.Empty:
        await asyncio.to_thread(self.s.content.delete, request.digest)
        return pb.Empty()


class DiffServicer(rpc.DiffServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    async def ImportLayer(self, request_iterator: AsyncIterator[pb.ImportLayerRequest], context: Any
                          ) -> pb.ImportLayerResponse:
        reader = _QueueReader()
        job = asyncio.ensure_future(asyncio.to_thread(write_layer, io.BufferedReader(reader), self.s.content))
        try:
            async for req in request_iterator:
                if req.data:
                    await asyncio.to_thread(reader.q.put, req.data)
        finally:
            await asyncio.to_thread(reader.q.put, None)
        try:
            desc, diff_id = await job
        except errors.DockyardError as err:
            await context.abort(status_of(err), str(err))
            raise
        except Exception as err:  # a corrupt tar or stream is the caller's input error
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"import layer: {err}")
            raise
        return pb.ImportLayerResponse(layer=_desc_pb(desc), diff_id=diff_id)


class ImagesServicer(rpc.ImagesServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    @translated
    async def Get(self, request: pb.GetImageRequest, context: Any) -> pb.Image:
        return _image_pb(await asyncio.to_thread(self.s.meta.get_image, namespace_of(context), request.name))

    @translated
    async def List(self, request: pb.ListImagesRequest, context: Any) -> pb.ListImagesResponse:
        imgs = await asyncio.to_thread(self.s.meta.list_images, namespace_of(context))
        return pb.ListImagesResponse(images=[_image_pb(i) for i in imgs])

    @translated
    async def Put(self, request: pb.Image, context: Any) -> pb.Image:
        if not request.name:
            raise errors.InvalidArgument("image name must not be empty")
        target = _desc(request.target)
        await asyncio.to_thread(self.s.content.info, target.digest)  # the target must exist
        rec = ImageRecord(request.name, target, dict(request.labels))
        return _image_pb(await asyncio.to_thread(self.s.meta.put_image, namespace_of(context), rec))

    @translated
    async def Delete(self, request: pb.DeleteImageRequest, context: Any) -> pb.Empty:
        await asyncio.to_thread(self.s.meta.delete_image, namespace_of(context), request.name)
        return pb.Empty()

    @translated
    async def Unpack(self, request: pb.UnpackRequest, context: Any) -> pb.UnpackResponse:
        ns = namespace_of(context)
        img = await asyncio.to_thread(self.s.meta.get_image, ns, request.name)

        def run() -> str:
            with self.s.unpack_lock:  # two unpacks of one chain must not race on its snapshot
                return unpack(self.s.content, self.s.snapshots(ns), img.target.digest)

        return pb.UnpackResponse(chain_id=await asyncio.to_thread(run))


class SnapshotsServicer(rpc.SnapshotsServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    @translated
    async def Prepare(self, request: pb.PrepareSnapshotRequest, context: Any) -> pb.MountsResponse:
        sn = self.s.snapshots(namespace_of(context))
        return _mounts_pb(await asyncio.to_thread(sn.prepare, request.key, request.parent, dict(request.labels)))

    @translated
    async def View(self, request: pb.PrepareSnapshotRequest, context: Any) -> pb.MountsResponse:
        sn = self.s.snapshots(namespace_of(context))
        return _mounts_pb(await asyncio.to_thread(sn.view, request.key, request.parent, dict(request.labels)))

    @translated
    async def Mounts(self, request: pb.SnapshotKey, context: Any) -> pb.MountsResponse:
        sn = self.s.snapshots(namespace_of(context))
        return _mounts_pb(await asyncio.to_thread(sn.mounts, request.key))

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
        await asyncio.to_thread(self.s.meta.delete_container, ns, request.id)
        return pb.Empty()


class TasksServicer(rpc.TasksServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    @translated
    async def Create(self, request: pb.CreateTaskRequest, context: Any) -> pb.TaskState:
        ns = namespace_of(context)
        rec = await asyncio.to_thread(self.s.meta.get_container, ns, request.container_id)
        mounts = [Mount(m.type, m.source, tuple(m.options), m.target) for m in request.rootfs]
        stdio = Stdio(request.stdin, request.stdout, request.stderr, request.terminal)
        return _task_pb(await self.s.tasks.create(ns, rec, mounts, stdio))

    @translated
    async def Start(self, request: pb.TaskRequest, context: Any) -> pb.TaskState:
        return _task_pb(await self.s.tasks.start(namespace_of(context), request.container_id))

    @translated
    async def Kill(self, request: pb.KillRequest, context: Any) -> pb.Empty:
        await self.s.tasks.kill(namespace_of(context), request.container_id, request.signal or 15, request.all)
        return pb.Empty()

    @translated
    async def Wait(self, request: pb.TaskRequest, context: Any) -> pb.ExitStatus:
        t = await self.s.tasks.wait(namespace_of(context), request.container_id)
        return pb.ExitStatus(exit_status=t.exit_status, exited_at=t.exited_at)

    @translated
    async def Delete(self, request: pb.TaskRequest, context: Any) -> pb.ExitStatus:
        t = await self.s.tasks.delete(namespace_of(context), request.container_id)
        return pb.ExitStatus(exit_status=t.exit_status, exited_at=t.exited_at)

    @translated
    async def State(self, request: pb.TaskRequest, context: Any) -> pb.TaskState:
        return _task_pb(await self.s.tasks.state(namespace_of(context), request.container_id))

    @translated
    async def List(self, request: pb.ListTasksRequest, context: Any) -> pb.ListTasksResponse:
        return pb.ListTasksResponse(tasks=[_task_pb(t) for t in await self.s.tasks.list(namespace_of(context))])


class VersionServicer(rpc.VersionServicer):
    async def Version(self, request: pb.Empty, context: Any) -> pb.VersionResponse:
        return pb.VersionResponse(version=__version__, revision="")


def build_server(services: Services, address: str) -> grpc.aio.Server:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20),
                                      ("grpc.max_send_message_length", 64 << 20)])
    rpc.add_ContentServicer_to_server(ContentServicer(services), server)
    rpc.add_DiffServicer_to_server(DiffServicer(services), server)
    rpc.add_ImagesServicer_to_server(ImagesServicer(services), server)
    rpc.add_SnapshotsServicer_to_server(SnapshotsServicer(services), server)
    rpc.add_ContainersServicer_to_server(ContainersServicer(services), server)
    rpc.add_TasksServicer_to_server(TasksServicer(services), server)
    rpc.add_VersionServicer_to_server(VersionServicer(), server)
    server.add_insecure_port(address)
    return server


