"""Unpack an image's layers into snapshots named by their ChainIDs.

Each layer becomes a committed snapshot named by its ChainID, so images that
share a layer stack share snapshots, and an unpack interrupted half-way
resumes at the first missing layer. The uncompressed digest of every layer is
checked against the config's diff_id before the snapshot is committed: a
snapshot name is a promise about its content.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from dockyard.containerd import mount as mountlib
from dockyard.containerd.content.store import ContentStore
from dockyard.containerd.diff.apply import HashingReader, apply_layer
from dockyard.containerd.diff.compression import decompress_stream
from dockyard.containerd.remotes.tail import Tail
from dockyard.containerd.images.manifest import (
    Platform,
    diff_ids,
    read_config,
    read_manifest,
)
from dockyard.containerd.snapshots.snapshotter import Kind, Snapshotter
from dockyard.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from dockyard.oci import image as oci
from dockyard.types import Descriptor, Mount

LABEL_SNAPSHOT_REF = "containerd.io/snapshot.ref"


class LayerDigestMismatch(FailedPrecondition):
    """A layer's uncompressed content does not match the config's diff_id."""


def _exists(snapshotter: Snapshotter, name: str) -> bool:
    try:
        return snapshotter.stat(name).kind is Kind.COMMITTED
    except NotFound:
        return False


def _direct_path(mounts: list[Mount]) -> Path | None:
    """A single rw bind mount needs no mount(2): apply straight to its source."""
    if len(mounts) == 1 and mounts[0].type == "bind" and "ro" not in mounts[0].options and not mounts[0].target:
        return Path(mounts[0].source)
    return None


def apply_to_mounts(mounts: list[Mount], layer: Descriptor, store: ContentStore, work_dir: Path | None = None,
                    tail: Tail | None = None) -> str:
    """Mount ``mounts`` on a temp dir, apply ``layer`` and unmount; returns the diff_id.

    With ``tail`` the compressed bytes are read as they download (see
    remotes/tail.py) instead of from the committed blob.
    """
    with (tail.reader() if tail is not None else store.open(layer.digest)) as blob:
        reader = HashingReader(decompress_stream(blob))
        direct = _direct_path(mounts)
        if direct is not None:
            apply_layer(reader, direct)  # type: ignore[arg-type]
            return reader.digester.digest()
        target = Path(tempfile.mkdtemp(prefix="dockyard-unpack-", dir=work_dir))
        try:
            mountlib.mount_all(mounts, target)
            try:
                apply_layer(reader, target)  # type: ignore[arg-type]
            finally:
                mountlib.unmount_all(target)
        finally:
            # rmdir, never rmtree: if the unmount failed, the snapshot is still behind it
            try:
                os.rmdir(target)
            except OSError:
                pass
        return reader.digester.digest()


def unpack(
    store: ContentStore,
    snapshotter: Snapshotter,
    manifest_digest: str,
    *,
    platform: Platform | None = None,
    work_dir: Path | None = None,
) -> str:
    """Unpack the image at ``manifest_digest``; returns the top ChainID ("" if no layers)."""
    manifest = read_manifest(store, manifest_digest, platform)
    config = read_config(store, manifest)
    ids = diff_ids(config)
    if len(ids) != len(manifest.layers):
        raise InvalidArgument(f"image {manifest.digest}: {len(manifest.layers)} layers but {len(ids)} diff_ids")
    chains = oci.chain_ids(ids)
    parent = ""
    for layer, diff_id, chain in zip(manifest.layers, ids, chains):
        if layer.media_type and layer.media_type not in oci.LAYER_TYPES:
            raise InvalidArgument(f'layer {layer.digest}: unsupported media type "{layer.media_type}"')
        if not _exists(snapshotter, chain):
            _unpack_layer(store, snapshotter, layer, diff_id, chain, parent, work_dir)
        parent = chain
    return parent


def _unpack_layer(
    store: ContentStore,
    snapshotter: Snapshotter,
    layer: Descriptor,
    diff_id: str,
    chain: str,
    parent: str,
    work_dir: Path | None,
    tail: Tail | None = None,
) -> None:
    """Extract one layer into a new snapshot and commit it as ``chain``.

    With ``tail`` the layer is extracted while it downloads; the snapshot is
    committed only after the download verified the blob's digest, and removed
    if it did not (the extracted files came from unverified bytes).
    """
    key = f"extract-{uuid.uuid4().hex}-{chain}"
    mounts = snapshotter.prepare(key, parent, labels={LABEL_SNAPSHOT_REF: chain})
    try:
        try:
            got = apply_to_mounts(mounts, layer, store, work_dir, tail)
        except Exception:
            if tail is not None:
                tail.wait_verified()  # corrupt bytes break the gzip stream first: report the download's error
            raise
        if tail is not None:
            tail.wait_verified()
        if got != diff_id:
            raise LayerDigestMismatch(f"layer {layer.digest}: uncompressed digest {got} does not match diff_id {diff_id}")
        try:
            snapshotter.commit(chain, key)
        except AlreadyExists:
            snapshotter.remove(key)  # a concurrent unpack won; same content by construction
    except BaseException:
        try:
            snapshotter.remove(key)
        except NotFound:
            pass
        raise
