"""The build cache: content-addressed step keys to resulting image states, in SQLite.

A key is a digest of the parent state's ID, the expanded instruction and, for COPY/ADD, the
digest of the layer the files make; the value is the resulting image config's digest and
its layer descriptors. It lives under the data root, so a daemon restart keeps it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any


class BuildCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS steps (key TEXT PRIMARY KEY, config TEXT NOT NULL, "
                         "layers TEXT NOT NULL, size INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, "
                         "last_used REAL NOT NULL)")
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[str, list[dict[str, Any]]] | None:
        with self._lock:
            row = self._db.execute("SELECT config, layers FROM steps WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE steps SET last_used = ? WHERE key = ?", (time.time(), key))
        return row[0], json.loads(row[1])

    def put(self, key: str, config_digest: str, layers: list[dict[str, Any]], size: int = 0) -> None:
        now = time.time()
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?)",
                             (key, config_digest, json.dumps(layers), size, now, now))

    def forget(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM steps WHERE key = ?", (key,))

    def usage(self) -> tuple[int, int]:
        """(entries, bytes of layers the cache made)."""
        with self._lock:
            n, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM steps").fetchone()
        return int(n), int(size)

    def prune(self, older_than: float | None = None) -> tuple[int, int]:
        """Drop entries (all, or unused for ``older_than`` seconds); returns (entries, bytes)."""
        with self._lock:
            where, params = ("WHERE last_used < ?", (time.time() - older_than,)) if older_than else ("", ())
            n, size = self._db.execute(f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM steps {where}",
                                       params).fetchone()
            self._db.execute(f"DELETE FROM steps {where}", params)
        return int(n), int(size)

    def close(self) -> None:
        self._db.close()
