"""The userland proxy of ports published on IPv6 host addresses (dockerd's docker-proxy, run in the daemon).

nftables DNATs what it can (ports.py, nft.py); what it cannot is served here, on the reservation socket
itself (as dockerd hands its bound socket to docker-proxy):
- ``[::1]``: IPv6 has no ``route_localnet``, a packet from ``::1`` is never routed off the host, so
  the ``ip6`` table leaves ``::1`` alone and connections land on the listening socket;
- a container without an IPv6 address (``-p 80`` publishes on ``[::]`` too, dockerd's default): no
  IPv6 DNAT is possible, the proxy connects to its IPv4 address.

TCP: one upstream connection per accepted one, bytes copied both ways, half-closes passed on. UDP: one
connected upstream socket per client address, dropped after ``UDP_IDLE`` seconds without traffic (docker-proxy's
UDP connection timeout). The target is asked at each new connection, so a gateway that moved is followed.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

log = logging.getLogger("dockyard.network.proxy")

Target = Callable[[], tuple[str, int] | None]  # the container's address and port, None when it has none
UDP_IDLE = 90.0
_CHUNK = 65536


class Proxy:
    """One published port's proxy; ``close`` stops it and closes its copy of the socket."""

    def __init__(self) -> None:
        self._server: asyncio.base_events.Server | None = None
        self._udp: _UDPListener | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, sock: socket.socket, target: Target) -> Proxy:
        """Serve ``sock`` (a bound reservation socket; a copy of its descriptor is used, the caller keeps its own)."""
        p = cls()
        dup = sock.dup()
        dup.setblocking(False)
        loop = asyncio.get_running_loop()
        if sock.type == socket.SOCK_STREAM:
            p._server = await asyncio.start_server(lambda r, w: p._spawn(_serve_tcp(r, w, target)), sock=dup)
        else:
            _, proto = await loop.create_datagram_endpoint(lambda: _UDPListener(target), sock=dup)
            p._udp = proto
        return p

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._udp is not None:
            self._udp.close()
        for task in list(self._tasks):
            task.cancel()


async def _serve_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: Target) -> None:
    to = target()
    try:
        if to is None:
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*to), 10)
        except (TimeoutError, OSError) as err:
            log.info("proxy to %s:%d: %s", to[0], to[1], err)
            return
        try:
            await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))
        finally:
            up_writer.close()
    finally:
        writer.close()


async def _copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(_CHUNK):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except (ConnectionError, OSError):
        dst.close()


class _UDPListener(asyncio.DatagramProtocol):
    """The published UDP port: each client's datagrams go out through its own connected socket."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.transport: asyncio.DatagramTransport | None = None
        self.flows: dict[tuple[str, int], _UDPFlow] = {}
        self.closed = False
        self._sweeper: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # 3.11's selector transport is not a subclass
        self._sweeper = asyncio.get_running_loop().call_later(UDP_IDLE, self._sweep)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        key = (addr[0], addr[1])
        flow = self.flows.get(key)
        if flow is None:
            to = self.target()
            if to is None:
                return
            flow = self.flows[key] = _UDPFlow(self, addr)
            flow.opening = asyncio.get_running_loop().create_task(flow.open(to))
        flow.send(data)

    def reply(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)

    def _sweep(self) -> None:
        now = time.monotonic()
        for key, flow in list(self.flows.items()):
            if now - flow.last > UDP_IDLE:
                flow.close()
                self.flows.pop(key, None)
        self._sweeper = asyncio.get_running_loop().call_later(UDP_IDLE, self._sweep)

    def close(self) -> None:
        self.closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for flow in self.flows.values():
            flow.close()
        self.flows.clear()
        if self.transport is not None:
            self.transport.close()


class _UDPFlow(asyncio.DatagramProtocol):
    """One client of a published UDP port: its upstream socket to the container."""

    def __init__(self, listener: _UDPListener, client: tuple[str, int]) -> None:
        self.listener, self.client = listener, client
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []
        self.opening: asyncio.Task[None] | None = None
        self.last = time.monotonic()

    async def open(self, to: tuple[str, int]) -> None:
        try:
            await asyncio.get_running_loop().create_datagram_endpoint(lambda: self, remote_addr=to)
        except OSError as err:
            log.info("udp proxy to %s:%d: %s", to[0], to[1], err)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        if self.listener.closed:  # the port was unpublished while this flow was opening
            self.transport.close()
            return
        for data in self.pending:
            self.transport.sendto(data)
        self.pending.clear()

    def send(self, data: bytes) -> None:
        self.last = time.monotonic()
        if self.transport is None:
            self.pending.append(data)
        else:
            self.transport.sendto(data)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.last = time.monotonic()
        self.listener.reply(data, self.client)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp proxy flow %s: %s", self.client, exc)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
