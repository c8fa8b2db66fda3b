"""Pure parts of networking: IPAM, rule rendering, /etc files, port specs, DNS answers."""

from __future__ import annotations

import socket

import pytest

from dockyard import errors
from dockyard.network import dns, hostfiles, ipam, nft, ports


def test_ipam_allocates_lowest_free_and_honours_static_and_range() -> None:
    pool = ipam.Pool.parse("10.9.0.0/24")
    assert str(pool.gateway) == "10.9.0.1"
    assert pool.allocate([]) == "10.9.0.2"
    assert pool.allocate(["10.9.0.2"]) == "10.9.0.3"
    assert pool.allocate([], "10.9.0.50") == "10.9.0.50"
    with pytest.raises(errors.Conflict):
        pool.allocate(["10.9.0.50"], "10.9.0.50")
    with pytest.raises(errors.InvalidArgument):
        pool.allocate([], "10.8.0.5")
    ranged = ipam.Pool.parse("10.9.0.0/24", "10.9.0.254", "10.9.0.128/25")
    assert ranged.allocate([]) == "10.9.0.129"
    with pytest.raises(errors.InvalidArgument):
        ipam.Pool.parse("10.9.0.0/24", "10.10.0.1")


def test_ipam_allocates_after_the_last_address_and_wraps() -> None:
    pool = ipam.Pool.parse("10.9.0.0/29")  # hosts .1 (gateway) .. .6
    assert pool.allocate([], after="10.9.0.2") == "10.9.0.3"
    assert pool.allocate(["10.9.0.3"], after="10.9.0.2") == "10.9.0.4"
    assert pool.allocate([], after="10.9.0.6") == "10.9.0.2"  # wraps, skipping network and gateway
    assert pool.allocate(["10.9.0.2", "10.9.0.3"], after="10.9.0.5") == "10.9.0.6"
    with pytest.raises(errors.Unavailable):
        pool.allocate([f"10.9.0.{i}" for i in range(2, 7)], after="10.9.0.4")


def test_ipam_exhaustion_and_subnet_pick() -> None:
    pool = ipam.Pool.parse("10.9.0.0/30")
    assert pool.allocate([]) == "10.9.0.2"
    with pytest.raises(errors.Unavailable):
        pool.allocate(["10.9.0.2"])
    assert ipam.pick_subnet(["172.18.0.0/16", "172.19.5.0/24"]) == "172.20.0.0/16"
    assert ipam.mac_for("172.18.0.2") == "02:42:ac:12:00:02"


def test_nft_render_isolation_internal_and_ports() -> None:
    rs = nft.RuleSet("dockyard-t", [nft.Bridge("b1", "10.1.0.0/24"), nft.Bridge("b2", "10.2.0.0/24", internal=True)],
                     [nft.PortRule("tcp", "127.0.0.1", 8080, "10.1.0.2", 80), nft.PortRule("udp", "", 53, "10.1.0.3", 53)])
    text = nft.render(rs)
    assert text.startswith("table ip dockyard-t {")
    assert "ip daddr 127.0.0.1 tcp dport 8080 dnat to 10.1.0.2:80" in text
    assert "    udp dport 53 dnat to 10.1.0.3:53" in text
    assert 'ip saddr 10.1.0.0/24 oifname != "b1" masquerade' in text
    assert 'ip saddr 10.2.0.0/24 oifname != "b2" masquerade' not in text  # internal: no way out
    assert 'iifname "b1" oifname "b2" drop' in text and 'iifname "b2" oifname "b1" drop' in text


def test_hostfiles() -> None:
    text = hostfiles.hosts("web", ["10.1.0.2"], [("db", "10.1.0.9")])
    assert "10.1.0.2\tweb" in text and "10.1.0.9\tdb" in text and text.startswith("127.0.0.1\tlocalhost")
    host = "nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.test\n"
    assert hostfiles.resolv_conf(host, [], [], [], embedded=False) == "nameserver 192.0.2.53\nsearch example.test\n"
    emb = hostfiles.resolv_conf(host, [], ["a.test"], [], embedded=True)
    assert emb.splitlines() == ["nameserver 127.0.0.11", "search a.test", "options ndots:0"]


