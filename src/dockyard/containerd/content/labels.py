"""Blob labels in a small sidecar SQLite database.

Labels (GC references, distribution sources) change after a blob is committed,
so they cannot live in the immutable blob file. SQLite in WAL mode gives atomic
updates that survive kill -9, and lets the gRPC server's threads share it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from dockyard.sqlite import open_db

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blob_labels (
    digest TEXT PRIMARY KEY,
    labels TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""


class LabelDB:
    """Per-digest label maps with an update timestamp."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = open_db(path, timeout=30.0)
        self._db.executescript(_SCHEMA)

    def get(self, digest: str) -> tuple[dict[str, str], float | None]:
        with self._lock:
            row = self._db.execute("SELECT labels, updated_at FROM blob_labels WHERE digest=?", (digest,)).fetchone()
        if row is None:
            return {}, None
        return dict(json.loads(row[0])), float(row[1])

    def set(self, digest: str, labels: Mapping[str, str]) -> float:
        now = time.time()
        with self._lock:
            if labels:
                self._db.execute(
                    "INSERT INTO blob_labels(digest, labels, updated_at) VALUES(?,?,?) "
                    "ON CONFLICT(digest) DO UPDATE SET labels=excluded.labels, updated_at=excluded.updated_at",
                    (digest, json.dumps(dict(labels), sort_keys=True), now),
                )
            else:
                self._db.execute("DELETE FROM blob_labels WHERE digest=?", (digest,))
        return now

    def delete(self, digest: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM blob_labels WHERE digest=?", (digest,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
