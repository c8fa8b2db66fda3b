"""The id ranges of a user namespace (``<container id>:<host id>:<size>``, as containerd's
``containerd.io/snapshot/uidmapping`` labels and the runtime spec's mappings) and the moves of an
owner between the container's ids and the host's. containerd shifts a remapped snapshot's owners
with them (``containerd/snapshots/remap.py``) and writes and reads its archives in the container's
ids (``containerd/rootfs_files.py``, ``Diff.CreateLayer``); the engine does the same for a
remapped container's volumes and binds (``engine/archive.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from dockyard.errors import InvalidArgument

OVERFLOW_ID = 65534  # what a user namespace shows for an id outside its map


@dataclass(frozen=True)
class IdRange:
    container: int
    host: int
    size: int

    @classmethod
    def parse(cls, text: str) -> IdRange:
        try:
            container, host, size = (int(p) for p in text.split(":"))
        except ValueError:
            raise InvalidArgument(f"invalid id mapping {text!r}: want <container id>:<host id>:<size>") from None
        if container < 0 or host < 0 or size <= 0:
            raise InvalidArgument(f"invalid id mapping {text!r}")
        return cls(container, host, size)

    def shift(self, id: int) -> int:
        """Container id -> host id; one outside the range becomes the overflow id (a copied tree)."""
        if self.container <= id < self.container + self.size:
            return self.host + id - self.container
        return OVERFLOW_ID

    def to_host(self, id: int) -> int:
        """Container id -> host id; one the range cannot map is refused (dockerd's idtools.ToHost)."""
        if not self.container <= id < self.container + self.size:
            raise InvalidArgument(f"Container ID {id} cannot be mapped to a host ID")
        return self.host + id - self.container

    def to_container(self, id: int) -> int:
        """Host id -> container id; one outside the range shows as the overflow id, as inside the namespace."""
        if self.host <= id < self.host + self.size:
            return self.container + id - self.host
        return OVERFLOW_ID

    def label(self) -> str:
        return f"{self.container}:{self.host}:{self.size}"


class IdMap(NamedTuple):
    """The uid and gid ranges of one user namespace."""

    uids: IdRange
    gids: IdRange

    def to_host(self, uid: int, gid: int) -> tuple[int, int]:
        return self.uids.to_host(uid), self.gids.to_host(gid)

    def to_container(self, uid: int, gid: int) -> tuple[int, int]:
        return self.uids.to_container(uid), self.gids.to_container(gid)
