"""Unpack an image's layers into snapshots named by their ChainIDs.

Each layer becomes a committed snapshot named by its ChainID, so images that
share a layer stack share snapshots, and an unpack interrupted half-way
resumes at the first missing layer. The uncompressed digest of every layer is
checked against the config's diff_id before the snapshot is committed: a
snapshot name is a promise about its content.

On the overlay snapshotter the layers of an image are extracted in parallel
(Docker extracts one at a time): each into a parentless snapshot of its own
(``extract_apart``: an overlay upper holds only its layer, deletions stored as
overlayfs whiteouts), then committed in chain order onto its parent
(``commit_apart``: a ChainID names a stack, so layer N is committed only after
N-1). What a layer's apply could not know without its lowers is settled at
commit: directories the layer made implicitly take their owner, mode and
xattrs from the lower that has them (what an overlay copy-up gives), and a layer
whose apply depended on lower content (a lower symlink on its path, a whiteout
or hard link reaching into a lower) is applied again, on its parent, the
sequential way. The native snapshotter copies the parent into each snapshot,
so it stays sequential.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import tempfile
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dockyard.containerd import mount as mountlib
from dockyard.containerd.content.store import ContentStore
from dockyard.containerd.diff.apply import HashingReader, NeedsLowers, apply_layer, apply_layer_apart
from dockyard.containerd.diff.compression import NONE, decompress_stream, detect
from dockyard.containerd.diff.diff import is_opaque
from dockyard.containerd.images.manifest import (
    Platform,
    diff_ids,
    read_config,
    read_manifest,
)
from dockyard.containerd.remotes.tail import Tail
from dockyard.containerd.snapshots.snapshotter import Kind, Snapshotter
from dockyard.errors import AlreadyExists, FailedPrecondition, Internal, InvalidArgument, NotFound
from dockyard.oci import image as oci
from dockyard.types import Descriptor, Mount

LABEL_SNAPSHOT_REF = "containerd.io/snapshot.ref"
# Layers extracted at once (I/O, inflate and hashing release the GIL; tar parsing does not);
# DOCKYARD_EXTRACT_CONCURRENCY=1 extracts one at a time, as Docker does (for comparisons).
EXTRACT_CONCURRENCY = max(1, int(os.environ.get("DOCKYARD_EXTRACT_CONCURRENCY", "4") or 4))


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
        reader = _layer_reader(blob, layer, tail)
        with mountlib.mounted(mounts, _work(work_dir), "dockyard-unpack-", scratch=True) as target:
            apply_layer(reader, target)  # type: ignore[arg-type]
        return reader.digest()


def _layer_reader(blob: BinaryIO, layer: Descriptor, tail: Tail | None) -> HashingReader:
    """The uncompressed bytes of ``blob``, hashed into the diff_id as they are read; a committed
    plain tar is not hashed: its digest, verified when the store committed it, is its diff_id."""
    src = blob if hasattr(blob, "peek") else io.BufferedReader(blob, buffer_size=1 << 16)  # type: ignore[type-var]
    if tail is None and detect(src) == NONE:
        return HashingReader(src, known=layer.digest)
    return HashingReader(decompress_stream(src))


_PRIVATE_WORK: list[Path] = []


def _work(work_dir: Path | None) -> Path:
    """Where extraction mount points go: containerd passes ``<root>/unpack``. Never the shared
    host temporary directory itself: a mount point's parent must hold nothing but ours."""
    if work_dir is not None:
        return work_dir
    if not _PRIVATE_WORK:
        _PRIVATE_WORK.append(Path(tempfile.mkdtemp(prefix="dockyard-unpack-work-")))  # 0700, this process's
    return _PRIVATE_WORK[0]


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
    for layer in manifest.layers:
        if layer.media_type and layer.media_type not in oci.LAYER_TYPES:
            raise InvalidArgument(f'layer {layer.digest}: unsupported media type "{layer.media_type}"')
    missing = [i for i, chain in enumerate(chains) if not _exists(snapshotter, chain)]
    if len(missing) > 1 and EXTRACT_CONCURRENCY > 1 and supports_rebase(snapshotter):
        _unpack_parallel(store, snapshotter, manifest.layers, ids, chains, missing, work_dir)
        return chains[-1] if chains else ""
    parent = ""
    for layer, diff_id, chain in zip(manifest.layers, ids, chains):
        if not _exists(snapshotter, chain):
            unpack_layer(store, snapshotter, layer, diff_id, chain, parent, work_dir)
        parent = chain
    return parent


def _unpack_parallel(store: ContentStore, snapshotter: Snapshotter, layers: list[Descriptor], ids: list[str],
                     chains: list[str], missing: list[int], work_dir: Path | None) -> None:
    """Extract the ``missing`` layers apart, a few at once; commit them in chain order."""
    pool = ThreadPoolExecutor(max_workers=min(EXTRACT_CONCURRENCY, len(missing)),
                              thread_name_prefix="dockyard-extract")
    futures: dict[int, Future[Extracted]] = {
        i: pool.submit(extract_apart, store, snapshotter, layers[i], ids[i], chains[i], i == 0) for i in missing
    }
    committed: set[int] = set()
    try:
        for i in missing:
            ex = futures[i].result()
            committed.add(i)  # commit_apart cleans up after itself, whatever happens
            commit_apart(store, snapshotter, ex, chains[i - 1] if i else "", work_dir)
    finally:
        for fut in futures.values():
            fut.cancel()  # not started yet: never will
        wait(list(futures.values()))
        for i, fut in futures.items():
            if i not in committed and not fut.cancelled() and fut.exception() is None:
                discard(snapshotter, fut.result())
        pool.shutdown()


