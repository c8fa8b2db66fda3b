"""Where a registry lives and how to speak to it: endpoint URLs, plain http, mirrors.

``docker.io`` is served by ``registry-1.docker.io``. Plain http is used for
loopback addresses (127.0.0.0/8, ::1, localhost) and for hosts on the daemon's
insecure list, as dockerd does; everything else is https.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from dockyard.oci.reference import DEFAULT_DOMAIN

DOCKER_HUB_HOST = "registry-1.docker.io"


def _hostname(host: str) -> str:
    """The host part of ``host[:port]``, brackets of an IPv6 literal removed."""
    if host.startswith("["):
        return host[1:host.find("]")]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def is_loopback(host: str) -> bool:
    name = _hostname(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_insecure(host: str, insecure: list[str] | tuple[str, ...] = ()) -> bool:
    """Plain http for loopback and for listed hosts (``host[:port]`` or a CIDR)."""
    if is_loopback(host):
        return True
    for entry in insecure:
        if entry == host or entry == _hostname(host):
            return True
        if "/" in entry:
            try:
                if ipaddress.ip_address(_hostname(host)) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def _mirror_of(entry: str) -> tuple[str, str]:
    """``host=endpoint`` → (host, endpoint); a bare endpoint mirrors docker.io."""
    host, sep, url = entry.partition("=")
    if sep and "/" not in host:
        return host, url
    return DEFAULT_DOMAIN, entry


@dataclass(frozen=True)
class Endpoint:
    """One way to reach a registry: ``base`` is ``http(s)://host[:port]``."""

    base: str
    host: str  # as credentials are keyed (docker.io for the hub)
    mirror: bool = False


def endpoints(domain: str, insecure: list[str] | tuple[str, ...] = (),
              mirrors: list[str] | tuple[str, ...] = ()) -> list[Endpoint]:
    """Endpoints to try in order for ``domain``: mirrors first, then the registry. A mirror is an
    endpoint for docker.io, or ``host=endpoint`` for that registry host (containerd's hosts.toml)."""
    out = [Endpoint(url.rstrip("/"), domain, mirror=True)
           for host, url in (_mirror_of(m) for m in mirrors) if host == domain]
    if domain == DEFAULT_DOMAIN:
        return out + [Endpoint(f"https://{DOCKER_HUB_HOST}", domain)]
    scheme = "http" if is_insecure(domain, insecure) else "https"
    return out + [Endpoint(f"{scheme}://{domain}", domain)]
