"""The userland proxy (network/proxy.py), the dual-family reservation of ``-p 80`` (ports.reserve_all) and
the ``ip6`` table leaving ``[::1]`` to the proxy (nft.render6), on loopback only."""

from __future__ import annotations

import asyncio
import socket

import pytest

from dockyard import errors
from dockyard.network import nft, ports, proxy

pytestmark = pytest.mark.skipif(not ports.v6_listenable(), reason="no IPv6 on this host")


async def _echo_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.read()  # until the client's half-close, which the proxy must pass on
    writer.write(b"echo:" + data)
    await writer.drain()
    writer.close()


def test_tcp_proxy_copies_both_ways_and_passes_half_close() -> None:
    async def main() -> bytes:
        upstream = await asyncio.start_server(_echo_tcp, "127.0.0.1", 0)
        up_port = upstream.sockets[0].getsockname()[1]
        s, port = ports.reserve(ports.Binding(80, "tcp", "::1", 0))
        p = await proxy.Proxy.start(s, lambda: ("127.0.0.1", up_port))
        try:
            reader, writer = await asyncio.open_connection("::1", port)
            writer.write(b"hello")
            writer.write_eof()
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return answer
        finally:
            p.close()
            s.close()
            upstream.close()
    assert asyncio.run(main()) == b"echo:hello"


def test_tcp_proxy_without_target_closes_the_connection() -> None:
    async def main() -> bytes:
        s, port = ports.reserve(ports.Binding(80, "tcp", "::1", 0))
        p = await proxy.Proxy.start(s, lambda: None)
        try:
            reader, writer = await asyncio.open_connection("::1", port)
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return answer
        finally:
            p.close()
            s.close()
    assert asyncio.run(main()) == b""


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"echo:" + data, addr)  # type: ignore[attr-defined]


def test_udp_proxy_answers_each_client_through_its_own_flow() -> None:
    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()
        up, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
        up_port = up.get_extra_info("sockname")[1]
        s, port = ports.reserve(ports.Binding(53, "udp", "::1", 0))
        p = await proxy.Proxy.start(s, lambda: ("127.0.0.1", up_port))
        clients = [socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) for _ in range(2)]
        try:
            got = []
            for i, c in enumerate(clients):
                c.setblocking(False)
                c.sendto(f"c{i}".encode(), ("::1", port))
                got.append(await asyncio.wait_for(loop.sock_recv(c, 100), 5))
            return got
        finally:
            for c in clients:
                c.close()
            p.close()
            s.close()
            up.close()
    assert asyncio.run(main()) == [b"echo:c0", b"echo:c1"]


def test_reserve_all_binds_both_families_on_one_port() -> None:
    got = ports.reserve_all(ports.Binding(80, "tcp", "", 0))
    try:
        assert [(s.family, ip) for s, ip, _ in got] == [(socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")]
        assert got[0][2] == got[1][2] and got[0][2] > 0
    finally:
        for s, _, _ in got:
            s.close()
    one = ports.reserve_all(ports.Binding(80, "tcp", "127.0.0.1", 0))  # a host address: that one only
    assert [ip for _, ip, _ in one] == ["127.0.0.1"]
    one[0][0].close()


def test_reserve_all_refuses_a_port_taken_on_ipv6_and_frees_the_ipv4_half() -> None:
    holder = socket.socket(socket.AF_INET6)
    holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    holder.bind(("::", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        with pytest.raises(errors.Conflict, match=rf"Bind for \[::\]:{port} failed: port is already allocated"):
            ports.reserve_all(ports.Binding(80, "tcp", "", port))
        with socket.socket() as s:
            s.bind(("0.0.0.0", port))
        # in a range, the next port free in both families is taken
        got = ports.reserve_all(ports.Binding(80, "tcp", "", port, port + 5))
        assert got[0][2] == got[1][2] != port
        for s, _, _ in got:
            s.close()
    finally:
        holder.close()


def test_ip6_table_leaves_ipv6_loopback_to_the_proxy() -> None:
    rs = nft.RuleSet("dockyard-t", ports=[nft.PortRule("tcp", "::", 8080, "fd00::2", 80)])
    text = nft.render6(rs)
    assert "chain output { type nat hook output priority -100; policy accept; ip6 daddr != ::1 fib daddr type " \
           "local jump ports; }" in text
    assert "ip6 daddr != ::1" not in nft.render(nft.RuleSet("dockyard-t"))  # IPv4 keeps route_localnet's DNAT