def supports_rebase(snapshotter: Snapshotter) -> bool:
    """Whether layers can be extracted apart and stacked at commit (overlay, not native)."""
    return bool(getattr(snapshotter, "rebase", False))


@dataclass
class Extracted:
    """A layer applied into a parentless active snapshot, waiting to be committed on its parent."""

    layer: Descriptor
    diff_id: str
    chain: str
    key: str = ""  # "" once committed or removed
    upper: Path | None = None
    implicit: list[str] = field(default_factory=list)  # directories made without a tar entry
    redo: bool = False  # the apply needed the lowers: extract again on the parent at commit
    present: bool = False  # another unpack committed the chain first: nothing to do
    claim: tuple[int, str] | None = None  # held from extraction to commit (``_Claims``)


class _Claims:
    """ChainIDs being unpacked apart, so two pulls of one image extract each layer once.

    A claim is held from extraction to commit; a second unpack of the chain
    waits for it, then finds the chain committed. Claims are only ever waited
    for one at a time and a commit needs only lower chains, so two pulls
    meeting on one image cannot wait on each other in a circle.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held: set[tuple[int, str]] = set()

    def claim(self, snapshotter: Snapshotter, chain: str) -> tuple[int, str]:
        key = (id(getattr(snapshotter, "inner", snapshotter)), getattr(snapshotter, "prefix", "") + chain)
        with self._cond:
            while key in self._held:
                self._cond.wait()
            self._held.add(key)
        return key

    def release(self, key: tuple[int, str]) -> None:
        with self._cond:
            self._held.discard(key)
            self._cond.notify_all()


_CLAIMS = _Claims()


def extract_apart(store: ContentStore, snapshotter: Snapshotter, layer: Descriptor, diff_id: str, chain: str,
                  bottom: bool, tail: Tail | None = None) -> Extracted:
    """Apply ``layer`` into a new parentless snapshot (while it downloads, with ``tail``).

    ``bottom``: the layer has no parent, so its apply needs nothing else. The
    diff_id is checked here, after the download verified the blob; the
    snapshot is removed on any failure.
    """
    ex = Extracted(layer, diff_id, chain)
    ex.claim = _CLAIMS.claim(snapshotter, chain)  # waits while another pull extracts this chain
    try:
        if _exists(snapshotter, chain):
            ex.present = True
            return ex
        ex.key = f"extract-{uuid.uuid4().hex}-{chain}"
        mounts = snapshotter.prepare(ex.key, "", labels={LABEL_SNAPSHOT_REF: chain})
        upper = _direct_path(mounts)
        if upper is None:
            raise Internal(f"snapshot {ex.key}: a parentless snapshot is not a plain directory: {mounts}")
        with (tail.reader() if tail is not None else store.open(layer.digest)) as blob:
            reader = _layer_reader(blob, layer, tail)
            try:
                if bottom:
                    apply_layer(reader, upper)  # type: ignore[arg-type]
                else:
                    ex.implicit = apply_layer_apart(reader, upper)  # type: ignore[arg-type]
            except NeedsLowers:
                ex.redo = True
            except Exception:
                if tail is not None:
                    tail.wait_verified()  # corrupt bytes break the gzip stream first: report the download's error
                raise
        if tail is not None:
            tail.wait_verified()
        if ex.redo:
            _remove_snapshot(snapshotter, ex)  # applied again on its parent at commit, from the verified blob
            return ex
        got = reader.digest()
        if got != diff_id:
            raise LayerDigestMismatch(f"layer {layer.digest}: uncompressed digest {got} does not match diff_id {diff_id}")
        ex.upper = upper
        return ex
    except BaseException:
        discard(snapshotter, ex)
        raise


def commit_apart(store: ContentStore, snapshotter: Snapshotter, ex: Extracted, parent: str,
                 work_dir: Path | None) -> None:
    """Commit ``ex`` as its ChainID on ``parent`` (committed); removes its snapshot on failure."""
    try:
        if ex.present:
            return
        if not ex.redo and parent and ex.implicit:
            ex.redo = not _adopt_lower_dirs(snapshotter, ex, parent, work_dir)
        if ex.redo:
            _remove_snapshot(snapshotter, ex)
            if not _exists(snapshotter, ex.chain):
                unpack_layer(store, snapshotter, ex.layer, ex.diff_id, ex.chain, parent, work_dir)
            return
        try:
            snapshotter.commit(ex.chain, ex.key, parent=parent or None)  # type: ignore[call-arg]
            ex.key = ""
        except AlreadyExists:
            _remove_snapshot(snapshotter, ex)  # a concurrent unpack won; same content by construction
    finally:
        discard(snapshotter, ex)


def discard(snapshotter: Snapshotter, ex: Extracted) -> None:
    """Remove ``ex``'s snapshot if it still has one, and give up its claim on the chain."""
    try:
        _remove_snapshot(snapshotter, ex)
    finally:
        claim, ex.claim = ex.claim, None
        if claim is not None:
            _CLAIMS.release(claim)


