"""Where a registry lives and how to speak to it: endpoint URLs, plain http, mirrors.

``docker.io`` is served by ``registry-1.docker.io``. Plain http is used for
loopback addresses (127.0.0.0/8, ::1, localhost) and for hosts on the daemon's
insecure list, as dockerd does; everything else is https.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.oci.reference import DEFAULT_DOMAIN
from dockyard.oci.registryhost import api_host, is_insecure


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
        return out + [Endpoint(f"https://{api_host(domain)}", domain)]
    scheme = "http" if is_insecure(domain, insecure) else "https"
    return out + [Endpoint(f"{scheme}://{domain}", domain)]
