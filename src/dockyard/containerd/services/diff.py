"""The diff service of dockyard-containerd (gRPC wiring over the library)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from collections.abc import AsyncIterator
from typing import Any

import grpc

from dockyard import errors
from dockyard.api import pb, rpc
from dockyard.containerd.diff.diff import diff_upper
from dockyard.containerd.diff.layer import write_layer
from dockyard.containerd.services.base import (
    Services,
    _desc_pb,
    _QueueReader,
    namespace_of,
    status_of,
    translated,
)
from dockyard.types import Mount


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

    @translated
    async def CreateLayer(self, request: pb.CreateLayerRequest, context: Any) -> pb.ImportLayerResponse:
        snaps = self.s.snapshots(namespace_of(context))

        def run() -> tuple[Any, str]:
            upper = upper_dir(snaps.mounts(request.snapshot_key))
            with diff_upper(upper) as tar:
                return write_layer(tar, self.s.content, request.compression or "gzip")

        desc, diff_id = await asyncio.to_thread(run)
        return pb.ImportLayerResponse(layer=_desc_pb(desc), diff_id=diff_id)
