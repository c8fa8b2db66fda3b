"""OverlaySnapshotter: each snapshot is an overlayfs upper layer on its parents.

Data lives in ``snapshots/<id>/{fs,work}``; mounts follow containerd exactly
(bind for a parentless active or a single-parent view, overlay otherwise), so a
committed layer is never copied, only stacked.
"""

from __future__ import annotations

from pathlib import Path

from dockyard.containerd.snapshots.base import MetadataSnapshotter
from dockyard.containerd.snapshots.metadata import Row
from dockyard.containerd.snapshots.snapshotter import Kind
from dockyard.types import Mount


class OverlaySnapshotter(MetadataSnapshotter):
    rebase = True  # a snapshot's fs is its own upper layer only; whiteouts are stored in overlay form

    def __init__(self, root: Path, *, index_off: bool = True) -> None:
        self._index_off = index_off
        super().__init__(root)

    def _populate(self, new_dir: Path, parents: list[Row]) -> None:
        (new_dir / "work").mkdir(mode=0o700)

    def _mounts(self, row: Row, parents: list[Row]) -> list[Mount]:
        if not parents:
            ro_rw = "ro" if row.kind is Kind.VIEW else "rw"
            return [Mount(type="bind", source=str(self._fs(row.id)), options=("rbind", ro_rw))]
        if row.kind is Kind.VIEW and len(parents) == 1:
            return [Mount(type="bind", source=str(self._fs(parents[0].id)), options=("ro", "rbind"))]
        options: list[str] = []
        if self._index_off:
            options.append("index=off")
        if row.kind is Kind.ACTIVE:
            options += [f"workdir={self._work(row.id)}", f"upperdir={self._fs(row.id)}"]
        options.append("lowerdir=" + ":".join(str(self._fs(p.id)) for p in parents))
        return [Mount(type="overlay", source="overlay", options=tuple(options))]
