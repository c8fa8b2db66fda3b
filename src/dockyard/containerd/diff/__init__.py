"""Diff service: compression, layer apply (with whiteouts), layer creation."""

from dockyard.containerd.diff.apply import (
    HashingReader,
    LayerApplyError,
    UnsafeLayerPath,
    apply_layer,
)
from dockyard.containerd.diff.compression import decompress_stream, detect
from dockyard.containerd.diff.diff import diff_upper, write_diff
from dockyard.containerd.diff.layer import LABEL_UNCOMPRESSED, write_layer

__all__ = [
    "HashingReader",
    "LABEL_UNCOMPRESSED",
    "LayerApplyError",
    "UnsafeLayerPath",
    "apply_layer",
    "decompress_stream",
    "detect",
    "diff_upper",
    "write_diff",
    "write_layer",
]
