"""Snapshotters: the Snapshotter protocol, overlay and native implementations."""

from dockyard.containerd.snapshots.native import NativeSnapshotter
from dockyard.containerd.snapshots.overlay import OverlaySnapshotter
from dockyard.containerd.snapshots.snapshotter import (
    Kind,
    SnapshotInfo,
    Snapshotter,
    Usage,
)

__all__ = ["Kind", "NativeSnapshotter", "OverlaySnapshotter", "SnapshotInfo", "Snapshotter", "Usage"]
