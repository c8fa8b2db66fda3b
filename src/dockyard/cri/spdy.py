"""The server side of SPDY/3.1 framing, as far as the kubelet's streaming protocol uses it.

After an HTTP ``101`` upgrade the client opens streams (``SYN_STREAM`` with headers such as
``streamtype: stdout``); each is answered with a ``SYN_REPLY`` at once. Data flows in ``DATA``
frames; a frame with ``FLAG_FIN`` ends one direction of a stream. Name/value header blocks
are zlib-compressed with the dictionary of the SPDY/3 draft, one compression context per
direction for the whole connection. The client (moby/spdystream) does no flow control, so
``WINDOW_UPDATE`` and ``SETTINGS`` are read and ignored.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import zlib

log = logging.getLogger("dockyard.cri.spdy")

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_DATA = 32 * 1024

_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location",
    "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
    "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified",
    "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via",
    "warning", "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
    "public", "set-cookie", "keep-alive", "origin",
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    """SPDY/3's zlib dictionary: length-prefixed header words, then status and date text."""
    words = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS)
    return words + _TAIL.encode()


DICTIONARY = _dictionary()


def encode_headers(headers: dict[str, str]) -> bytes:
    out = bytearray(struct.pack(">I", len(headers)))
    for name, value in headers.items():
        for part in (name.lower().encode(), value.encode()):
            out += struct.pack(">I", len(part)) + part
    return bytes(out)


def decode_headers(block: bytes) -> dict[str, str]:
    """Lower-case names; several values of one name (NUL-separated) are kept joined by NUL."""
    (count,), pos = struct.unpack_from(">I", block), 4
    out: dict[str, str] = {}
    for _ in range(count):
        parts = []
        for _ in range(2):
            (n,) = struct.unpack_from(">I", block, pos)
            parts.append(block[pos + 4:pos + 4 + n].decode())
            pos += 4 + n
        out[parts[0].lower()] = parts[1]
    return out


def control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, flags: int, data: bytes) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(data)) + data


class Stream:
    """One client-opened stream: its headers, what the client sent (``None`` at its FIN)."""

    def __init__(self, conn: Connection, id: int, headers: dict[str, str]) -> None:
        self.conn, self.id, self.headers = conn, id, headers
        self.incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.local_closed = False

    @property
    def type(self) -> str:
        return self.headers.get("streamtype", "")

    async def chunks(self):  # type: ignore[no-untyped-def]
        """What the client sends on this stream, until its FIN (or a reset, or the connection's end)."""
        while (data := await self.incoming.get()) is not None:
            yield data

    async def write(self, data: bytes) -> None:
        if self.local_closed:
            return
        for i in range(0, len(data), MAX_DATA):
            await self.conn.send(data_frame(self.id, 0, data[i:i + MAX_DATA]))

    async def close(self) -> None:
        if not self.local_closed:
            self.local_closed = True
            await self.conn.send(data_frame(self.id, FLAG_FIN, b""))


class Connection:
    """A server-side SPDY/3.1 session over an upgraded connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.streams: dict[int, Stream] = {}
        self.opened: asyncio.Queue[Stream | None] = asyncio.Queue()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zdict=DICTIONARY)
        self.closed = False

    async def send(self, frame: bytes) -> None:
        if self.closed:
            return
        self.writer.write(frame)
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            self._end()

    def _headers_in(self, block: bytes) -> dict[str, str]:
        return decode_headers(self._inflate.decompress(block))

    def _headers_out(self, headers: dict[str, str]) -> bytes:
        return self._deflate.compress(encode_headers(headers)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    async def serve(self) -> None:
        """Read frames until the client goes away; every open stream then sees its end."""
        try:
            while True:
                head = await self.reader.readexactly(8)
                first, second = struct.unpack(">II", head)
                flags, length = second >> 24, second & 0xFFFFFF
                payload = await self.reader.readexactly(length)
                if first & 0x80000000:
                    await self._control(first & 0xFFFF, flags, payload)
                else:
                    self._data(first & 0x7FFFFFFF, flags, payload)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, EOFError):
            pass
        finally:
            self._end()

    def _end(self) -> None:
        if self.closed:
            return
        self.closed = True
        for stream in self.streams.values():
            stream.incoming.put_nowait(None)
        self.opened.put_nowait(None)

    def _data(self, stream_id: int, flags: int, payload: bytes) -> None:
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        if payload:
            stream.incoming.put_nowait(payload)
        if flags & FLAG_FIN:
            stream.incoming.put_nowait(None)

    async def _control(self, kind: int, flags: int, payload: bytes) -> None:
        if kind == SYN_STREAM:
            stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            stream = Stream(self, stream_id, self._headers_in(payload[10:]))
            self.streams[stream_id] = stream
            if flags & FLAG_FIN:
                stream.incoming.put_nowait(None)
            await self.send(control_frame(SYN_REPLY, 0, struct.pack(">I", stream_id) + self._headers_out({})))
            self.opened.put_nowait(stream)
        elif kind == HEADERS:
            self._headers_in(payload[4:])  # keeps the zlib context in step; nothing uses them
        elif kind == RST_STREAM:
            reset = self.streams.get(struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF)
            if reset is not None:
                reset.local_closed = True
                reset.incoming.put_nowait(None)
        elif kind == PING:
            await self.send(control_frame(PING, 0, payload))
        elif kind == GOAWAY:
            raise EOFError
        elif kind not in (SETTINGS, WINDOW_UPDATE):
            log.debug("spdy: ignoring control frame type %d", kind)

    async def accept(self) -> Stream | None:
        """The next stream the client opens; ``None`` once the connection ended."""
        return await self.opened.get()

    async def close(self) -> None:
        if not self.closed:
            await self.send(control_frame(GOAWAY, 0, struct.pack(">II", 0, 0)))
        self._end()
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
