"""Content store: blobs by digest, resumable ingests, labels."""

from dockyard.containerd.content.local import (
    LocalContentStore,
    LocalWriter,
    match_filter,
)
from dockyard.containerd.content.store import (
    ContentInfo,
    ContentStore,
    ContentWriter,
    IngestStatus,
    commit_idempotent,
    write_blob,
)

__all__ = [
    "ContentInfo",
    "ContentStore",
    "ContentWriter",
    "IngestStatus",
    "LocalContentStore",
    "LocalWriter",
    "commit_idempotent",
    "match_filter",
    "write_blob",
]
