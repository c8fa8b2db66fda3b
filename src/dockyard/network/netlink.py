"""A minimal rtnetlink client: the handful of link, address and route requests the bridge driver makes.

Why not pyroute2: its 0.9 synchronous API runs an asyncio loop per socket and
decodes every reply through a generic marshaller; a container's attach took
~40 ms of CPU there. Each request here is one ``sendmsg`` and one ``recv`` of
the kernel's ACK (a few tens of microseconds), with no threads and no imports
beyond ``socket`` and ``struct``.

A socket belongs to the network namespace of the thread that opened it, so a
socket opened on a thread that joined a sandbox (``sandbox.run_in``) configures
that sandbox from any thread afterwards.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct

# message types, flags (linux/rtnetlink.h, linux/netlink.h)
RTM_NEWLINK, RTM_DELLINK, RTM_SETLINK = 16, 17, 19
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLA_F_NESTED = 0x8000

# attributes
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
IFLA_BRPORT_ISOLATED = 33
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_DST, RTA_GATEWAY = 1, 5
IFF_UP = 0x1
IFA_F_NODAD = 0x02

_NLMSGHDR = struct.Struct("=LHHLL")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTATTR = struct.Struct("=HH")


class NetlinkError(OSError):
    """The kernel refused a request (``errno`` is the kernel's)."""


def attr(kind: int, value: bytes) -> bytes:
    """One rtattr, padded to 4 bytes."""
    length = _RTATTR.size + len(value)
    return _RTATTR.pack(length, kind) + value + b"\0" * ((4 - length % 4) % 4)


def nested(kind: int, *attrs: bytes) -> bytes:
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


def _name(name: str) -> bytes:
    return name.encode() + b"\0"


def _mac(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def ifinfo(index: int = 0, flags: int = 0, change: int = 0, family: int = socket.AF_UNSPEC) -> bytes:
    return _IFINFOMSG.pack(family, 0, index, flags, change)


class Netlink:
    """One NETLINK_ROUTE socket; every request waits for the kernel's ACK."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, kind: int, flags: int, body: bytes) -> None:
        self.seq += 1
        seq = self.seq
        self.sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0)
                       + body)
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + _NLMSGHDR.size <= len(data):
                length, mtype, _, mseq, _ = _NLMSGHDR.unpack_from(data, off)
                if mseq == seq and mtype == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", data, off + _NLMSGHDR.size)
                    if code:
                        raise NetlinkError(-code, f"netlink: {os.strerror(-code)}")
                    return
                if length < _NLMSGHDR.size:
                    break
                off += (length + 3) & ~3

    # -- links ----------------------------------------------------------------------

    def new_link(self, name: str, kind: str, extra: bytes = b"", data: bytes = b"") -> None:
        """A new link ``name`` of ``kind`` (``extra``: more attributes of the link; ``data``: its kind's
        IFLA_INFO_DATA); one of that name already there is refused (EEXIST)."""
        info = [attr(IFLA_INFO_KIND, _name(kind))]
        if data:
            info.append(nested(IFLA_INFO_DATA, data))
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                     ifinfo() + attr(IFLA_IFNAME, _name(name)) + extra + nested(IFLA_LINKINFO, *info))

    def add_bridge(self, name: str) -> None:
        self.new_link(name, "bridge")

    def add_veth(self, name: str, peer: str, peer_netns_fd: int, peer_mac: str, master: int) -> None:
        """A veth pair: ``name`` up on bridge ``master`` here, ``peer`` made (down) inside the netns.

        The peer cannot be created up: veth refuses to open (ENOTCONN) until both ends exist."""
        peer_msg = ifinfo() + attr(IFLA_IFNAME, _name(peer)) \
            + attr(IFLA_ADDRESS, _mac(peer_mac)) + attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd))
        body = ifinfo(flags=IFF_UP, change=IFF_UP) + attr(IFLA_IFNAME, _name(name)) \
            + attr(IFLA_MASTER, struct.pack("=I", master)) \
            + nested(IFLA_LINKINFO, attr(IFLA_INFO_KIND, b"veth\0"),
                     nested(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_msg)))
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body)

    def set_port_isolated(self, index: int) -> None:
        """Make bridge port ``index`` an isolated one (``ip link set ... type bridge_slave isolated on``):
        it reaches the bridge but no other isolated port. The port's options are changed by RTM_NEWLINK
        on the existing link, as iproute2 does (RTM_SETLINK does not read IFLA_LINKINFO)."""
        self.request(RTM_NEWLINK, 0, ifinfo(index) + nested(
            IFLA_LINKINFO, attr(IFLA_INFO_SLAVE_KIND, _name("bridge")),
            nested(IFLA_INFO_SLAVE_DATA, attr(IFLA_BRPORT_ISOLATED, b"\1"))))

    def set_up(self, index: int) -> None:
        self.request(RTM_NEWLINK, 0, ifinfo(index, IFF_UP, IFF_UP))

    def delete_link(self, index: int) -> None:
        self.request(RTM_DELLINK, 0, ifinfo(index))

    # -- addresses and routes ------------------------------------------------------------

    def add_address(self, index: int, cidr: str) -> None:
        """Add ``cidr`` (address/prefix, IPv4 or IPv6) to a link; an address it already has is fine. An IPv6
        address is usable at once (no duplicate address detection: the IPAM gave it to this endpoint only)."""
        iface = ipaddress.ip_interface(cidr)
        packed = iface.ip.packed
        if iface.version == 6:
            body = _IFADDRMSG.pack(socket.AF_INET6, iface.network.prefixlen, IFA_F_NODAD, 0, index) \
                + attr(IFA_ADDRESS, packed)
        else:
            body = _IFADDRMSG.pack(socket.AF_INET, iface.network.prefixlen, 0, 0, index) + attr(IFA_LOCAL, packed) \
                + attr(IFA_ADDRESS, packed) + attr(IFA_BROADCAST, iface.network.broadcast_address.packed)
        try:
            self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)
        except NetlinkError as err:
            if err.errno != errno.EEXIST:
                raise

    def add_default_route(self, gateway: str) -> None:
        """The default route of ``gateway``'s family through it, replacing one through another gateway
        (the endpoint of a higher ``GwPriority`` takes it over)."""
        gw = ipaddress.ip_address(gateway)
        family = socket.AF_INET6 if gw.version == 6 else socket.AF_INET
        body = _RTMSG.pack(family, 0, 0, 0, 254, 3, 0, 1, 0) + attr(RTA_GATEWAY, gw.packed)
        try:
            self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, body)
        except NetlinkError as err:
            if err.errno != errno.EEXIST:
                raise


def index(name: str) -> int:
    """The link's index in the calling thread's namespace, or 0."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return 0


def delete_named(name: str) -> None:
    """Delete link ``name`` in the calling thread's namespace (a veth's peer goes with it); gone already
    is fine."""
    i = index(name)
    if not i:
        return
    with Netlink() as nl:
        try:
            nl.delete_link(i)
        except NetlinkError as err:
            if err.errno != errno.ENODEV:
                raise
