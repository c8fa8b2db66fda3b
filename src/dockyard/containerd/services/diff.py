"""The diff service of dockyard-containerd (gRPC wiring over the library)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import tarfile
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import grpc

from dockyard import errors
from dockyard.api import pb, rpc
from dockyard.containerd import mount as mountlib
from dockyard.containerd.diff.apply import apply_layer
from dockyard.containerd.diff.diff import diff_upper
from dockyard.containerd.diff.layer import write_layer
from dockyard.containerd.images.unpack import apply_onto
from dockyard.containerd.locks import UnpackLock
from dockyard.containerd.services.base import (
    Services,
    _desc,
    _desc_pb,
    _QueueReader,
    namespace_of,
    status_of,
    translated,
)
from dockyard.containerd.snapshots import remap
from dockyard.containerd.snapshots.snapshotter import Snapshotter
from dockyard.oci import image as oci
from dockyard.types import Mount

log = logging.getLogger("dockyard.containerd.diff")


def upper_dir(mounts: list[Mount]) -> Path:
    """The directory holding an active snapshot's own changes: overlay's upperdir, or a bind's source."""
    if len(mounts) == 1 and mounts[0].type == "overlay":
        for opt in mounts[0].options:
            if opt.startswith("upperdir="):
                return Path(opt.removeprefix("upperdir="))
    if len(mounts) == 1 and mounts[0].type == "bind":
        return Path(mounts[0].source)
    raise errors.FailedPrecondition("snapshot has no single upper directory to diff")


class DiffServicer(rpc.DiffServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    async def ImportLayer(self, request_iterator: AsyncIterator[pb.ImportLayerRequest], context: Any
                          ) -> pb.ImportLayerResponse:
        reader = _QueueReader()
        job: asyncio.Future[tuple[Any, str]] | None = None
        unpacker: StreamUnpack | None = None
        try:
            async for req in request_iterator:
                if job is None:
                    job = asyncio.ensure_future(asyncio.to_thread(
                        write_layer, io.BufferedReader(reader), self.s.content, req.compression or "gzip",
                        behind=req.behind))
                    if req.unpack:
                        unpacker = await asyncio.to_thread(
                            StreamUnpack.start, self.s.snapshots(namespace_of(context)), req.parent,
                            self.s.work_dir, self.s.unpack_lock)
                if req.data:
                    await asyncio.to_thread(reader.q.put, req.data)
                    if unpacker is not None:
                        await asyncio.to_thread(unpacker.feed, req.data)
        finally:
            await asyncio.to_thread(reader.q.put, None)
            if unpacker is not None:
                await asyncio.to_thread(unpacker.feed, None)
        if job is None:  # an empty request stream: an empty layer
            job = asyncio.ensure_future(asyncio.to_thread(write_layer, io.BufferedReader(reader), self.s.content))
        try:
            desc, diff_id = await job
        except errors.DockyardError as err:
            if unpacker is not None:
                await asyncio.to_thread(unpacker.finish, None)
            await context.abort(status_of(err), str(err))
            raise
        except Exception as err:  # a corrupt tar or stream is the caller's input error
            if unpacker is not None:
                await asyncio.to_thread(unpacker.finish, None)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"import layer: {err}")
            raise
        snapshot = await asyncio.to_thread(unpacker.finish, diff_id) if unpacker is not None else ""
        return pb.ImportLayerResponse(layer=_desc_pb(desc), diff_id=diff_id, snapshot=snapshot)

    @translated
    async def CreateLayer(self, request: pb.CreateLayerRequest, context: Any) -> pb.ImportLayerResponse:
        snaps = self.s.snapshots(namespace_of(context))

        exclude = frozenset(p.strip("/") for p in request.exclude)

        def run() -> tuple[Any, str]:
            upper = upper_dir(snaps.mounts(request.snapshot_key))
            ids = remap.ranges(snaps.stat(request.snapshot_key).labels)  # a remapped container's: its own ids
            with diff_upper(upper, exclude, ids) as tar:
                return write_layer(tar, self.s.content, request.compression or "gzip", behind=request.behind)

        desc, diff_id = await asyncio.to_thread(run)
        return pb.ImportLayerResponse(layer=_desc_pb(desc), diff_id=diff_id)

    @translated
    async def ApplyLayer(self, request: pb.ApplyLayerRequest, context: Any) -> pb.ApplyLayerResponse:
        snaps = self.s.snapshots(namespace_of(context))

        def run() -> str:
            with self.s.unpack_lock:  # as Images.Unpack: one extraction of a chain at a time, never during GC
                # the namespaced view has every method apply_onto uses (not a full Snapshotter)
                try:
                    return apply_onto(self.s.content, cast(Snapshotter, snaps), _desc(request.layer),
                                      request.diff_id, request.parent, self.s.work_dir)
                except tarfile.TarError as err:  # a layer that is no tar (a garbled `docker import`): its input
                    raise errors.InvalidArgument(f"apply layer: {err}") from None

        return pb.ApplyLayerResponse(snapshot=await asyncio.to_thread(run))


