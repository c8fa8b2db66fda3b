"""Garbage collection: mark every blob a manifest needs, sweep the rest of the store.

Roots are the manifests recorded in the metadata (tagged or not, as the
reference registry does without ``--delete-untagged``); marked are the
manifests themselves, their config and layers, and their index children.
Stale upload sessions are aborted too. GC must not race a writer: ``gc``
takes the registry's write lock, which a read-write ``serve`` holds, so run it
with the server stopped or in ``--read-only`` mode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from dockyard.containerd.content.local import LocalContentStore
from dockyard.errors import NotFound
from dockyard.registry.metadata import Metadata


@dataclass
class GCResult:
    marked: int
    swept: list[str]
    bytes_freed: int
    uploads_aborted: int


def collect(root: Path, dry_run: bool = False, upload_max_age: float = 86400.0) -> GCResult:
    store = LocalContentStore(Path(root) / "content")
    meta = Metadata(Path(root) / "metadata.db")
    try:
        marked: set[str] = set()
        for row in meta.all_manifests():
            marked.add(row.digest)
            marked.update(row.refs)
        swept, freed = [], 0
        for info in list(store.walk()):
            if info.digest in marked:
                continue
            swept.append(info.digest)
            freed += info.size
            if not dry_run:
                store.delete(info.digest)
        if not dry_run:
            meta.drop_links_to(set(swept))
        aborted = 0
        cutoff = time.time() - upload_max_age
        for upload_id in meta.uploads_older_than(cutoff):
            aborted += 1
            if not dry_run:
                meta.end_upload(upload_id)
                try:
                    store.abort(f"upload-{upload_id}")
                except NotFound:  # a session that never got a byte has no ingest
                    pass
        return GCResult(len(marked), swept, freed, aborted)
    finally:
        meta.close()
        store.close()