def _remove_snapshot(snapshotter: Snapshotter, ex: Extracted) -> None:
    key, ex.key = ex.key, ""
    if key:
        try:
            snapshotter.remove(key)
        except NotFound:
            pass


def _adopt_lower_dirs(snapshotter: Snapshotter, ex: Extracted, parent: str, work_dir: Path | None) -> bool:
    """Give the layer's implicit directories what a sequential apply would have; False: apply again.

    Applied on its parent through overlayfs, a file whose directory exists only
    below would have copied that directory up (its owner, mode, xattrs), and a
    lower symlink or file on the path would have been followed or refused. Each
    implicit directory is looked up in a read-only view of the parent, one
    component at a time (nothing is followed): a lower directory lends its
    metadata, a lower non-directory under an implicit component means the
    apart result is wrong, and what the layer's own directories hide (a
    directory of the layer over a lower non-directory, an opaque one) is not
    looked at.
    """
    assert ex.upper is not None
    implicit = set(ex.implicit)
    view = f"extract-view-{uuid.uuid4().hex}-{ex.chain}"
    mounts = snapshotter.view(view, parent)
    try:
        with mountlib.mounted(mounts, _work(work_dir), "dockyard-unpack-") as lower:
            for rel in sorted(implicit, key=lambda r: r.count("/")):
                parts = rel.split("/")
                for n in range(1, len(parts) + 1):
                    prefix = "/".join(parts[:n])
                    try:
                        up = os.lstat(ex.upper / prefix)
                    except FileNotFoundError:
                        break  # removed later in the layer (a whiteout or a replacement)
                    if not stat.S_ISDIR(up.st_mode):
                        break
                    try:
                        low = os.lstat(lower / prefix)
                    except (FileNotFoundError, NotADirectoryError):
                        break  # nothing below: a new directory, as the sequential apply makes it
                    if not stat.S_ISDIR(low.st_mode):
                        if prefix in implicit:
                            return False  # the sequential apply would have followed or refused it
                        break  # the layer's own directory hides it
                    if n == len(parts):
                        _copy_dir_meta(str(lower / prefix), str(ex.upper / prefix), low)
                    if is_opaque(str(ex.upper / prefix)):
                        break
        return True
    finally:
        snapshotter.remove(view)


def _copy_dir_meta(src: str, dst: str, st: os.stat_result) -> None:
    """Owner, then mode (chown clears setuid/setgid), then xattrs (overlayfs' own excepted)."""
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    os.chmod(dst, stat.S_IMODE(st.st_mode))  # a directory (checked by the caller): nothing to follow
    for name in os.listxattr(src, follow_symlinks=False):
        if name.startswith("trusted.overlay."):
            continue
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
        except OSError as err:
            if err.errno not in (errno.ENOTSUP, errno.EPERM):
                raise  # as apply_layer: only what the upper's filesystem cannot hold is skipped


def apply_onto(store: ContentStore, snapshotter: Snapshotter, layer: Descriptor, diff_id: str, parent: str,
               work_dir: Path | None) -> str:
    """The ChainID of ``layer`` on the committed ``parent``, extracted unless it is there."""
    chain = oci.chain_ids([parent, diff_id])[1] if parent else diff_id
    if not _exists(snapshotter, chain):
        unpack_layer(store, snapshotter, layer, diff_id, chain, parent, work_dir)
    return chain


def unpack_layer(
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


class LayerUnpacker:
    """The unpacker a pull drives (remotes/pull.py ``Unpacker``): layer by layer, as they download."""

    def __init__(self, store: ContentStore, snapshotter: Snapshotter, work_dir: Path | None = None) -> None:
        self.store, self.snapshotter, self.work_dir = store, snapshotter, work_dir
        self.concurrency = EXTRACT_CONCURRENCY
        self.parallel = self.concurrency > 1 and supports_rebase(snapshotter)

    def present(self, chain: str) -> bool:
        return _exists(self.snapshotter, chain)

    def extract(self, layer: Descriptor, diff_id: str, chain: str, parent: str, tail: Tail | None) -> Extracted | None:
        """Parallel: apart, to be committed on ``parent`` later. Sequential: on ``parent``, committed."""
        if self.parallel:
            return extract_apart(self.store, self.snapshotter, layer, diff_id, chain, not parent, tail)
        if not _exists(self.snapshotter, chain):
            unpack_layer(self.store, self.snapshotter, layer, diff_id, chain, parent, self.work_dir, tail)
        return None

    def commit(self, handle: Extracted | None, parent: str) -> None:
        if handle is not None:
            commit_apart(self.store, self.snapshotter, handle, parent, self.work_dir)

    def discard(self, handle: Extracted | None) -> None:
        if handle is not None:
            discard(self.snapshotter, handle)
