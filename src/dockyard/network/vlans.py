"""The ``macvlan`` and ``ipvlan`` network drivers, as dockerd's: each endpoint a link on a parent interface.

They answer the remote driver protocol (``remote.py`` calls them as it calls a plugin, in process), so
endpoints are made as a plugin's are: ``Join`` makes the link in the host namespace under a temporary name,
``remote.py`` moves it into the sandbox and configures it; ``DeleteEndpoint`` deletes it if it came back.

``-o parent=IF`` names the parent (it must exist); without one, or with ``--internal``, the driver makes a
parent of its own as dockerd does: a dummy link ``dm-<id>`` (macvlan) or ``di-<id>`` (ipvlan), deleted
with the network. A kernel without dummy links gets a veth pair of that name (its peer ``dp-<id>``) in its
stead: an isolated segment all the same. Nothing is kept here: the network's record says it all.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import struct
from collections.abc import Callable, Mapping
from typing import Any

from dockyard import errors
from dockyard.network import ipam, netlink

log = logging.getLogger("dockyard.network")

DRIVERS = ("macvlan", "ipvlan")
IFLA_LINK = 5
IFLA_MACVLAN_MODE = 1
IFLA_IPVLAN_MODE, IFLA_IPVLAN_FLAGS = 1, 2
MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}
IPVLAN_MODES = {"l2": 0, "l3": 1, "l3s": 2}
IPVLAN_FLAGS = {"bridge": 0, "private": 1, "vepa": 2}
_PREFIX = {"macvlan": ("dm-", "dymv"), "ipvlan": ("di-", "dyiv")}


def _generic(n: Mapping[str, Any]) -> dict[str, str]:
    return dict(n.get("Options") or {})


def own_parent(driver: str, net_id: str) -> str:
    """The name of the parent the driver makes for a network without one."""
    return _PREFIX[driver][0] + net_id[:12]


def host_name(driver: str, endpoint_id: str) -> str:
    """The endpoint link's name in the host namespace, before it moves into its sandbox."""
    return _PREFIX[driver][1] + endpoint_id[:9]


