"""docker_gwbridge: external connectivity for a container that its networks give none (libnetwork's
default_gateway.go).

A container whose endpoints are all on networks of remote drivers that answered ``Join`` with no
``Gateway``, no ``GatewayIPv6`` and no static route to 0.0.0.0/0 (and did not say
``DisableGatewayService``; internal networks do not count) gets a second endpoint, named
``gateway_<container id[:12]>``, on the bridge network ``docker_gwbridge`` (made on first need: ICC off,
masquerade on, IPv4 only). That endpoint gives the default route, and published ports go to its address.
It is left again as soon as an endpoint with a gateway joins, and at the container's stop. As in
dockerd it is not one of the container's ``NetworkSettings.Networks``; ``network inspect
docker_gwbridge`` lists it. On a bridge network with ICC off (this one, or ``-o
com.docker.network.bridge.enable_icc=false``) each container's port is an isolated bridge port.
"""

from __future__ import annotations

from typing import Any

from dockyard import errors
from dockyard.network import netlink

NAME = "docker_gwbridge"
ICC = "com.docker.network.bridge.enable_icc"
OPTIONS = {ICC: "false", "com.docker.network.bridge.enable_ip_masquerade": "true"}


def endpoint_name(container_id: str) -> str:
    return "gateway_" + container_id[:12]


def is_gateway_endpoint(n: dict[str, Any], ep: dict[str, Any]) -> bool:
    return n["Name"] == NAME and str(ep.get("Name") or "").startswith("gateway_")


def needed(endpoints: list[tuple[dict[str, Any], dict[str, Any]]]) -> bool:
    """libnetwork's Sandbox.needDefaultGW over (network, endpoint record) pairs."""
    need = False
    for n, ep in endpoints:
        if is_gateway_endpoint(n, ep) or n["Driver"] in ("host", "null") or n["Internal"]:
            continue
        joined = ep.get("Plugin") or {}
        if joined.get("DisableGatewayService"):
            continue
        if ep.get("Gateway") or ep.get("IPv6Gateway") or joined.get("DefaultRoute"):
            return False
        need = True
    return need


def isolate(port: str) -> None:
    """ICC off (``com.docker.network.bridge.enable_icc=false``, docker_gwbridge's): the container's bridge port
    is made an isolated one, so it reaches the bridge (gateway, NAT) but no other isolated port."""
    index = netlink.index(port)
    if not index:
        raise errors.Internal(f"isolate bridge port {port} (enable_icc=false): no such link")
    try:
        with netlink.Netlink() as nl:
            nl.set_port_isolated(index)
    except netlink.NetlinkError as err:
        raise errors.Internal(f"isolate bridge port {port} (enable_icc=false): {err}") from err
