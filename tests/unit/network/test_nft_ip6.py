"""Ports published on IPv6 host addresses: rendered into the ``ip6`` table only, the ``ip`` table unchanged."""

from __future__ import annotations

from dockyard.network import nft


def test_ipv6_ports_go_to_the_ip6_table() -> None:
    rs = nft.RuleSet("dockyard-t", [], [nft.PortRule("tcp", "127.0.0.1", 8080, "10.1.0.2", 80),
                                         nft.PortRule("tcp", "::", 8081, "fd00:1::2", 80, plugin_network=True),
                                         nft.PortRule("udp", "fd00::2", 53, "fd00:1::3", 53)])
    text = nft.render(rs)
    v4, _, v6 = text.partition("table ip6 dockyard-t {")
    assert "dnat to 10.1.0.2:80" in v4 and "fd00" not in v4
    assert "    tcp dport 8081 dnat to [fd00:1::2]:80" in v6
    assert "    ip6 daddr fd00::2 udp dport 53 dnat to [fd00:1::3]:53" in v6
    assert "    ip6 daddr fd00:1::2 tcp dport 80 fib saddr type local ct status dnat masquerade" in v6
    assert "fd00:1::3 udp dport 53 fib" not in v6  # only a plugin network's address is masqueraded


def test_no_ipv6_ports_no_ip6_table() -> None:
    assert "ip6" not in nft.render(nft.RuleSet("dockyard-t", [], [nft.PortRule("tcp", "", 80, "10.1.0.2", 80)]))
