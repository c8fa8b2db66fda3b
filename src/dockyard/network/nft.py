"""nftables rules in Dockyard's own table, rendered whole from state and applied atomically.

One table per daemon (``ip dockyard-<suffix>``, and ``ip6`` of the same name for ports published on
IPv6 host addresses to containers' IPv6 addresses); no other table is read or touched. Every change re-renders the table and replaces it in one ``nft -f``
transaction (``table; delete table; table {...}``), so the rules always match
the state exactly, after a restart too. Rendering is pure (unit-tested).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from dockyard import errors


@dataclass(frozen=True)
class Bridge:
    name: str
    subnet: str
    internal: bool = False


@dataclass(frozen=True)
class PortRule:
    proto: str           # tcp | udp
    host_ip: str         # "" or 0.0.0.0 (:: for IPv6) for every local address
    host_port: int
    container_ip: str
    container_port: int
    plugin_network: bool = False  # to a plugin network's address: no bridge of ours masquerades its loopback


@dataclass
class RuleSet:
    table: str
    bridges: list[Bridge] = field(default_factory=list)
    ports: list[PortRule] = field(default_factory=list)


def _v6(p: PortRule) -> bool:
    return ":" in p.container_ip


def _nat_chains(v6: bool = False) -> list[str]:
    # IPv6 has no route_localnet: what the host sends to [::1] is left to the userland proxy (proxy.py), as
    # dockerd's `OUTPUT ! -d ::1/128` rule leaves it to docker-proxy
    local = "ip6 daddr != ::1 " if v6 else ""
    return ["  chain prerouting { type nat hook prerouting priority dstnat; policy accept;"
            " fib daddr type local jump ports; }",
            "  chain output { type nat hook output priority -100; policy accept;"
            f" {local}fib daddr type local jump ports; }}"]


def _nat_table(rs: RuleSet, v6: bool) -> list[str]:
    """The family's table opened, its NAT chains, the DNAT of its published ports and the postrouting
    chain opened with the masquerade of those to plugin networks (the caller closes both)."""
    family, every = ("ip6", "::") if v6 else ("ip", "0.0.0.0")
    rules = [p for p in rs.ports if _v6(p) == v6]
    lines = [f"table {family} {rs.table} {{", *_nat_chains(v6), "  chain ports {"]
    for p in rules:
        match = f"{family} daddr {p.host_ip} " if p.host_ip and p.host_ip != every else ""
        to = f"[{p.container_ip}]" if v6 else p.container_ip
        lines.append(f"    {match}{p.proto} dport {p.host_port} dnat to {to}:{p.container_port}")
    lines += ["  }", "  chain postrouting { type nat hook postrouting priority srcnat; policy accept;"]
    for p in rules:
        if p.plugin_network:
            lines.append(f"    {family} daddr {p.container_ip} {p.proto} dport {p.container_port} fib saddr type local"
                         " ct status dnat masquerade")
    return lines


def render6(rs: RuleSet) -> str:
    """The ``ip6`` table: DNAT of ports published on IPv6 host addresses ("" when there are none)."""
    if not any(_v6(p) for p in rs.ports):
        return ""
    return "\n".join([*_nat_table(rs, True), "  }", "}"]) + "\n"


def render(rs: RuleSet) -> str:
    lines = _nat_table(rs, False)
    for b in rs.bridges:
        if not b.internal:
            lines.append(f'    ip saddr {b.subnet} oifname != "{b.name}" masquerade')
        # published on 127.0.0.1 (route_localnet) and hairpin: the reply must come back through us
        lines.append(f'    oifname "{b.name}" fib saddr type local masquerade')
        lines.append(f'    oifname "{b.name}" ip saddr {b.subnet} ct status dnat masquerade')
    lines += ["  }", "  chain forward { type filter hook forward priority filter; policy accept;"]
    for b in rs.bridges:
        if b.internal:
            lines.append(f'    iifname "{b.name}" oifname != "{b.name}" drop')
            lines.append(f'    oifname "{b.name}" iifname != "{b.name}" drop')
    # Docker's isolation: no traffic from one bridge network to another.
    for a in rs.bridges:
        for b in rs.bridges:
            if a.name != b.name:
                lines.append(f'    iifname "{a.name}" oifname "{b.name}" drop')
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n" + render6(rs)


def _nft(script: str) -> None:
    r = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
    if r.returncode != 0:
        raise errors.Internal(f"nft: {r.stderr.strip()}")


def apply(rs: RuleSet) -> None:
    """Replace our tables with the rendered ones in a single transaction."""
    _nft(_delete(rs.table) + render(rs))


def _delete(table: str) -> str:
    return f"table ip {table}\ndelete table ip {table}\ntable ip6 {table}\ndelete table ip6 {table}\n"


def remove(table: str) -> None:
    _nft(_delete(table))
