"""The content service of dockyard-containerd (gRPC wiring over the library)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

from dockyard import errors
from dockyard.api import pb, rpc
from dockyard.containerd.services.base import Services, status_of, translated


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
