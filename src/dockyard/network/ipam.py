"""IP address management: pure functions over ``ipaddress`` (unit-tested).

A pool is a subnet (IPv4 or IPv6), its gateway and an optional ``ip_range`` that dynamic
allocations come from, less its auxiliary addresses; static ``--ip`` addresses may be anywhere in the subnet.
Allocations themselves are persisted by the store, so this module keeps no state.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard import errors

# Docker's default pools for bridge networks, in order; /16 subnets.
DEFAULT_POOLS = [f"172.{n}.0.0/16" for n in range(18, 32)] + [f"192.168.{n}.0/20" for n in range(0, 256, 16)]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Pool:
    """One IPAM pool, IPv4 or IPv6. ``aux`` are Docker's AuxiliaryAddresses: reserved, never allocated.
    ``gateway_skipped``: the driver asked for no gateway (GwAllocCheck); a point-to-point subnet (/31, /32;
    /127, /128) then gives every address to endpoints, as libnetwork's IPAM."""
    subnet: Network
    gateway: Address
    ip_range: Network
    aux: frozenset[Address] = frozenset()
    gateway_skipped: bool = False

    @property
    def version(self) -> int:
        return self.subnet.version

    @classmethod
    def parse(cls, subnet: str, gateway: str = "", ip_range: str = "",
              aux: dict[str, str] | None = None, gateway_skipped: bool = False) -> Pool:
        try:
            net = ipaddress.ip_network(subnet, strict=False)
            gw = ipaddress.ip_address(gateway) if gateway else net.network_address + (net.num_addresses > 1)
            rng = ipaddress.ip_network(ip_range, strict=False) if ip_range else net
            extra = frozenset(ipaddress.ip_address(a) for a in (aux or {}).values())
        except ValueError as err:
            raise errors.InvalidArgument(f"invalid IPAM configuration: {err}") from err
        if gw.version != net.version or rng.version != net.version:
            raise errors.InvalidArgument(f"invalid IPAM configuration: {subnet}, {gateway or '-'} and "
                                         f"{ip_range or '-'} are not of one IP version")
        if gw not in net:
            raise errors.InvalidArgument(f"gateway {gw} is not in subnet {net}")
        if not rng.subnet_of(net):  # type: ignore[arg-type]
            raise errors.InvalidArgument(f"ip-range {rng} is not in subnet {net}")
        for a in extra:
            if a not in net:
                raise errors.InvalidArgument(f"auxiliary address {a} is not in subnet {net}")
        if net.prefixlen > net.max_prefixlen - 2 and not gateway_skipped:
            raise errors.InvalidArgument(f"subnet {net} is too small")
        return cls(net, gw, rng, extra, gateway_skipped)

    @property
    def point_to_point(self) -> bool:
        return self.gateway_skipped and self.subnet.prefixlen >= self.subnet.max_prefixlen - 1

    def _reserved(self) -> set[Address]:
        if self.point_to_point:
            return set()
        if self.version == 4:
            return {self.subnet.network_address, self.subnet.broadcast_address}
        return {self.subnet.network_address}  # IPv6 has no broadcast; the subnet-router anycast address stays

    def allocate(self, taken: Iterable[str], requested: str = "", after: str = "") -> str:
        """The requested address if free, else the next free one in the range after ``after`` (wrapping round;
        never network, broadcast, gateway or an auxiliary address).

        Sequential, as Docker's allocator: an address just released is not handed out again at once, so a
        new container never meets the ARP/FDB entries of the one that just left it.
        """
        used = {ipaddress.ip_address(t) for t in taken} | set(self.aux)
        if not self.point_to_point:
            used.add(self.gateway)
        reserved = self._reserved()
        if requested:
            try:
                ip = ipaddress.ip_address(requested)
            except ValueError as err:
                raise errors.InvalidArgument(f"invalid IP address {requested!r}") from err
            if ip.version != self.version or ip not in self.subnet or ip in reserved:
                raise errors.InvalidArgument(f"no configured subnet contains IP address {ip}")
            if ip in used:
                raise errors.Conflict(f"Address already in use: {ip}")
            return str(ip)
        first, last = int(self.ip_range.network_address), int(self.ip_range.broadcast_address)
        if self.ip_range.prefixlen < self.ip_range.max_prefixlen - 1:  # as hosts(): not the range's ends
            first, last = first + 1, last - 1
        size = last - first + 1
        start = first
        if after:
            a = int(ipaddress.ip_address(after))
            if first <= a <= last:
                start = a + 1
        # among len(used) + len(reserved) + 1 consecutive candidates one is free, however large the range
        for i in range(min(size, len(used) + len(reserved) + 1)):
            ip = ipaddress.ip_address(first + (start - first + i) % size)
            if ip not in used and ip not in reserved:
                return str(ip)
        raise errors.Unavailable(f"no available IPv{self.version} addresses on this network's address pools: "
                                 f"{self.subnet}")


def pick_subnet(in_use: Iterable[str], candidates: Iterable[str] = DEFAULT_POOLS) -> str:
    """The first default pool that overlaps nothing in use (host routes and our own networks)."""
    used = [net for u in in_use if (net := ipaddress.ip_network(u, strict=False)).version == 4]
    for cand in candidates:
        net = ipaddress.IPv4Network(cand)
        if not any(net.overlaps(u) for u in used):
            return cand
    raise errors.Unavailable("could not find an available, non-overlapping IPv4 address pool among the defaults "
                             "to assign to the network")


def mac_for(ip: str) -> str:
    """Docker's rule: 02:42 followed by the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def ula_subnet(seed: str) -> str:
    """An IPv6 /64 for a network created with IPv6 enabled but no IPv6 pool: a unique local address
    (fd00::/8) whose 40-bit global ID and subnet ID derive from ``seed`` (the network ID)."""
    bits = int(seed[:14], 16) & ((1 << 56) - 1)
    return str(ipaddress.IPv6Network(((0xfd << 120) | (bits << 64), 64)))
