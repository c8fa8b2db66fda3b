"""Image references as Docker spells them: ``busybox`` = ``docker.io/library/busybox:latest``.

Pure parsing after the distribution reference grammar: a domain is the first
component when it has a ``.`` or ``:`` or is ``localhost``; official images live
under ``library/``; the tag defaults to ``latest`` unless a digest is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard import errors

DEFAULT_DOMAIN = "docker.io"
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?")


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def familiar_name(self) -> str:
        """The short form Docker prints: ``busybox`` for ``docker.io/library/busybox``."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path.removeprefix("library/")
        return self.name

    def familiar(self) -> str:
        out = self.familiar_name()
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse(ref: str, default_tag: str = "latest") -> Reference:
    """Parse and normalise a reference; raise InvalidArgument naming the problem."""
    if not ref or ref != ref.strip():
        raise errors.InvalidArgument(f"invalid reference format: {ref!r}")
    rest, digest = ref, ""
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise errors.InvalidArgument(f"invalid reference format: bad digest in {ref!r}")
    tag = ""
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.fullmatch(tag):
            raise errors.InvalidArgument(f"invalid reference format: bad tag in {ref!r}")
    parts = rest.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        domain, path_parts = parts[0], parts[1:]
        if not _DOMAIN.fullmatch(domain):
            raise errors.InvalidArgument(f"invalid reference format: bad registry in {ref!r}")
    else:
        domain, path_parts = DEFAULT_DOMAIN, parts
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if any(p != p.lower() for p in path_parts):
        raise errors.InvalidArgument(f"invalid reference format: repository name ({ref}) must be lowercase")
    for p in path_parts:
        if not _COMPONENT.fullmatch(p):
            raise errors.InvalidArgument(f"invalid reference format: {ref!r}")
    if domain == DEFAULT_DOMAIN and len(path_parts) == 1:
        path_parts = ["library", *path_parts]
    if not tag and not digest:
        tag = default_tag
    return Reference(domain, "/".join(path_parts), tag, digest)
