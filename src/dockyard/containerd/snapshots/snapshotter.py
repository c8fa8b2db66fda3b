"""The Snapshotter role (containerd's snapshots.Snapshotter).

Keys name *active* and *view* snapshots, names name *committed* ones, and a
parent is always a committed name. Snapshotters return mounts instead of
mounting, so callers decide where and when to mount and tests need no root.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from dockyard.types import Mount


class Kind(enum.Enum):
    ACTIVE = "active"
    VIEW = "view"
    COMMITTED = "committed"

    def can_commit(self) -> bool:
        return self is Kind.ACTIVE

    def has_mounts(self) -> bool:
        return self is not Kind.COMMITTED


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    parent: str
    kind: Kind
    labels: dict[str, str] = field(default_factory=dict)
    created: datetime | None = None
    updated: datetime | None = None


@dataclass(frozen=True)
class Usage:
    """Disk usage of the snapshot's own layer (not its parents)."""

    size: int
    inodes: int


@runtime_checkable
class Snapshotter(Protocol):
    def prepare(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]: ...

    def view(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]: ...

    def mounts(self, key: str) -> list[Mount]: ...

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None: ...

    def stat(self, key: str) -> SnapshotInfo: ...

    def update(self, key: str, labels: Mapping[str, str], fieldpaths: Sequence[str] | None = None) -> SnapshotInfo: ...

    def remove(self, key: str) -> None: ...

    def walk(self, filters: Sequence[str] = ()) -> Iterator[SnapshotInfo]: ...

    def usage(self, key: str) -> Usage: ...

    def close(self) -> None: ...