class StreamUnpack:
    """Apply a plain layer tar into a new snapshot while ImportLayer stores it; commit it by ChainID.

    An optimisation, never a failure: if the parent snapshot is missing or the apply
    fails, the snapshot is dropped and ``finish`` returns "" (whoever needs the
    snapshot later unpacks the blob and meets the real error there). The snapshot is
    committed only under the diff_id that ``write_layer`` computed from the same bytes.
    """

    def __init__(self, snaps: Any, parent: str, lock: UnpackLock) -> None:
        self.snaps = snaps
        self.parent = parent
        self.lock = lock  # held shared from prepare to commit: GC must not sweep the snapshot midway
        self.reader = _QueueReader()
        self.key = f"extract-{uuid.uuid4().hex}-import"  # gc.recover removes it after a crash
        self.mount = contextlib.ExitStack()
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    @classmethod
    def start(cls, snaps: Any, parent: str, work_dir: Path, lock: UnpackLock) -> StreamUnpack | None:
        self = cls(snaps, parent, lock)
        lock.acquire_shared()
        try:
            mounts = snaps.prepare(self.key, parent)
        except errors.DockyardError as err:
            lock.release_shared()
            log.info("import layer: no unpack onto %r: %s", parent, err)
            return None
        try:
            target = self.mount.enter_context(mountlib.mounted(mounts, work_dir, "dockyard-import-", scratch=True))
        except BaseException:
            self._discard()
            lock.release_shared()
            raise
        self.thread = threading.Thread(target=self._apply, args=(target,), name="dockyard-import-unpack",
                                       daemon=True)
        self.thread.start()
        return self

    def _apply(self, target: Path) -> None:
        try:
            apply_layer(io.BufferedReader(self.reader), target)
        except BaseException as err:  # noqa: BLE001 - reported by finish()
            self.error = err
        finally:
            # keep reading to EOF so the producer never blocks on a full queue
            while not self.reader.eof:
                self.reader.readinto(bytearray(1 << 16))

    def feed(self, data: bytes | None) -> None:
        self.reader.q.put(data)

    def finish(self, diff_id: str | None) -> str:
        """Commit under the ChainID of ``parent`` + ``diff_id`` (None: the import failed; drop it)."""
        handed_off = False
        try:
            chain, handed_off = self._finish(diff_id)
            return chain
        finally:
            if not handed_off:
                self.lock.release_shared()

    def _finish(self, diff_id: str | None) -> tuple[str, bool]:
        """(ChainID or "", whether the lock went to a thread that removes an unneeded copy)."""
        assert self.thread is not None
        self.thread.join()
        if diff_id is None or self.error is not None:
            if self.error is not None:
                log.info("import layer: unpack failed, the snapshot is dropped: %s", self.error)
            self._discard()
            return "", False
        chain = oci.chain_ids([self.parent, diff_id])[1] if self.parent else diff_id
        self.mount.close()
        try:
            self.snaps.commit(chain, self.key)
        except errors.AlreadyExists:
            # made before (a rebuild, or a concurrent import): same content by construction. The
            # copy is removed behind the reply, holding the shared lock until it is gone.
            threading.Thread(target=self._discard_then_release, name="dockyard-import-discard",
                             daemon=True).start()
            return chain, True
        except BaseException:
            self._discard()
            raise
        return chain, False

    def _discard_then_release(self) -> None:
        try:
            self._discard()
        except Exception as err:  # noqa: BLE001 - gc.recover removes extract-* leftovers
            log.warning("import layer: removing the unneeded snapshot %s: %s", self.key, err)
        finally:
            self.lock.release_shared()

    def _discard(self) -> None:
        self.mount.close()
        try:
            self.snaps.remove(self.key)
        except errors.NotFound:
            pass