def test_publish_specs_and_bindings() -> None:
    assert ports.parse_publish("127.0.0.1:8080:80/udp") == ("80/udp", [{"HostIp": "127.0.0.1", "HostPort": "8080"}])
    assert ports.parse_publish("8080:80") == ("80/tcp", [{"HostIp": "", "HostPort": "8080"}])
    assert ports.parse_publish("80") == ("80/tcp", [{"HostIp": "", "HostPort": ""}])
    bs = ports.bindings({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, True, {"80/tcp": {}, "443/tcp": {}})
    assert bs == [ports.Binding(80, "tcp", "", 8080), ports.Binding(443, "tcp", "", 0)]


def test_a_host_port_range_gives_its_first_free_port() -> None:
    """``"HostPort": "5000-5999"`` (Compose's ``published: "5000-5999"``): two containers get two ports
    of the range, as dockerd's allocator gives them; before, both asked for 5000 and the second failed."""
    [b] = ports.bindings({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "47300-47309"}]}, False, {})
    assert b == ports.Binding(80, "tcp", "127.0.0.1", 47300, 47309)
    taken: list[socket.socket] = []
    try:
        for _ in range(10):
            s, port = ports.reserve(b)
            taken.append(s)
            assert 47300 <= port <= 47309
        assert len({s.getsockname()[1] for s in taken}) == 10
        with pytest.raises(errors.Conflict, match="Bind for 127.0.0.1:47300-47309 failed: port is already allocated"):
            ports.reserve(b)
    finally:
        for s in taken:
            s.close()


def test_dns_answers_known_names_only() -> None:
    from dnslib import DNSRecord

    q = DNSRecord.question("web").pack()
    reply = dns.answer(bytes(q), lambda n: ["10.1.0.2"] if n == "web" else [])
    assert reply is not None
    parsed = DNSRecord.parse(reply)
    assert [str(r.rdata) for r in parsed.rr] == ["10.1.0.2"]
    assert dns.answer(bytes(DNSRecord.question("other.test").pack()), lambda n: []) is None


def test_ipv6_pool_allocates_from_its_range_and_takes_static_addresses() -> None:
    pool = ipam.Pool.parse("2001:db8::/64", "2001:db8::ffff", "2001:db8::/96")
    assert pool.version == 6 and str(pool.gateway) == "2001:db8::ffff"
    assert pool.allocate([]) == "2001:db8::1"
    assert pool.allocate(["2001:db8::1"], after="2001:db8::1") == "2001:db8::2"
    assert pool.allocate([], requested="2001:db8::f00d") == "2001:db8::f00d"
    with pytest.raises(errors.InvalidArgument):
        pool.allocate([], requested="10.0.0.5")  # another version
    with pytest.raises(errors.InvalidArgument):
        ipam.Pool.parse("2001:db8::/64", "10.0.0.1")


def test_auxiliary_addresses_are_never_allocated() -> None:
    pool = ipam.Pool.parse("10.9.0.0/29", aux={"a": "10.9.0.2", "b": "10.9.0.3"})
    assert pool.allocate([]) == "10.9.0.4"
    with pytest.raises(errors.Conflict):
        pool.allocate([], requested="10.9.0.3")
    with pytest.raises(errors.InvalidArgument):
        ipam.Pool.parse("10.9.0.0/29", aux={"x": "10.10.0.1"})


def test_ula_subnet_is_a_stable_fd00_slash_64() -> None:
    net = ipam.ula_subnet("ab" * 32)
    assert net == ipam.ula_subnet("ab" * 32) and net.startswith("fd") and net.endswith("::/64")


def test_dns_answers_aaaa_with_ipv6_addresses_and_a_with_ipv4_ones() -> None:
    from dnslib import QTYPE, DNSRecord

    both = lambda n: ["10.1.0.2", "2001:db8::2"] if n == "web" else []  # noqa: E731
    a = DNSRecord.parse(dns.answer(bytes(DNSRecord.question("web", "A").pack()), both))
    aaaa = DNSRecord.parse(dns.answer(bytes(DNSRecord.question("web", "AAAA").pack()), both))
    assert [(r.rtype, str(r.rdata)) for r in a.rr] == [(QTYPE.A, "10.1.0.2")]
    assert [(r.rtype, str(r.rdata)) for r in aaaa.rr] == [(QTYPE.AAAA, "2001:db8::2")]
    v4 = DNSRecord.parse(dns.answer(bytes(DNSRecord.question("web", "AAAA").pack()), lambda n: ["10.1.0.2"]))
    assert v4.rr == [] and v4.header.rcode == 0  # known name, no IPv6: empty NOERROR
