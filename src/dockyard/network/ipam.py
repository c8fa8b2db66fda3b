"""IP address management: pure functions over ``ipaddress`` (unit-tested).

A pool is a subnet, its gateway and an optional ``ip_range`` that dynamic
allocations come from; static ``--ip`` addresses may be anywhere in the subnet.
Allocations themselves are persisted by the store, so this module keeps no state.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard import errors

# Docker's default pools for bridge networks, in order; /16 subnets.
DEFAULT_POOLS = [f"172.{n}.0.0/16" for n in range(18, 32)] + [f"192.168.{n}.0/20" for n in range(0, 256, 16)]


@dataclass(frozen=True)
class Pool:
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    ip_range: ipaddress.IPv4Network

    @classmethod
    def parse(cls, subnet: str, gateway: str = "", ip_range: str = "") -> "Pool":
        try:
            net = ipaddress.IPv4Network(subnet, strict=False)
            gw = ipaddress.IPv4Address(gateway) if gateway else net.network_address + 1
            rng = ipaddress.IPv4Network(ip_range, strict=False) if ip_range else net
        except ValueError as err:
            raise errors.InvalidArgument(f"invalid IPAM configuration: {err}") from err
        if gw not in net:
            raise errors.InvalidArgument(f"gateway {gw} is not in subnet {net}")
        if not rng.subnet_of(net):
            raise errors.InvalidArgument(f"ip-range {rng} is not in subnet {net}")
        if net.prefixlen > 30:
            raise errors.InvalidArgument(f"subnet {net} is too small")
        return cls(net, gw, rng)

    def allocate(self, taken: Iterable[str], requested: str = "", after: str = "") -> str:
        """The requested address if free, else the next free one in the range after ``after`` (wrapping round;
        never network, broadcast, gateway).

        Sequential, as Docker's allocator: an address just released is not handed out again at once, so a
        new container never meets the ARP/FDB entries of the one that just left it.
        """
        used = {ipaddress.IPv4Address(t) for t in taken} | {self.gateway}
        reserved = {self.subnet.network_address, self.subnet.broadcast_address}
        if requested:
            try:
                ip = ipaddress.IPv4Address(requested)
            except ValueError as err:
                raise errors.InvalidArgument(f"invalid IP address {requested!r}") from err
            if ip not in self.subnet or ip in reserved:
                raise errors.InvalidArgument(f"no configured subnet contains IP address {ip}")
            if ip in used:
                raise errors.Conflict(f"Address already in use: {ip}")
            return str(ip)
        first, last = int(self.ip_range.network_address), int(self.ip_range.broadcast_address)
        if self.ip_range.prefixlen < 31:  # as hosts(): not the range's own network and broadcast addresses
            first, last = first + 1, last - 1
        size = last - first + 1
        start = first
        if after:
            a = int(ipaddress.IPv4Address(after))
            if first <= a <= last:
                start = a + 1
        for i in range(size):
            ip = ipaddress.IPv4Address(first + (start - first + i) % size)
            if ip not in used and ip not in reserved:
                return str(ip)
        raise errors.Unavailable(f"no available IPv4 addresses on this network's address pools: {self.subnet}")


def pick_subnet(in_use: Iterable[str], candidates: Iterable[str] = DEFAULT_POOLS) -> str:
    """The first default pool that overlaps nothing in use (host routes and our own networks)."""
    used = [ipaddress.IPv4Network(u, strict=False) for u in in_use]
    for cand in candidates:
        net = ipaddress.IPv4Network(cand)
        if not any(net.overlaps(u) for u in used):
            return cand
    raise errors.Unavailable("could not find an available, non-overlapping IPv4 address pool among the defaults "
                             "to assign to the network")


def mac_for(ip: str) -> str:
    """Docker's rule: 02:42 followed by the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)
