"""NativeSnapshotter: a full copy of the parent per snapshot, exposed by bind mount.

The fallback where overlayfs is unavailable (nested overlay, odd filesystems,
rootless without fuse): slow and space hungry, but it works on any filesystem.
"""

from __future__ import annotations

from pathlib import Path

from dockyard.containerd.snapshots.base import MetadataSnapshotter
from dockyard.containerd.snapshots.fstree import copy_tree
from dockyard.containerd.snapshots.metadata import Row
from dockyard.containerd.snapshots.snapshotter import Kind
from dockyard.types import Mount


class NativeSnapshotter(MetadataSnapshotter):
    def _populate(self, new_dir: Path, parents: list[Row]) -> None:
        if parents:
            copy_tree(self._fs(parents[0].id), new_dir / "fs")

    def _mounts(self, row: Row, parents: list[Row]) -> list[Mount]:
        ro_rw = "ro" if row.kind is Kind.VIEW else "rw"
        return [Mount(type="bind", source=str(self._fs(row.id)), options=("rbind", ro_rw))]
