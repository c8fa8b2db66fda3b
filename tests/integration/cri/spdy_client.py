"""A minimal client of the CRI streaming server (SPDY/3.1 after an HTTP upgrade), for tests:
what client-go's remotecommand does, without Go."""

from __future__ import annotations

import asyncio
import struct
import zlib

from dockyard.cri import spdy
from dockyard.cri.streaming import CHANNEL_V4


class Client:
    """The client half: one zlib context per direction, as moby/spdystream keeps them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.deflate = zlib.compressobj(zdict=spdy.DICTIONARY)
        self.inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)
        self.next_id = 1

    def open(self, stream_type: str, fin: bool = False, **headers: str) -> int:
        block = self.deflate.compress(spdy.encode_headers({"streamType": stream_type, **headers}))
        block += self.deflate.flush(zlib.Z_SYNC_FLUSH)
        id, self.next_id = self.next_id, self.next_id + 2
        payload = struct.pack(">IIBB", id, 0, 0, 0) + block
        self.writer.write(spdy.control_frame(spdy.SYN_STREAM, spdy.FLAG_FIN if fin else 0, payload))
        return id

    async def frames(self):  # type: ignore[no-untyped-def]
        while True:
            try:
                head = await self.reader.readexactly(8)
            except asyncio.IncompleteReadError:
                return
            first, second = struct.unpack(">II", head)
            payload = await self.reader.readexactly(second & 0xFFFFFF)
            yield first, second >> 24, payload


async def upgrade(url: str, protocol: str = CHANNEL_V4) -> tuple[Client, bytes]:
    host_port, path = url.removeprefix("http://").split("/", 1)
    host, port = host_port.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"POST /{path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                 f"X-Stream-Protocol-Version: v5.channel.k8s.io\r\nX-Stream-Protocol-Version: {protocol}\r\n"
                 "Content-Length: 0\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    return Client(reader, writer), head




async def remote_command(url: str, streams: list[str], stdin: bytes | None = None,
                         protocol: str = CHANNEL_V4, **headers: str) -> dict[str, bytes]:
    """Open ``streams`` (``error`` first; ``headers`` on each), send ``stdin`` (on ``stdin``, or on
    ``data`` for a port forward) with its FIN, collect every stream's data until the server
    closes; the SYN_REPLY count is checked."""
    client, head = await upgrade(url, protocol)
    assert head.startswith(b"HTTP/1.1 101"), head
    ids = {name: client.open(name, **headers) for name in streams}
    if stdin is not None:
        client.writer.write(spdy.data_frame(ids["stdin" if "stdin" in ids else "data"], spdy.FLAG_FIN, stdin))
    data: dict[int, bytes] = {}
    replies = 0
    fins: set[int] = set()
    async for first, flags, payload in client.frames():
        if first & 0x80000000:
            if first & 0xFFFF == spdy.SYN_REPLY:
                client.inflate.decompress(payload[4:])
                replies += 1
            continue
        data[first] = data.get(first, b"") + payload
        fins |= {first} if flags & spdy.FLAG_FIN else set()
        if fins >= set(ids.values()) - ({ids["stdin"]} if "stdin" in ids else set()):
            break
    client.writer.close()
    assert replies == len(ids)
    return {name: data.get(id, b"") for name, id in ids.items()}
