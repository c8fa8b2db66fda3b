"""docker cp / export / diff on the engine side: streams to and from containerd, never a mount here."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc

from dockyard.api import pb, rpc
from dockyard.containerd.client import translate


def _stub(eng: Any) -> Any:
    return rpc.ContainersStub(eng.cd.channel)


async def stat_path(eng: Any, id: str, path: str) -> dict[str, Any]:
    try:
        r = await _stub(eng).StatPath(pb.ContainerPathRequest(id=id, path=path), metadata=eng.cd.metadata)
    except grpc.aio.AioRpcError as err:
        raise translate(err) from None
    return json.loads(r.json)  # type: ignore[no-any-return]


async def archive(eng: Any, id: str, path: str) -> AsyncIterator[bytes]:
    """The tar stream; the first chunk is awaited before returning so errors come before any header."""
    call = _stub(eng).Archive(pb.ContainerPathRequest(id=id, path=path), metadata=eng.cd.metadata)
    it = call.__aiter__()
    try:
        first = await it.__anext__()
    except StopAsyncIteration:
        first = None
    except grpc.aio.AioRpcError as err:
        raise translate(err) from None

    async def rest() -> AsyncIterator[bytes]:
        if first is not None:
            yield first.data
        try:
            async for chunk in it:
                yield chunk.data
        except grpc.aio.AioRpcError as err:
            raise translate(err) from None

    return rest()


async def extract(eng: Any, id: str, path: str, chunks: AsyncIterator[bytes]) -> None:
    async def requests() -> AsyncIterator[pb.ExtractRequest]:
        yield pb.ExtractRequest(id=id, path=path)
        async for data in chunks:
            yield pb.ExtractRequest(data=data)

    try:
        await _stub(eng).Extract(requests(), metadata=eng.cd.metadata)
    except grpc.aio.AioRpcError as err:
        raise translate(err) from None


async def changes(eng: Any, id: str) -> list[dict[str, Any]]:
    try:
        r = await _stub(eng).Changes(pb.ContainerPathRequest(id=id), metadata=eng.cd.metadata)
    except grpc.aio.AioRpcError as err:
        raise translate(err) from None
    return [{"Path": c.path, "Kind": c.kind} for c in r.changes]
