"""The dashboard's async Engine API client: aiohttp over the daemon's UNIX socket (or plain TCP).

JSON calls, line streams (events, stats, pull progress), the demultiplexed log stream, and the
hijacked stream of an exec for the terminal."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp

from dockyard import errors

API_VERSION = "1.51"

_KINDS: dict[int, type[errors.DockyardError]] = {
    400: errors.InvalidArgument, 403: errors.PermissionDenied, 404: errors.NotFound, 409: errors.Conflict,
    412: errors.FailedPrecondition, 503: errors.Unavailable,
}


def error_for(status: int, message: str) -> errors.DockyardError:
    return _KINDS.get(status, errors.Internal)(message)


class Engine:
    """One aiohttp session to the daemon; ``socket_path`` or ``tcp`` (host, port) says where it is."""

    def __init__(self, socket_path: str = "", tcp: tuple[str, int] | None = None) -> None:
        self.socket_path = socket_path
        self.tcp = tcp
        self.base = f"http://{tcp[0]}:{tcp[1]}" if tcp else "http://dockyard"
        self._session: aiohttp.ClientSession | None = None

    @property
    def host(self) -> str:
        """The daemon as the CLI's ``-H`` names it."""
        return f"tcp://{self.tcp[0]}:{self.tcp[1]}" if self.tcp else f"unix://{self.socket_path}"

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.UnixConnector(path=self.socket_path) if not self.tcp else aiohttp.TCPConnector()
            self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        url = f"{self.base}/v{API_VERSION}{path}"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return url + ("?" + urlencode(clean) if clean else "")

    async def check(self, resp: aiohttp.ClientResponse) -> None:
        if resp.status < 400:
            return
        text = await resp.text()
        try:
            message = json.loads(text).get("message", text)
        except (ValueError, AttributeError):
            message = text
        raise error_for(resp.status, message.strip() or resp.reason or "error")

    async def call(self, method: str, path: str, params: dict[str, Any] | None = None,
                   body: Any = None) -> Any:
        """A request whose answer is JSON (or empty: None)."""
        try:
            async with self.session.request(method, self.url(path, params), json=body) as resp:
                await self.check(resp)
                data = await resp.read()
        except aiohttp.ClientConnectionError as err:
            raise errors.Unavailable(f"cannot reach the daemon: {err}") from err
        return json.loads(data) if data.strip() else None

    async def lines(self, method: str, path: str, params: dict[str, Any] | None = None,
                    headers: dict[str, str] | None = None) -> AsyncIterator[dict[str, Any]]:
        """A stream of JSON objects, one a line (events, stats, pull progress)."""
        try:
            async with self.session.request(method, self.url(path, params), headers=headers) as resp:
                await self.check(resp)
                async for line in resp.content:
                    if line.strip():
                        yield json.loads(line)
        except aiohttp.ClientConnectionError as err:
            raise errors.Unavailable(f"cannot reach the daemon: {err}") from err

    async def logs(self, cid: str, tty: bool, params: dict[str, Any]) -> AsyncIterator[tuple[str, bytes]]:
        """(stream, bytes) of a container's log; a TTY container's log is one raw stream."""
        try:
            async with self.session.get(self.url(f"/containers/{cid}/logs", params)) as resp:
                await self.check(resp)
                if tty:
                    async for data in resp.content.iter_any():
                        yield "stdout", data
                    return
                while True:
                    try:
                        header = await resp.content.readexactly(8)
                    except asyncio.IncompleteReadError:
                        return
                    kind, size = struct.unpack(">BxxxI", header)
                    yield ("stderr" if kind == 2 else "stdout"), await resp.content.readexactly(size)
        except aiohttp.ClientConnectionError as err:
            raise errors.Unavailable(f"cannot reach the daemon: {err}") from err

    async def archive(self, cid: str, path: str, limit: int) -> bytes:
        """The tar of ``path`` in the container; more than ``limit`` bytes is an InvalidArgument."""
        buf = bytearray()
        try:
            async with self.session.get(self.url(f"/containers/{cid}/archive", {"path": path})) as resp:
                await self.check(resp)
                async for chunk in resp.content.iter_chunked(1 << 16):
                    buf += chunk
                    if len(buf) > limit:
                        raise errors.InvalidArgument(
                            f"{path} holds more than {limit >> 20} MiB: open a directory below it")
        except aiohttp.ClientConnectionError as err:
            raise errors.Unavailable(f"cannot reach the daemon: {err}") from err
        return bytes(buf)

    async def hijack(self, path: str, body: dict[str, Any]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """POST ``path`` with ``Upgrade: tcp``; the raw connection once the daemon switched protocols."""
        try:
            if self.tcp:
                reader, writer = await asyncio.open_connection(*self.tcp)
            else:
                reader, writer = await asyncio.open_unix_connection(self.socket_path)
        except OSError as err:
            raise errors.Unavailable(f"cannot reach the daemon: {err}") from err
        payload = json.dumps(body).encode()
        writer.write(
            f"POST /v{API_VERSION}{path} HTTP/1.1\r\nHost: dockyard\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode() + payload)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status >= 400:
            writer.close()
            raise error_for(status, head.decode(errors="replace").split("\r\n", 1)[0])
        return reader, writer
