"""WebSocket (RFC 6455, server side) for the streaming server, as client-go speaks it:

- remote commands (``Exec``, ``Attach``) over ``v5.channel.k8s.io`` / ``v4.channel.k8s.io``:
  binary messages whose first byte is the channel (0 stdin, 1 stdout, 2 stderr, 3 error,
  4 resize); v5 adds ``[255, channel]``: the client closed that channel (its stdin's end);
- port forward as ``SPDY/3.1+portforward.k8s.io``: the SPDY session of ``spdy.py`` tunnelled in
  binary messages (``Tunnel`` gives it the reader and writer it expects).

Pings are answered; a close frame or the connection's end ends every channel."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections.abc import AsyncIterator

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CHANNELS = {"stdin": 0, "stdout": 1, "stderr": 2, "error": 3, "resize": 4}
CLOSE_CHANNEL = 255
MAX_MESSAGE = 16 << 20


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def handshake(key: str, protocol: str) -> bytes:
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(key)}\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n").encode()


class WebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.lock = asyncio.Lock()
        self.closed = False

    async def _frame(self) -> tuple[bool, int, bytes]:
        b0, b1 = await self.reader.readexactly(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", await self.reader.readexactly(8))
        if length > MAX_MESSAGE:
            raise ValueError(f"websocket frame of {length} bytes")
        mask = await self.reader.readexactly(4) if b1 & 0x80 else b""
        data = await self.reader.readexactly(length)
        if mask:
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        return bool(b0 & 0x80), b0 & 0x0F, data

    async def recv(self) -> bytes | None:
        """The next data message (fragments joined); ``None`` at a close frame or the end."""
        message = bytearray()
        while True:
            try:
                fin, opcode, data = await self._frame()
            except (asyncio.IncompleteReadError, ConnectionError):
                return None
            if opcode == PING:
                await self.send(data, PONG)
                continue
            if opcode == PONG:
                continue
            if opcode == CLOSE:
                await self.close()
                return None
            message += data
            if fin:
                return bytes(message)

    async def send(self, data: bytes, opcode: int = BINARY) -> None:
        if self.closed and opcode != CLOSE:
            return
        n = len(data)
        head = bytes([0x80 | opcode]) + (bytes([n]) if n < 126 else
                                         bytes([126]) + struct.pack(">H", n) if n < 1 << 16 else
                                         bytes([127]) + struct.pack(">Q", n))
        async with self.lock:
            try:
                self.writer.write(head + data)
                await self.writer.drain()
            except (ConnectionError, OSError):
                self.closed = True

    async def close(self, code: int = 1000) -> None:
        if not self.closed:
            await self.send(struct.pack(">H", code), CLOSE)
            self.closed = True


class Channel:
    """One channel of a remote command, with what ``streaming.RemoteIO`` uses of an SPDY stream."""

    def __init__(self, ws: WebSocket, name: str) -> None:
        self.ws, self.type, self.id = ws, name, CHANNELS[name]
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def chunks(self) -> AsyncIterator[bytes]:
        while (data := await self.queue.get()) is not None:
            yield data

    async def write(self, data: bytes) -> None:
        await self.ws.send(bytes([self.id]) + data)

    async def close(self) -> None:
        pass  # the connection's close ends every channel


async def demultiplex(ws: WebSocket, channels: dict[str, Channel]) -> None:
    """Client messages to their channels (stdin, resize) until the client closes them or the connection."""
    by_id = {c.id: c for c in channels.values()}
    try:
        while (message := await ws.recv()) is not None:
            if not message:
                continue
            if message[0] == CLOSE_CHANNEL and len(message) > 1:
                if message[1] in by_id:
                    by_id[message[1]].queue.put_nowait(None)
                continue
            channel = by_id.get(message[0])
            if channel is not None and len(message) > 1:
                channel.queue.put_nowait(message[1:])
    finally:
        for channel in by_id.values():
            channel.queue.put_nowait(None)


class Tunnel:
    """A WebSocket as the stream reader and writer an SPDY session runs over."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.reader = asyncio.StreamReader()
        self.buffer = bytearray()
        self.pump = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        while (message := await self.ws.recv()) is not None:
            self.reader.feed_data(message)
        self.reader.feed_eof()

    def write(self, data: bytes) -> None:
        self.buffer += data

    async def drain(self) -> None:
        data, self.buffer = bytes(self.buffer), bytearray()
        if data:
            await self.ws.send(data)

    def close(self) -> None:
        self.pump.cancel()

    async def wait_closed(self) -> None:
        await self.ws.close()
