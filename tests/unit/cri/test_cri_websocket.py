"""The streaming server's WebSocket framing (RFC 6455, server side), without a socket: masked
client frames, extended lengths, fragments, pings answered, a close frame; v5 channel messages."""

from __future__ import annotations

import asyncio
import os
import struct

from dockyard.cri import websocket


def client_frame(payload: bytes, opcode: int = websocket.BINARY, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n) if n < 1 << 16 else \
        bytes([0x80 | 127]) + struct.pack(">Q", n)
    return bytes([(0x80 if fin else 0) | opcode]) + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        pass


def run(frames: bytes) -> tuple[list[bytes | None], bytes]:
    async def main() -> tuple[list[bytes | None], bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(frames)
        reader.feed_eof()
        sink = Sink()
        ws = websocket.WebSocket(reader, sink)  # type: ignore[arg-type]
        got: list[bytes | None] = []
        while (m := await ws.recv()) is not None:
            got.append(m)
        got.append(None)
        return got, bytes(sink.data)
    return asyncio.run(main())


def test_messages_fragments_pings_and_close() -> None:
    big = os.urandom(70000)
    frames = (client_frame(b"\x00hi") + client_frame(b"x" * 300) + client_frame(b"a", fin=False)
              + client_frame(b"ping!", websocket.PING) + client_frame(b"b", websocket.CONT) + client_frame(big)
              + client_frame(struct.pack(">H", 1000), websocket.CLOSE) + client_frame(b"after close"))
    got, sent = run(frames)
    assert got == [b"\x00hi", b"x" * 300, b"ab", big, None]
    assert sent.startswith(bytes([0x80 | websocket.PONG, 5]) + b"ping!")  # unmasked, as a server sends
    assert sent.endswith(bytes([0x80 | websocket.CLOSE, 2]) + struct.pack(">H", 1000))


def test_accept_key_of_the_rfc() -> None:
    assert websocket.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_v5_channels() -> None:
    async def main() -> tuple[list[bytes], list[bytes]]:
        reader = asyncio.StreamReader()
        reader.feed_data(client_frame(b"\x00one") + client_frame(b"\x04{\"Width\":80}") + client_frame(b"\xff\x00")
                         + client_frame(b"\x00after its close"))
        reader.feed_eof()
        ws = websocket.WebSocket(reader, Sink())  # type: ignore[arg-type]
        channels = {n: websocket.Channel(ws, n) for n in ("stdin", "resize", "error")}
        await websocket.demultiplex(ws, channels)
        return [c async for c in channels["stdin"].chunks()], [c async for c in channels["resize"].chunks()]
    stdin, resize = asyncio.run(main())
    assert stdin == [b"one"] and resize == [b'{"Width":80}']
