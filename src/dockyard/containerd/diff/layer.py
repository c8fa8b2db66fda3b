"""Turn a layer tar into a compressed content blob in one streaming pass.

The diff_id (digest of the uncompressed tar) and the blob digest are computed
together while compressing straight into a content writer, so a layer is
read once and never held in memory.
"""

from __future__ import annotations

import uuid
from typing import BinaryIO

from dockyard.containerd.content.store import ContentStore, commit_idempotent
from dockyard.containerd.diff.compression import GZIP, NONE, ZSTD, Compressor
from dockyard.errors import InvalidArgument
from dockyard.oci import image as oci_image
from dockyard.oci.digest import Digester
from dockyard.types import Descriptor

LABEL_UNCOMPRESSED = "containerd.io/uncompressed"
_CHUNK = 1 << 20

_MEDIA_TYPES = {
    GZIP: oci_image.MEDIA_TYPE_OCI_LAYER_GZIP,
    ZSTD: oci_image.MEDIA_TYPE_OCI_LAYER_ZSTD,
    NONE: oci_image.MEDIA_TYPE_OCI_LAYER,
}


def write_layer(
    tar_stream: BinaryIO,
    store: ContentStore,
    compression: str = GZIP,
    *,
    level: int | None = None,
    ref: str | None = None,
    behind: bool = False,
) -> tuple[Descriptor, str]:
    """Compress ``tar_stream`` into ``store``; returns (blob descriptor, diff_id).

    Deterministic: the same tar always yields the same blob digest (gzip with
    a zeroed header, fixed levels). The blob gets the containerd.io/uncompressed
    label so later unpacks can find its diff_id without decompressing.
    ``behind``: return once the bytes are written and hashed; the store publishes the
    blob from a thread (``LocalContentStore.commit_behind``).
    """
    if compression not in _MEDIA_TYPES:
        raise InvalidArgument(f'compression "{compression}": unsupported (gzip, zstd, none)')
    comp = Compressor(compression, level)
    plain = compression == NONE  # the blob is the tar: the writer's digest is the diff_id
    diff = Digester()
    writer = store.writer(ref or f"layer-{uuid.uuid4().hex}")
    try:
        if writer.offset:
            writer.truncate(0)
        while chunk := tar_stream.read(_CHUNK):
            if plain:
                writer.write(chunk)
                continue
            diff.update(chunk)
            out = comp.compress(chunk)
            if out:
                writer.write(out)
        tail = comp.flush()
        if tail:
            writer.write(tail)
        size = writer.offset
        digest = writer.digest()
        diff_id = digest if plain else diff.digest()
        labels = {LABEL_UNCOMPRESSED: diff_id}
        if behind and hasattr(store, "commit_behind"):
            store.commit_behind(writer, size, digest, labels)  # the writer is the publisher's now
            return Descriptor(_MEDIA_TYPES[compression], digest, size), diff_id
        commit_idempotent(writer, size, digest, labels)
    except BaseException:
        writer.abort()
        writer.close()
        raise
    writer.close()
    try:
        store.update(digest, labels, [f"labels.{LABEL_UNCOMPRESSED}"])
    except Exception:  # labels are an optimisation; the blob is committed either way
        pass
    return Descriptor(_MEDIA_TYPES[compression], digest, size), diff_id
