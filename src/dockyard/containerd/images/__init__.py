"""Images: manifest/index/platform resolution and unpacking into snapshots."""

from dockyard.containerd.images.manifest import (
    Manifest,
    Platform,
    host_platform,
    read_config,
    read_manifest,
    select_manifest,
)
from dockyard.containerd.images.unpack import LayerDigestMismatch, unpack

__all__ = [
    "LayerDigestMismatch",
    "Manifest",
    "Platform",
    "host_platform",
    "read_config",
    "read_manifest",
    "select_manifest",
    "unpack",
]
