"""Published ports: Docker's PortBindings/ExposedPorts shapes, and host-port reservations.

A published port is a DNAT rule plus a socket bound (not listening) on the
host address and port: the socket reserves the port against other programs
and other containers, and makes a taken port fail at once with Docker's error.
"""

from __future__ import annotations

import functools
import socket
from dataclasses import dataclass
from typing import Any

from dockyard import errors


@dataclass(frozen=True)
class Binding:
    container_port: int
    proto: str
    host_ip: str
    host_port: int   # 0: any free port
    host_port_end: int = 0  # a range (``5000-5999``): the first free port from host_port to this one


def parse_key(key: str) -> tuple[int, str]:
    port, _, proto = key.partition("/")
    try:
        return int(port), (proto or "tcp").lower()
    except ValueError as err:
        raise errors.InvalidArgument(f"invalid port {key!r}") from err


def bindings(port_bindings: dict[str, Any] | None, publish_all: bool, exposed: dict[str, Any]) -> list[Binding]:
    """Bindings from HostConfig's ``PortBindings``, plus every exposed port on a random one with -P
    (``PublishAllPorts``)."""
    out: list[Binding] = []
    pb = port_bindings or {}
    for key, items in pb.items():
        cport, proto = parse_key(key)
        for item in items or [{}]:
            hp = str((item or {}).get("HostPort") or "0")
            first, _, last = hp.partition("-")
            try:
                start, end = int(first or 0), int(last or 0)
            except ValueError as err:
                raise errors.InvalidArgument(f"invalid host port {hp!r}") from err
            out.append(Binding(cport, proto, (item or {}).get("HostIp") or "", start, end if end > start else 0))
    if publish_all:
        for key in exposed or {}:
            if key not in pb:
                cport, proto = parse_key(key)
                out.append(Binding(cport, proto, "", 0))
    return out


def hostport(ip: str, port: int | str) -> str:
    """``0.0.0.0:80``, ``[::]:80``: Go's net.JoinHostPort, as dockerd's messages and ``docker port`` write them."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip or '0.0.0.0'}:{port}"


@functools.cache
def v6_listenable() -> bool:
    """libnetwork's IsV6Listenable: can this host listen on ``[::1]``? (No implicit IPv6 binding if not.)"""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def reserve_all(b: Binding) -> list[tuple[socket.socket, str, int]]:
    """The host ports of one binding as (socket, host address, port). Without a host address dockerd binds
    ``0.0.0.0`` and ``[::]`` on the same port (its sortAndNormPBs/needSamePort); an IPv6-less host only
    the first."""
    if b.host_ip or not v6_listenable():
        s, port = reserve(b)
        return [(s, b.host_ip or "0.0.0.0", port)]
    tries = 20 if not b.host_port else 1 + max(0, b.host_port_end - b.host_port)
    first = b.host_port
    for _ in range(tries):
        s4, port = reserve(Binding(b.container_port, b.proto, "", first, b.host_port_end))
        try:
            s6, _ = _reserve_one(Binding(b.container_port, b.proto, "::", port))
        except errors.Conflict:
            s4.close()
            if b.host_port and (not b.host_port_end or port >= b.host_port_end):
                raise
            first = port + 1 if b.host_port else 0
            continue
        return [(s4, "0.0.0.0", port), (s6, "::", port)]
    raise errors.Conflict(f"Bind for [::]:{b.host_port or 0} failed: port is already allocated")


def reserve(b: Binding) -> tuple[socket.socket, int]:
    """Bind the host port, or the first free one of its range (as dockerd's port allocator); returns the
    socket (keep it open) and the port actually bound."""
    if not b.host_port_end:
        return _reserve_one(b)
    for port in range(b.host_port, b.host_port_end + 1):
        try:
            return _reserve_one(Binding(b.container_port, b.proto, b.host_ip, port))
        except errors.Conflict:
            continue
    raise errors.Conflict(f"Bind for {hostport(b.host_ip, b.host_port)}-{b.host_port_end} failed: "
                          "port is already allocated")


def _reserve_one(b: Binding) -> tuple[socket.socket, int]:
    kind = socket.SOCK_STREAM if b.proto == "tcp" else socket.SOCK_DGRAM
    v6 = ":" in b.host_ip  # an IPv6 host address ([::] for all of them): its own family, v4 left alone
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, kind)
    try:
        if v6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_STREAM:
            # A port whose last connection lingers in TIME_WAIT is free (as for any server); listening
            # keeps a second reservation of the same port refused even so. Traffic is DNATed before
            # it could reach this socket, so it never accepts anything.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((b.host_ip or "0.0.0.0", b.host_port))
        if kind == socket.SOCK_STREAM:
            s.listen(1)
    except OSError as err:
        s.close()
        where = hostport(b.host_ip, b.host_port)
        raise errors.Conflict(f"Bind for {where} failed: port is already allocated"
                              if err.errno == 98 else f"Bind for {where}: {err}") from err
    return s, s.getsockname()[1]


def parse_publish(spec: str) -> tuple[str, list[dict[str, str]]]:
    """``[hostIP:][hostPort:]containerPort[/proto]`` (the CLI's -p) -> (key, [binding])."""
    rest, _, proto = spec.partition("/")
    parts = rest.rsplit(":", 2)
    if len(parts) == 1:
        host_ip, host_port, cport = "", "", parts[0]
    elif len(parts) == 2:
        host_ip, (host_port, cport) = "", parts
    else:
        host_ip, host_port, cport = parts
    if not cport.isdigit():
        raise errors.InvalidArgument(f"invalid containerPort: {cport}")
    return f"{cport}/{proto or 'tcp'}", [{"HostIp": host_ip.strip("[]"), "HostPort": host_port}]
