"""Garbage collection (mark and sweep) and fsck of the content store and snapshotter.

Roots, in every namespace: image records (their targets, and everything an
index or manifest names: manifests, configs, layers), containers (their
snapshot keys), blobs and snapshots labelled ``containerd.io/gc.root``, and the
leases of operations in progress (a pull holds the blobs it fetched and the
snapshots it unpacked until its image record exists). Active and view
snapshots are never collected (a container's rootfs, an extraction under way);
a committed snapshot is kept when an image's chain reaches it or a kept
snapshot has it as parent. Snapshots are removed children first.

Fsck checks what GC trusts: every blob's bytes against its digest, image
records whose target is gone, extraction snapshots left by a crash, ingests
nobody holds; with ``repair`` it removes what it reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dockyard import errors
from dockyard.containerd import mount as mountlib
from dockyard.containerd.content.store import ContentStore
from dockyard.containerd.metadata.db import MetadataStore
from dockyard.containerd.remotes.pull import Lease
from dockyard.containerd.snapshots.snapshotter import Kind, Snapshotter
from dockyard.oci import image as oci

LABEL_GC_ROOT = "containerd.io/gc.root"


@dataclass
class GCResult:
    blobs: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    reclaimed: int = 0


def _children(store: ContentStore, digest: str) -> tuple[list[str], list[str]]:
    """(blobs named by the blob at ``digest``, diff_ids if it is a config)."""
    try:
        info = store.info(digest)
        if info.size > (16 << 20):
            return [], []  # layers are big and name nothing
        doc = json.loads(store.read_all(digest))
    except (errors.NotFound, ValueError, UnicodeDecodeError):
        return [], []
    if not isinstance(doc, dict):
        return [], []
    out = [m["digest"] for m in doc.get("manifests") or [] if isinstance(m, dict) and "digest" in m]
    if isinstance(doc.get("config"), dict) and "digest" in doc["config"]:
        out.append(doc["config"]["digest"])
    out += [x["digest"] for x in doc.get("layers") or [] if isinstance(x, dict) and "digest" in x]
    diff_ids = (doc.get("rootfs") or {}).get("diff_ids") if isinstance(doc.get("rootfs"), dict) else None
    return out, list(diff_ids or [])


def collect(store: ContentStore, meta: MetadataStore, snapshotter: Snapshotter, leases: Iterable[Lease] = (),
            dry_run: bool = False, scope: Lease | None = None) -> GCResult:
    """Mark from every root, sweep what is unmarked. With ``scope`` (the lease of an operation
    that failed, no longer among ``leases``), only what it held is swept: its leftovers go
    without a full sweep, and without waiting for operations that hold the unpack lock."""
    leases = list(leases)
    keep_blobs: set[str] = set()
    keep_snaps: set[str] = set()
    for lease in leases:
        keep_blobs |= lease.digests
    # Lease snapshots are namespaced by the pull; keep them under any namespace prefix.
    lease_snaps = {s for lease in leases for s in lease.snapshots}
    chains_by_ns: dict[str, set[str]] = {}
    # A labelled root keeps what it names, as an image record does (the builder's cache roots),
    # in whichever namespace holds the snapshots of its chains.
    labelled = [info.digest for info in store.walk() if LABEL_GC_ROOT in info.labels]
    snap_ns = {name.split("/", 1)[0] for name in (i.name for i in snapshotter.walk()) if "/" in name}
    for ns in sorted(set(meta.namespaces()) | snap_ns | {""}):
        chains = chains_by_ns.setdefault(ns, set())
        todo = [img.target.digest for img in meta.list_images(ns)] + labelled if ns else list(labelled)
        visited: set[str] = set()
        while todo:
            d = todo.pop()
            if d in visited:
                continue
            visited.add(d)
            keep_blobs.add(d)
            kids, diff_ids = _children(store, d)
            todo += kids
            if diff_ids:
                chains.update(oci.chain_ids(diff_ids))
        for c in meta.list_containers(ns):
            if c.snapshot_key:
                keep_snaps.add(f"{ns}/{c.snapshot_key}")
    for ns, chains in chains_by_ns.items():
        keep_snaps |= {f"{ns}/{c}" for c in chains}
    keep_blobs.update(labelled)

    infos = {i.name: i for i in snapshotter.walk()}
    for name, info in infos.items():
        if info.kind is not Kind.COMMITTED or LABEL_GC_ROOT in info.labels or \
                name.split("/", 1)[-1] in lease_snaps:
            keep_snaps.add(name)
    # Parents of kept snapshots are kept.
    for name in list(keep_snaps):
        parent = infos[name].parent if name in infos else ""
        while parent and parent not in keep_snaps:
            keep_snaps.add(parent)
            parent = infos[parent].parent if parent in infos else ""

    result = GCResult()
    doomed = [n for n in infos if n not in keep_snaps]
    if scope is not None:
        doomed = [n for n in doomed if n.split("/", 1)[-1] in scope.snapshots]
    children: dict[str, int] = {}
    for info in infos.values():
        if info.parent:
            children[info.parent] = children.get(info.parent, 0) + 1
    # Leaves first: a snapshot goes once no remaining snapshot has it as parent.
    while doomed:
        progress = False
        for name in list(doomed):
            if children.get(name, 0):
                continue
            if not dry_run:
                snapshotter.remove(name)
            result.snapshots.append(name)
            doomed.remove(name)
            parent = infos[name].parent
            if parent:
                children[parent] -= 1
            progress = True
        if not progress:
            break
    for blob in list(store.walk()):
        if blob.digest not in keep_blobs and (scope is None or blob.digest in scope.digests):
            if not dry_run:
                try:
                    store.delete(blob.digest)
                except errors.NotFound:
                    continue
            result.blobs.append(blob.digest)
            result.reclaimed += blob.size
    return result


@dataclass(frozen=True)
class Problem:
    kind: str  # corrupt-blob, dangling-image, stale-extraction, orphan-ingest
    subject: str
    detail: str
    repaired: bool = False


def fsck(store: ContentStore, meta: MetadataStore, snapshotter: Snapshotter, repair: bool = False) -> list[Problem]:
    problems: list[Problem] = []
    for info in list(store.walk()):
        algorithm = info.digest.partition(":")[0]  # sha256, or sha512 (digest.py's two)
        h = hashlib.new(algorithm)
        with store.open(info.digest) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        got = f"{algorithm}:{h.hexdigest()}"
        if got != info.digest:
            if repair:
                store.delete(info.digest)
            problems.append(Problem("corrupt-blob", info.digest, f"content hashes to {got}", repair))
    for ns in meta.namespaces():
        for img in meta.list_images(ns):
            if not store.exists(img.target.digest):
                if repair:
                    meta.delete_image(ns, img.name)
                problems.append(Problem("dangling-image", f"{ns}/{img.name}",
                                        f"target {img.target.digest} is not in the content store", repair))
    for snap in list(snapshotter.walk()):
        if snap.kind is not Kind.COMMITTED and snap.name.split("/", 1)[-1].startswith("extract-"):
            if repair:
                snapshotter.remove(snap.name)
            problems.append(Problem("stale-extraction", snap.name, "an unpack that never finished", repair))
    # Partial ingests are not problems: the next pull of that blob resumes them.
    return problems


def recover(snapshotter: Snapshotter) -> list[str]:
    """At start-up, before any request: drop what a crash cut short (no unpack can be running)."""
    removed = []
    for info in list(snapshotter.walk()):
        if info.kind is not Kind.COMMITTED and info.name.split("/", 1)[-1].startswith("extract-"):
            snapshotter.remove(info.name)
            removed.append(info.name)
    cleanup = getattr(snapshotter, "cleanup", None)
    if cleanup is not None:
        removed += cleanup()
    return removed


def recover_mounts(work_dir: Path) -> list[str]:
    """Unmount and remove extraction mount points a killed daemon left under ``work_dir``."""
    removed = []
    for entry in sorted(work_dir.iterdir()):
        try:
            mountlib.unmount_all(entry, detach=True)
        except OSError:
            pass
        try:
            entry.rmdir()
            removed.append(str(entry))
        except OSError:
            pass
    return removed


def sweep_failed(store: ContentStore, meta: MetadataStore, snapshotter: Snapshotter, lease: Lease,
                 live: Iterable[Lease], ingests: bool) -> GCResult:
    """After a pull or import failed: remove the blobs and snapshots its ``lease`` held that
    nothing else keeps (an image, a container, another operation's lease), so a failure leaves
    nothing unreferenced. With ``ingests`` (the disk filled up) its partial downloads go too;
    otherwise they stay, for the next pull to resume."""
    result = collect(store, meta, snapshotter, live, scope=lease)
    if ingests:
        for digest in lease.digests:
            try:
                store.abort(f"pull-{digest}")
            except errors.NotFound:
                continue
    return result
