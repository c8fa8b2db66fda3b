"""The embedded DNS server: 127.0.0.11:53 inside each container on a user-defined network.

Each container gets a UDP socket opened inside its namespace (see
``sandbox.run_in``) and served by the engine's event loop. Names of containers
(name, ``--network-alias``, short ID) on networks the asking container shares
are answered from memory; other names are forwarded from the host namespace
to the host's resolvers (or ``--dns``), as Docker's resolver does.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

log = logging.getLogger("dockyard.network.dns")

# name (lower case, no trailing dot) -> addresses (IPv4 and IPv6), for the asking container
Lookup = Callable[[str], list[str]]


def answer(query: bytes, lookup: Lookup) -> bytes | None:
    """The reply to a query about a container name, or None to forward it."""
    # lazy: 5 ms of CPU on every dockyardd start (dnslib, measured); only user networks serve DNS
    from dnslib import AAAA, QTYPE, RR, A, DNSRecord

    try:
        req = DNSRecord.parse(query)
    except Exception:
        return None
    if not req.questions:
        return None
    q = req.questions[0]
    name = str(q.qname).rstrip(".").lower()
    addrs = lookup(name)
    if not addrs:
        return None
    reply = req.reply()
    # a known name without an address of the asked family: an empty NOERROR answer, as Docker's resolver
    for ip in addrs:
        if ":" in ip and q.qtype in (QTYPE.AAAA, QTYPE.ANY):
            reply.add_answer(RR(q.qname, QTYPE.AAAA, rdata=AAAA(ip), ttl=600))
        elif ":" not in ip and q.qtype in (QTYPE.A, QTYPE.ANY):
            reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(ip), ttl=600))
    return bytes(reply.pack())


def servfail(query: bytes) -> bytes | None:
    # lazy: 5 ms of CPU on every dockyardd start (dnslib, measured); only user networks serve DNS
    from dnslib import RCODE, DNSRecord

    try:
        reply = DNSRecord.parse(query).reply()
    except Exception:
        return None
    reply.header.rcode = RCODE.SERVFAIL
    return bytes(reply.pack())


class _Forward(asyncio.DatagramProtocol):
    def __init__(self, query: bytes) -> None:
        self.query = query
        self.done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        transport.sendto(self.query)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.done.done():
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


async def forward(query: bytes, servers: list[str], timeout: float = 2.0) -> bytes | None:
    loop = asyncio.get_running_loop()
    for server in servers:
        transport, proto = await loop.create_datagram_endpoint(lambda: _Forward(query), remote_addr=(server, 53))
        try:
            return await asyncio.wait_for(proto.done, timeout)
        except (TimeoutError, OSError):
            continue
        finally:
            transport.close()
    return None


class Server(asyncio.DatagramProtocol):
    """One container's resolver."""

    def __init__(self, lookup: Lookup, upstream: Callable[[], list[str]]) -> None:
        self.lookup = lookup
        self.upstream = upstream
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        reply = answer(data, self.lookup)
        if reply is not None:
            self._send(reply, addr)
            return
        asyncio.ensure_future(self._forward(data, addr))

    async def _forward(self, data: bytes, addr: Any) -> None:
        reply = await forward(data, self.upstream()) if self.upstream() else None
        self._send(reply or servfail(data), addr)

    def _send(self, reply: bytes | None, addr: Any) -> None:
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def bind_socket() -> socket.socket:
    """Called inside the container's namespace: the resolver's socket on 127.0.0.11:53."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.11", 53))
    s.setblocking(False)
    return s
