"""An endpoint's ``IPAMConfig.LinkLocalIPs``: checked at create, each address added to the container's
interface when it joins (libnetwork's llAddrs: the address with a host prefix, /32 or /128), shown in
inspect as given. An IPv6 one on an interface whose IPv6 is off (a network without IPv6) is left out,
logged: the kernel refuses it."""

from __future__ import annotations

import errno
import ipaddress
import logging
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.network import netlink
from dockyard.network.sandbox import run_in

log = logging.getLogger("dockyard.network")


def check(ipam_config: dict[str, Any] | None) -> None:
    """dockerd's validateEndpointSettings: every entry an IP address, none unspecified."""
    for value in (ipam_config or {}).get("LinkLocalIPs") or []:
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            ip = None
        if ip is None or ip.is_unspecified:
            raise errors.InvalidArgument(f"invalid link-local IP address: {value}")


def apply(netns: str, ifname: str, addresses: list[str]) -> None:
    """Add ``addresses`` to ``ifname`` inside the sandbox ``netns`` (blocking: run it in a thread)."""
    if not addresses:
        return
    def configure() -> None:
        with netlink.Netlink() as ns:
            index = netlink.index(ifname)
            for value in addresses:
                ip = ipaddress.ip_address(value)
                try:
                    ns.add_address(index, f"{ip}/{ip.max_prefixlen}")
                except netlink.NetlinkError as err:
                    if ip.version == 6 and err.errno in (errno.EACCES, errno.EPERM):
                        log.warning("link-local %s on %s left out: IPv6 is off there", ip, ifname)
                        continue
                    raise

    try:
        run_in(Path(netns), configure)
    except OSError as err:
        raise errors.Internal(f"link-local addresses on {ifname} in {netns}: {err}") from err
