"""The NetworkDriver protocol and the bridge driver (Linux bridge + veth pairs, via netlink).

Blocking netlink calls: the manager runs them in a worker thread. Every
operation is idempotent (re-running after a crash or a restart converges), and
deleting tolerates what is already gone.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import Any, Protocol

from dockyard import errors
from dockyard.network import netlink
from dockyard.network.sandbox import run_in

log = logging.getLogger("dockyard.network")


class NetworkDriver(Protocol):
    def create_network(self, bridge: str, gateway_cidr: str, internal: bool, adopt: bool,
                       gateway6_cidr: str = "") -> tuple[int, bool]: ...
    def delete_network(self, bridge: str, ifindex: int) -> None: ...
    def join(self, netns: str, bridge: str, host_if: str, ifname: str, cidr: str, gateway: str, mac: str,
             default_route: bool, cidr6: str = "", gateway6: str = "") -> None: ...
    def default_routes(self, netns: str, gateway: str, gateway6: str = "") -> None: ...
    def leave(self, host_if: str) -> None: ...
    def interfaces(self, prefix: str) -> list[str]: ...


def sysctl(path: str, value: str) -> None:
    p = Path("/proc/sys/net") / path
    if p.read_text().strip() != value:
        p.write_text(value)


def _kind(ip: Any, index: int) -> str:
    info = ip.get_links(index)[0].get_attr("IFLA_LINKINFO")
    return str(info.get_attr("IFLA_INFO_KIND") or "") if info is not None else ""


def _bridge_ipv6(ip: Any, idx: int, bridge: str, gateway6_cidr: str) -> None:
    """IPv6 on ``bridge``: enabled, the gateway address on it. No IPv6 forwarding is switched on: that
    turns off router advertisements on every host interface (IPv6 reaches the containers of the network
    and the host, not beyond)."""
    addr, _, plen = gateway6_cidr.partition("/")
    sysctl(f"ipv6/conf/{bridge}/disable_ipv6", "0")
    sysctl(f"ipv6/conf/{bridge}/accept_dad", "0")
    have = {a.get("IFA_ADDRESS") for a in ip.get_addr(index=idx, family=10)}
    if addr not in have:
        ip.addr("add", index=idx, address=addr, prefixlen=int(plen))


class BridgeDriver:
    """Bridges in the host namespace; each endpoint a veth pair with one end in the sandbox."""

    def create_network(self, bridge: str, gateway_cidr: str, internal: bool, adopt: bool,
                       gateway6_cidr: str = "") -> tuple[int, bool]:
        """Create the bridge and return (its ifindex, True). A link of that name that exists already is
        used only with ``adopt`` and only if it is a bridge (then: (its ifindex, False)); otherwise
        ``AlreadyExists``, and the link is left as it was. ``gateway6_cidr``: the IPv6 gateway address,
        added without duplicate address detection (the bridge is ours, and DAD would hold it for a second)."""
        # lazy: 150 ms of CPU (pyroute2's import, measured) on a dockyardd start that makes no bridge (--bridge none)
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        addr, _, plen = gateway_cidr.partition("/")
        with IPRoute() as ip:
            try:
                ip.link("add", ifname=bridge, kind="bridge")  # atomic: EEXIST if the name is taken
                created = True
            except NetlinkError as err:
                if err.code != errno.EEXIST:
                    raise
                created = False
            idx = ip.link_lookup(ifname=bridge)[0]
            if not created:
                kind = _kind(ip, idx)
                if not adopt or kind != "bridge":
                    raise errors.AlreadyExists(f"interface {bridge} already exists ({kind or 'no kind'})")
            try:
                have = {a.get("IFA_ADDRESS") for a in ip.get_addr(index=idx, family=2)}
                if addr not in have:
                    ip.addr("add", index=idx, address=addr, prefixlen=int(plen))
                ip.link("set", index=idx, state="up")
                # Published ports on 127.0.0.1 are DNATed to the bridge: route_localnet lets them leave lo.
                sysctl(f"ipv4/conf/{bridge}/route_localnet", "1")
                if gateway6_cidr:
                    _bridge_ipv6(ip, idx, bridge, gateway6_cidr)
            except BaseException:
                if created:
                    ip.link("del", index=idx)
                raise
        if not internal:
            sysctl("ipv4/ip_forward", "1")
        return idx, created

    def delete_network(self, bridge: str, ifindex: int) -> None:
        """Delete the link ``ifindex`` if it still is the bridge named ``bridge``; gone already is fine."""
        # lazy: 150 ms of CPU (pyroute2's import, measured) on a dockyardd start that makes no bridge (--bridge none)
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        with IPRoute() as ip:
            try:
                link = ip.get_links(ifindex)[0]
                if link.get_attr("IFLA_IFNAME") != bridge or _kind(ip, ifindex) != "bridge":
                    log.warning("not deleting %s: link %d is now %s", bridge, ifindex, link.get_attr("IFLA_IFNAME"))
                    return
                ip.link("del", index=ifindex)
            except NetlinkError as err:
                if err.code != errno.ENODEV:
                    raise

    def join(self, netns: str, bridge: str, host_if: str, ifname: str, cidr: str, gateway: str, mac: str,
             default_route: bool, cidr6: str = "", gateway6: str = "") -> None:
        """One veth pair made in one request: ``host_if`` up on the bridge, ``ifname`` up inside the sandbox;
        then the addresses (IPv4, and IPv6 without DAD when given) and default routes from a netlink
        socket opened inside it."""
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            with netlink.Netlink() as nl:
                br = netlink.index(bridge)
                if not br:
                    raise errors.NotFound(f"bridge {bridge} not found")
                netlink.delete_named(host_if)  # a half-made endpoint of an earlier try: start over
                try:
                    nl.add_veth(host_if, ifname, fd, mac, br)
                except netlink.NetlinkError as err:
                    raise errors.Internal(f"create veth {host_if} in {netns}: {err}") from err
        finally:
            os.close(fd)
        # hairpin: a container reaching its own published port through the host comes back on its own port
        try:
            Path(f"/sys/class/net/{host_if}/brport/hairpin_mode").write_text("1")
        except OSError as err:  # an optimisation: masquerade still covers it
            log.debug("hairpin on %s: %s", host_if, err)

        def configure() -> None:
            with netlink.Netlink() as ns:
                i = netlink.index(ifname)
                ns.add_address(i, cidr)
                if cidr6:
                    ns.add_address(i, cidr6)
                ns.set_up(i)
                if default_route:
                    ns.add_default_route(gateway)
                    if gateway6:
                        ns.add_default_route(gateway6)

        try:
            run_in(Path(netns), configure)
        except OSError as err:
            raise errors.Internal(f"configure {ifname} in {netns}: {err}") from err

    def default_routes(self, netns: str, gateway: str, gateway6: str = "") -> None:
        """Point the sandbox's default routes at ``gateway`` (and ``gateway6``): another endpoint took over."""
        def configure() -> None:
            with netlink.Netlink() as ns:
                for gw in (gateway, gateway6):
                    if gw:
                        ns.add_default_route(gw)

        try:
            run_in(Path(netns), configure)
        except OSError as err:
            raise errors.Internal(f"default routes in {netns}: {err}") from err

    def leave(self, host_if: str) -> None:
        """Delete the host end (that deletes both ends); gone already is fine."""
        netlink.delete_named(host_if)

    def interfaces(self, prefix: str) -> list[str]:
        # lazy: 150 ms of CPU (pyroute2's import, measured) on a dockyardd start that makes no bridge (--bridge none)
        from pyroute2 import IPRoute

        with IPRoute() as ip:
            return [str(link.get("IFLA_IFNAME")) for link in ip.get_links()
                    if str(link.get("IFLA_IFNAME") or "").startswith(prefix)]