def _record(net_id: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """What ``parent_of`` reads of a network, from a driver call's ``Options``."""
    return {"Id": net_id, "Options": dict(options.get("com.docker.network.generic") or {}),
            "Internal": bool(options.get("com.docker.network.internal"))}


def parent_of(driver: str, n: Mapping[str, Any]) -> tuple[str, bool]:
    """(the network's parent interface, whether the driver makes it)."""
    parent = _generic(n).get("parent") or ""
    if not parent or n.get("Internal"):
        return own_parent(driver, n["Id"]), True
    return parent, False


def check_mode(driver: str, options: Mapping[str, str]) -> None:
    """dockerd's refusals of a mode or flag it does not know."""
    if driver == "macvlan":
        mode = options.get("macvlan_mode") or "bridge"
        if mode not in MACVLAN_MODES:
            raise errors.InvalidArgument(f"requested macvlan mode '{mode}' is not valid, 'bridge' mode is the "
                                         "macvlan driver default")
        return
    mode, flag = options.get("ipvlan_mode") or "l2", options.get("ipvlan_flag") or "bridge"
    if mode not in IPVLAN_MODES:
        raise errors.InvalidArgument(f"requested ipvlan mode '{mode}' is not valid, 'l2' mode is the ipvlan "
                                     "driver default")
    if flag not in IPVLAN_FLAGS:
        raise errors.InvalidArgument(f"requested ipvlan flag '{flag}' is not valid, 'bridge' is the ipvlan "
                                     "driver default")


def _link_data(driver: str, options: Mapping[str, str]) -> bytes:
    if driver == "macvlan":
        mode = MACVLAN_MODES[options.get("macvlan_mode") or "bridge"]
        return netlink.attr(IFLA_MACVLAN_MODE, struct.pack("=I", mode))
    return netlink.attr(IFLA_IPVLAN_MODE, struct.pack("=H", IPVLAN_MODES[options.get("ipvlan_mode") or "l2"])) \
        + netlink.attr(IFLA_IPVLAN_FLAGS, struct.pack("=H", IPVLAN_FLAGS[options.get("ipvlan_flag") or "bridge"]))


def make_parent(name: str) -> None:
    """A dummy link ``name``, up (a veth pair when the kernel has no dummy links); one that exists is used."""
    with netlink.Netlink() as nl:
        if not netlink.index(name):
            try:
                nl.new_link(name, "dummy")
            except netlink.NetlinkError as err:
                if err.errno != errno.EOPNOTSUPP:
                    raise errors.Internal(f"create parent {name}: {err}") from err
                peer = "dp-" + name[3:]
                peer_msg = netlink.ifinfo() + netlink.attr(netlink.IFLA_IFNAME, peer.encode() + b"\0")
                nl.new_link(name, "veth", data=netlink.attr(netlink.VETH_INFO_PEER, peer_msg))
                nl.set_up(netlink.index(peer))
        nl.set_up(netlink.index(name))


class VlanDriver:
    """One of the two drivers, answering ``remote.py``'s calls; ``networks()``: the daemon's records by ID."""

    def __init__(self, name: str, networks: Callable[[], Mapping[str, dict[str, Any]]]) -> None:
        self.name = name
        self._networks = networks
        self.client = self  # remote.py asks optional methods through the client

    @property
    def networks(self) -> Mapping[str, dict[str, Any]]:
        return self._networks()

    def call(self, method: str, args: dict[str, Any] | None = None, retry: bool = True,
             optional: bool = False) -> dict[str, Any]:
        args = args or {}
        handler = getattr(self, "_" + method.rpartition(".")[2], None)
        if handler is None:
            if optional:
                return {}
            raise errors.NotImplementedYet(f"{self.name}: {method} is not supported")
        return handler(args)  # type: ignore[no-any-return]

    def _GetCapabilities(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"Scope": "local", "GwAllocChecker": True}

    def _GwAllocCheck(self, args: dict[str, Any]) -> dict[str, Any]:
        """No gateway address for a network with no way out (no parent, or ``--internal``), as dockerd 28:
        a point-to-point /31 then has both its addresses for endpoints."""
        skip = parent_of(self.name, _record("", args.get("Options") or {}))[1]
        return {"SkipIPv4": skip, "SkipIPv6": skip}

    def _CreateNetwork(self, args: dict[str, Any]) -> dict[str, Any]:
        record = _record(args["NetworkID"], args.get("Options") or {})
        check_mode(self.name, record["Options"])
        parent, own = parent_of(self.name, record)
        for other in self.networks.values():
            if other["Driver"] == self.name and other["Id"] != record["Id"] and parent_of(self.name, other)[0] == parent:
                raise errors.Conflict(f"network {own_parent(self.name, other['Id'])} is already using parent "
                                      f"interface {parent}")
        if own:
            make_parent(parent)
        elif not netlink.index(parent):
            raise errors.InvalidArgument(f"-o parent interface was not found on the host: {parent}")
        return {}

    def _DeleteNetwork(self, args: dict[str, Any]) -> dict[str, Any]:
        n = self.networks.get(args["NetworkID"])
        if n is not None:
            parent, own = parent_of(self.name, n)
            if own:
                netlink.delete_named(parent)
        return {}

    def _CreateEndpoint(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.name == "ipvlan":
            return {}  # ipvlan links share the parent's MAC address
        iface = args.get("Interface") or {}
        if iface.get("MacAddress"):
            return {}
        address = str(iface.get("Address") or "").partition("/")[0]
        return {"Interface": {"MacAddress": ipam.mac_for(address)}} if address else {}

    def _Join(self, args: dict[str, Any]) -> dict[str, Any]:
        n = self.networks[args["NetworkID"]]
        parent, own = parent_of(self.name, n)
        index = netlink.index(parent)
        if not index:
            raise errors.NotFound(f"the parent interface {parent} of network {n['Name']} is gone")
        name = host_name(self.name, args["EndpointID"])
        netlink.delete_named(name)  # a half-made endpoint of an earlier try
        with netlink.Netlink() as nl:
            try:
                nl.new_link(name, self.name, netlink.attr(IFLA_LINK, struct.pack("=I", index)),
                            _link_data(self.name, _generic(n)))
            except netlink.NetlinkError as err:
                raise errors.Internal(f"failed to create the {self.name} port on {parent}: {err}") from err
        answer: dict[str, Any] = {"InterfaceName": {"SrcName": name, "DstPrefix": "eth"}}
        if own:
            answer["DisableGatewayService"] = True  # its own parent leads nowhere: no docker_gwbridge either
            return answer
        if self.name == "ipvlan" and (_generic(n).get("ipvlan_mode") or "l2") != "l2":
            answer["StaticRoutes"] = [{"Destination": d, "RouteType": 1} for d in self._families(n)]
            return answer  # l3: every destination through the link itself
        for item in n["IPAM"]["Config"]:
            key = "GatewayIPv6" if ipaddress.ip_network(item["Subnet"]).version == 6 else "Gateway"
            if item.get("Gateway"):
                answer[key] = item["Gateway"]
        return answer

    @staticmethod
    def _families(n: Mapping[str, Any]) -> list[str]:
        versions = {ipaddress.ip_network(item["Subnet"]).version for item in n["IPAM"]["Config"]}
        return [d for v, d in ((4, "0.0.0.0/0"), (6, "::/0")) if v in versions]

    def _Leave(self, args: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _DeleteEndpoint(self, args: dict[str, Any]) -> dict[str, Any]:
        netlink.delete_named(host_name(self.name, args.get("EndpointID") or ""))  # moved back by remote.py, or half-made
        return {}


def restore(networks: Mapping[str, dict[str, Any]], endpoints: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
    """At daemon start: the parents the driver makes are there again, and endpoint links a crash left in the
    host namespace (made, never moved into their sandbox) are deleted."""
    for n in networks.values():
        if n["Driver"] not in DRIVERS:
            continue
        try:
            parent, own = parent_of(n["Driver"], n)
            if own:
                make_parent(parent)
            for ep in endpoints.get(n["Id"], {}).values():
                netlink.delete_named(host_name(n["Driver"], ep.get("EndpointID") or ""))
        except (errors.DockyardError, OSError) as err:
            log.error("network %s: %s", n["Name"], err)
