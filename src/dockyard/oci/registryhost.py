"""Where a registry's API lives and whether it is spoken to in plain HTTP, as dockerd decides:
``docker.io`` is served by ``registry-1.docker.io``; plain HTTP for a loopback address
(127.0.0.0/8, ::1, ``localhost``) or a host on the daemon's ``--insecure-registry`` list
(``host[:port]`` or a CIDR), everything else is HTTPS. Pure, so containerd's remotes, the
plugin images and the client-side trust calls share it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from dockyard.oci.reference import DEFAULT_DOMAIN

DOCKER_HUB_HOST = "registry-1.docker.io"


def api_host(domain: str) -> str:
    """The host serving the registry API of ``domain`` (Docker Hub's for ``docker.io``)."""
    return DOCKER_HUB_HOST if domain == DEFAULT_DOMAIN else domain


def hostname(host: str) -> str:
    """The host part of ``host[:port]``, brackets of an IPv6 literal removed."""
    if host.startswith("["):
        return host[1:host.find("]")]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def is_loopback(host: str) -> bool:
    name = hostname(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_insecure(host: str, insecure: Sequence[str] = ()) -> bool:
    """Plain http for loopback and for listed hosts (``host[:port]`` or a CIDR)."""
    if is_loopback(host):
        return True
    for entry in insecure:
        if entry in (host, hostname(host)):
            return True
        if "/" in entry:
            try:
                if ipaddress.ip_address(hostname(host)) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False
