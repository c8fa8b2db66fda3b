"""What every servicer shares: the library objects, error translation, namespaces, conversions."""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import queue
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import grpc

from dockyard import diskfull, errors
from dockyard.api import pb
from dockyard.containerd import namespaces
from dockyard.containerd.content.local import LocalContentStore
from dockyard.containerd.gc import recover, recover_mounts
from dockyard.containerd.leases import LeaseManager
from dockyard.containerd.locks import UnpackLock
from dockyard.containerd.metadata.db import ContainerRecord, ImageRecord, MetadataStore
from dockyard.containerd.snapshots.overlay import OverlaySnapshotter
from dockyard.containerd.tasks.manager import TaskManager, TaskState
from dockyard.fsmode import private_dir
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
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
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
        except (errors.DockyardError, OSError) as err:
            await _abort_for(context, err, fn.__name__)

    return wrapper  # type: ignore[return-value]


async def _abort_for(context: grpc.aio.ServicerContext, err: errors.DockyardError | OSError, what: str) -> None:
    """End the call (``abort`` raises) with ``err`` as its status: a library error by its kind, a full disk as
    RESOURCE_EXHAUSTED (the kind travels as the status, not the text), any other OSError as INTERNAL."""
    if isinstance(err, errors.DockyardError):
        await context.abort(status_of(err), str(err))
    if diskfull.is_full(err):
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{what}: {err}")
    log.error("%s failed", what, exc_info=err)
    await context.abort(grpc.StatusCode.INTERNAL, f"{what}: {err}")


async def spooled(context: grpc.aio.ServicerContext, work_dir: Path, write: Callable[[IO[bytes]], None],
                  what: str) -> AsyncIterator[bytes]:
    """What ``write`` puts in a spool file (run in a thread; its error answered as its status before
    any data, a full disk as RESOURCE_EXHAUSTED), then that file in 1 MiB chunks."""
    spool = tempfile.TemporaryFile(dir=work_dir)
    try:
        try:
            await asyncio.to_thread(write, spool)
            spool.seek(0)
        except (errors.DockyardError, OSError) as err:
            await _abort_for(context, err, what)
        while chunk := await asyncio.to_thread(spool.read, 1 << 20):
            yield chunk
    finally:
        spool.close()


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
        self.buf = memoryview(b"")  # a view: slicing off what was read must not copy the rest
        self.eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self.buf and not self.eof:
            chunk = self.q.get()
            if chunk is None:
                self.eof = True
            else:
                self.buf = memoryview(chunk)
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n


class Services:
    """The library objects every servicer shares."""

    def __init__(self, root: Path, state: Path) -> None:
        self.content = LocalContentStore(root / "content")
        self.meta = MetadataStore(root / "metadata.db")
        self.snapshotter = OverlaySnapshotter(private_dir(root / "snapshots") / "overlayfs")
        self.tasks = TaskManager(state, state / "runc")
        self.unpack_lock = UnpackLock()  # exclusive: GC, fsck, image unpack; shared: pulls
        self.lease_manager = LeaseManager(root / "leases.json")
        self.leases = self.lease_manager.transient  # id -> Lease of a pull/import in progress (GC roots)
        self.gc_lock = threading.Lock()
        self.work_dir = root / "unpack"  # extraction mount points: under the root, so a crash's leftovers are found
        private_dir(self.work_dir)
        for name in [*recover_mounts(self.work_dir), *recover(self.snapshotter)]:
            log.info("recovered: removed %s left by a crash", name)

    def snapshots(self, namespace: str) -> namespaces.NamespacedSnapshotter:
        return namespaces.NamespacedSnapshotter(self.snapshotter, namespace)
