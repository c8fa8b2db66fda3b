"""The streaming server: where the URLs of ``Exec``, ``Attach`` and ``PortForward`` lead.

As the kubelet's: ``Exec``/``Attach``/``PortForward`` register the request under a random
single-use token (valid for a minute) and answer ``http://ADDRESS/{exec,attach,portforward}/TOKEN``.
The client POSTs there with ``Upgrade: SPDY/3.1`` and the protocols it speaks in
``X-Stream-Protocol-Version``; the answer is ``101`` with ``v4.channel.k8s.io`` (remote
commands: streams ``error``, ``stdin``, ``stdout``, ``stderr``, ``resize``, the outcome as a
JSON ``Status`` on ``error``) or ``portforward.k8s.io`` (a ``data`` and an ``error`` stream per
connection, tied by ``requestID``, to ``port`` in the pod's network namespace).
A WebSocket upgrade (``websocket.py``) gets ``v5.channel.k8s.io`` (or v4) for remote commands,
and SPDY tunnelled in it (``SPDY/3.1+portforward.k8s.io``) for port forward, as client-go asks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from dockyard import errors
from dockyard.cri import spdy, websocket

log = logging.getLogger("dockyard.cri.streaming")

CHANNEL_V4 = "v4.channel.k8s.io"
CHANNEL_V5 = "v5.channel.k8s.io"
PORT_FORWARD = "portforward.k8s.io"
TUNNELED_PORT_FORWARD = "SPDY/3.1+portforward.k8s.io"
TOKEN_TTL = 60.0
STREAMS_TIMEOUT = 30.0


def remote_streams(req: Any) -> set[str]:
    """The streams of an exec or attach: error, those asked for, resize instead of stderr with a tty."""
    names = {"error"} | {name for name in ("stdin", "stdout", "stderr") if getattr(req, name)}
    return (names - {"stderr"}) | {"resize"} if req.tty else names


@dataclass
class Pending:
    kind: str  # exec, attach, portforward
    request: Any
    expires: float


def status_json(exit_code: int | None, message: str = "") -> bytes:
    """metav1.Status as remotecommand v4 reads it: Success, or the exit code as a cause."""
    if exit_code == 0:
        return json.dumps({"metadata": {}, "status": "Success"}).encode()
    if exit_code is None:
        return json.dumps({"metadata": {}, "status": "Failure", "message": message}).encode()
    return json.dumps({
        "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
        "message": f"command terminated with non-zero exit code: exit status {exit_code}",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }).encode()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, list[str]]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers.setdefault(name.strip().lower(), []).extend(v.strip() for v in value.split(","))
    return method, path, headers


class StreamServer:
    def __init__(self, runtime: Any, address: str) -> None:
        self.rt = runtime
        self.host, _, port = address.rpartition(":")
        self.port = int(port)
        self.pending: dict[str, Pending] = {}
        self.server: asyncio.base_events.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, self.host or "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("streaming server on %s", self.base_url)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def register(self, kind: str, request: Any) -> str:
        now = time.monotonic()
        self.pending = {t: p for t, p in self.pending.items() if p.expires > now}
        token = secrets.token_urlsafe(18)
        self.pending[token] = Pending(kind, request, now + TOKEN_TTL)
        return f"{self.base_url}/{kind}/{token}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await self._upgrade_and_run(reader, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, ConnectionError) as err:
            log.debug("streaming request: %s", err)
        finally:
            self.tasks.discard(task)
            writer.close()

    async def _upgrade_and_run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, path, headers = await read_request(reader)
        _, kind, token = (path.split("?", 1)[0].split("/") + ["", ""])[:3]
        pending = self.pending.get(token)
        if pending is None or pending.kind != kind or pending.expires < time.monotonic():
            return await self._refuse(writer, 404, "unknown or expired streaming token")
        upgrade = [v.lower() for v in headers.get("upgrade", [])]
        if "websocket" in upgrade:
            return await self._websocket(reader, writer, headers, token, pending)
        if "spdy/3.1" not in upgrade:
            return await self._refuse(writer, 400, "only SPDY/3.1 and WebSocket upgrades are served")
        del self.pending[token]
        wanted = PORT_FORWARD if kind == "portforward" else CHANNEL_V4
        if wanted not in headers.get("x-stream-protocol-version", []):
            return await self._refuse(writer, 403, f"the client does not speak {wanted}")
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                      f"X-Stream-Protocol-Version: {wanted}\r\n\r\n").encode())
        await writer.drain()
        conn = spdy.Connection(reader, writer)
        serving = asyncio.create_task(conn.serve())
        try:
            if kind == "portforward":
                await self._port_forward(conn, pending.request)
            else:
                await self._remote_command(conn, kind, pending.request)
        finally:
            await conn.close()
            serving.cancel()

    async def _refuse(self, writer: asyncio.StreamWriter, code: int, message: str) -> None:
        body = message.encode()
        writer.write(f"HTTP/1.1 {code} Refused\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                     "Connection: close\r\n\r\n".encode() + body)
        await writer.drain()

    # -- exec and attach

    async def _websocket(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         headers: dict[str, list[str]], token: str, pending: Pending) -> None:
        """A WebSocket upgrade: remote commands over v5/v4.channel.k8s.io, port forward as SPDY
        tunnelled in it (``websocket.py``). A refused upgrade keeps the token: client-go may
        fall back to SPDY."""
        wanted = [TUNNELED_PORT_FORWARD] if pending.kind == "portforward" else [CHANNEL_V5, CHANNEL_V4]
        offered = headers.get("sec-websocket-protocol", [])
        protocol = next((p for p in wanted if p in offered), None)
        key = (headers.get("sec-websocket-key") or [""])[0]
        if protocol is None or not key:
            return await self._refuse(writer, 400, f"WebSocket subprotocol: one of {', '.join(wanted)}")
        del self.pending[token]
        writer.write(websocket.handshake(key, protocol))
        await writer.drain()
        ws = websocket.WebSocket(reader, writer)
        req = pending.request
        if pending.kind == "portforward":
            tunnel = websocket.Tunnel(ws)
            conn = spdy.Connection(tunnel.reader, tunnel)  # type: ignore[arg-type]
            serving = asyncio.create_task(conn.serve())
            try:
                await self._port_forward(conn, req)
            finally:
                await conn.close()
                serving.cancel()
            return
        channels = {n: websocket.Channel(ws, n) for n in remote_streams(req)}
        demux = asyncio.create_task(websocket.demultiplex(ws, channels))
        try:
            await self._run_command(pending.kind, req, channels)  # type: ignore[arg-type]
        finally:
            await ws.close()
            demux.cancel()

    async def _remote_command(self, conn: spdy.Connection, kind: str, req: Any) -> None:
        streams = await self._accept(conn, remote_streams(req))
        if "error" not in streams:
            return
        await self._run_command(kind, req, streams)

    async def _run_command(self, kind: str, req: Any, streams: dict[str, spdy.Stream]) -> None:
        io = RemoteIO(streams)
        try:
            if kind == "exec":
                code: int | None = await self.rt.exec_stream(req.container_id, list(req.cmd), req.tty, io)
            else:
                code = await self.rt.attach(req.container_id, io)
            message = ""
        except errors.DockyardError as err:
            code, message = None, str(err)
        await streams["error"].write(status_json(code, message))
        for stream in streams.values():
            await stream.close()

    async def _accept(self, conn: spdy.Connection, expected: set[str]) -> dict[str, spdy.Stream]:
        """The streams the client opens, until all ``expected`` types are there (or time is up)."""
        streams: dict[str, spdy.Stream] = {}

        async def collect() -> None:
            while not expected <= streams.keys():
                stream = await conn.accept()
                if stream is None:
                    return
                streams[stream.type] = stream

        try:
            await asyncio.wait_for(collect(), STREAMS_TIMEOUT)
        except TimeoutError:
            log.warning("streaming: the client opened %s of %s", sorted(streams), sorted(expected))
        return streams

    # -- port forward

    async def _port_forward(self, conn: spdy.Connection, req: Any) -> None:
        pairs: dict[str, dict[str, spdy.Stream]] = {}
        forwards: set[asyncio.Task[None]] = set()
        try:
            while (stream := await conn.accept()) is not None:
                rid = stream.headers.get("requestid", "")
                pair = pairs.setdefault(rid, {})
                pair[stream.type] = stream
                if {"data", "error"} <= pair.keys():
                    del pairs[rid]
                    task = asyncio.create_task(self._forward_one(req.pod_sandbox_id, pair))
                    forwards.add(task)
                    task.add_done_callback(forwards.discard)
        finally:
            for task in forwards:
                task.cancel()

    async def _forward_one(self, pod_id: str, pair: dict[str, spdy.Stream]) -> None:
        data, err = pair["data"], pair["error"]
        try:
            port = int(data.headers.get("port", ""))
            reader, writer = await self.rt.pod_connect(pod_id, port)
        except (ValueError, OSError, errors.DockyardError) as e:
            await err.write(f"port forward to pod {pod_id}: {e}".encode())
            await err.close()
            await data.close()
            return

        async def upstream() -> None:
            async for chunk in data.chunks():
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

        async def downstream() -> None:
            while chunk := await reader.read(65536):
                await data.write(chunk)
            await data.close()

        up = asyncio.create_task(upstream())
        try:
            await downstream()
            await asyncio.wait_for(up, 5)
        except (ConnectionError, OSError, TimeoutError):
            pass
        finally:
            up.cancel()
            writer.close()
            await err.close()


class RemoteIO:
    """A remote command's streams as the runtime uses them (any of them may be absent)."""

    def __init__(self, streams: dict[str, spdy.Stream]) -> None:
        self.streams = streams

    @property
    def stdin(self) -> spdy.Stream | None:
        return self.streams.get("stdin")

    def has(self, name: str) -> bool:
        return name in self.streams

    async def write(self, name: str, data: bytes) -> None:
        stream = self.streams.get(name)
        if stream is not None:
            await stream.write(data)

    async def resizes(self):  # type: ignore[no-untyped-def]
        """(width, height) of each resize message (newline-separated JSON ``{"Width","Height"}``)."""
        stream = self.streams.get("resize")
        if stream is None:
            return
        buf = b""
        async for chunk in stream.chunks():
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    size = json.loads(line)
                    yield int(size.get("Width", 0)), int(size.get("Height", 0))
                except (ValueError, AttributeError):
                    log.debug("streaming: bad resize message %r", line)
