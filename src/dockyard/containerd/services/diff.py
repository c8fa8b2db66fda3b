"""The diff service of dockyard-containerd (gRPC wiring over the library)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import grpc

from dockyard import errors
from dockyard.api import pb, rpc
from dockyard.containerd.diff.layer import write_layer
from dockyard.containerd.services.base import (
    Services,
    _desc_pb,
    _QueueReader,
    status_of,
)


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
