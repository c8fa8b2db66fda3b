"""The NetworkDriver protocol and the bridge driver (Linux bridge + veth pairs, via netlink).

Blocking netlink calls: the manager runs them in a worker thread. Every
operation is idempotent (re-running after a crash or a restart converges), and
deleting tolerates what is already gone.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import Protocol

log = logging.getLogger("dockyard.network")


class NetworkDriver(Protocol):
    def create_network(self, bridge: str, gateway_cidr: str, internal: bool) -> None: ...
    def delete_network(self, bridge: str) -> None: ...
    def join(self, netns: str, bridge: str, host_if: str, ifname: str, cidr: str, gateway: str, mac: str,
             default_route: bool) -> None: ...
    def leave(self, host_if: str) -> None: ...
    def interfaces(self, prefix: str) -> list[str]: ...


def sysctl(path: str, value: str) -> None:
    p = Path("/proc/sys/net") / path
    if p.read_text().strip() != value:
        p.write_text(value)


class BridgeDriver:
    """Bridges in the host namespace; each endpoint a veth pair with one end in the sandbox."""

    def create_network(self, bridge: str, gateway_cidr: str, internal: bool) -> None:
        from pyroute2 import IPRoute

        addr, _, plen = gateway_cidr.partition("/")
        with IPRoute() as ip:
            idx = ip.link_lookup(ifname=bridge)
            if not idx:
                ip.link("add", ifname=bridge, kind="bridge")
                idx = ip.link_lookup(ifname=bridge)
            have = {a.get("IFA_ADDRESS") for a in ip.get_addr(index=idx[0], family=2)}
            if addr not in have:
                ip.addr("add", index=idx[0], address=addr, prefixlen=int(plen))
            ip.link("set", index=idx[0], state="up")
        # Published ports on 127.0.0.1 are DNATed to the bridge: route_localnet lets those packets leave lo.
        sysctl(f"ipv4/conf/{bridge}/route_localnet", "1")
        if not internal:
            sysctl("ipv4/ip_forward", "1")

    def delete_network(self, bridge: str) -> None:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        with IPRoute() as ip:
            idx = ip.link_lookup(ifname=bridge)
            if idx:
                try:
                    ip.link("del", index=idx[0])
                except NetlinkError as err:
                    if err.code != errno.ENODEV:
                        raise

    def join(self, netns: str, bridge: str, host_if: str, ifname: str, cidr: str, gateway: str, mac: str,
             default_route: bool) -> None:
        from pyroute2 import IPRoute

        peer = "t" + host_if[1:]  # temporary name in the host namespace, renamed inside the sandbox
        addr, _, plen = cidr.partition("/")
        with IPRoute() as ip:
            if not ip.link_lookup(ifname=host_if):
                ip.link("add", ifname=host_if, kind="veth", peer={"ifname": peer})
            br = ip.link_lookup(ifname=bridge)[0]
            hidx = ip.link_lookup(ifname=host_if)[0]
            ip.link("set", index=hidx, master=br, state="up")
            # hairpin: a container reaching its own published port through the host comes back on its own port
            try:
                ip.brport("set", index=hidx, hairpin_mode=1)
            except Exception as err:  # older kernels: hairpin is an optimisation, masquerade still covers it
                log.debug("hairpin on %s: %s", host_if, err)
            pidx = ip.link_lookup(ifname=peer)
            if pidx:
                fd = open(netns, "rb")
                try:
                    ip.link("set", index=pidx[0], net_ns_fd=fd.fileno())
                finally:
                    fd.close()
        from dockyard.network.sandbox import run_in

        run_in(Path(netns), lambda: self._configure_peer(peer, ifname, addr, int(plen), gateway, mac, default_route))

    @staticmethod
    def _configure_peer(peer: str, ifname: str, addr: str, plen: int, gateway: str, mac: str,
                        default_route: bool) -> None:
        """Runs on a thread inside the sandbox (pyroute2's own netns support forks, which a daemon
        with signal handlers and gRPC threads must not do)."""
        from pyroute2 import IPRoute

        with IPRoute() as ns:
            idx = ns.link_lookup(ifname=peer) or ns.link_lookup(ifname=ifname)
            i = idx[0]
            ns.link("set", index=i, state="down")
            ns.link("set", index=i, ifname=ifname, address=mac)
            have = {a.get("IFA_ADDRESS") for a in ns.get_addr(index=i, family=2)}
            if addr not in have:
                ns.addr("add", index=i, address=addr, prefixlen=plen)
            ns.link("set", index=i, state="up")
            lo = ns.link_lookup(ifname="lo")
            if lo:
                ns.link("set", index=lo[0], state="up")
            if default_route:
                routes = [r for r in ns.get_routes(family=2) if r.get("RTA_DST") is None and r["dst_len"] == 0]
                if not routes:
                    ns.route("add", dst="0.0.0.0/0", gateway=gateway)

    def leave(self, host_if: str) -> None:
        self.delete_network(host_if)  # deleting one end of a veth deletes both

    def interfaces(self, prefix: str) -> list[str]:
        from pyroute2 import IPRoute

        with IPRoute() as ip:
            return [str(link.get("IFLA_IFNAME")) for link in ip.get_links()
                    if str(link.get("IFLA_IFNAME") or "").startswith(prefix)]
