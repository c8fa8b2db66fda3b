"""The build cache: content-addressed step keys to resulting image states, in SQLite.

A key is a digest of the parent state's ID, the expanded instruction and, for COPY/ADD, the
digest of the layer the files make; the value is the resulting image config's digest and
its layer descriptors. It lives under the data root, so a daemon restart keeps it.

Each entry also records its *root*: a small manifest blob labelled ``containerd.io/gc.root``
that names the entry's config and layers, so containerd's GC keeps them (and the snapshots
of their chain) while the entry exists; ``builder prune`` deletes the roots, then collects.

An entry lives as long as an image built through it: ``built`` records the images a build made with
which entries, and when the last of an entry's images is deleted the entry goes (``images_deleted``),
as dockerd's classic cache, its intermediate images, goes with the images they led to. An entry no
finished build used (a failed build's steps) stays until ``builder prune``.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from dockyard.sqlite import open_db


class BuildCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # synchronous NORMAL: a lost last entry after a power cut is only a cache miss, no fsync per step
        self._db = open_db(path, timeout=5.0)
        self._db.execute("CREATE TABLE IF NOT EXISTS steps (key TEXT PRIMARY KEY, config TEXT NOT NULL, "
                         "layers TEXT NOT NULL, size INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, "
                         "last_used REAL NOT NULL)")
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(steps)")}
        if "root" not in cols:
            self._db.execute("ALTER TABLE steps ADD COLUMN root TEXT NOT NULL DEFAULT ''")
        self._db.execute("CREATE TABLE IF NOT EXISTS built (key TEXT NOT NULL, image TEXT NOT NULL, "
                         "PRIMARY KEY (key, image))")
        self._db.execute("CREATE INDEX IF NOT EXISTS built_image ON built (image)")
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[str, list[dict[str, Any]], str] | None:
        """(config digest, layers, root digest); entries without a root (older ones) are misses."""
        with self._lock:
            row = self._db.execute("SELECT config, layers, root FROM steps WHERE key = ?", (key,)).fetchone()
            if row is None or not row[2]:
                return None
            self._db.execute("UPDATE steps SET last_used = ? WHERE key = ?", (time.time(), key))
        return row[0], json.loads(row[1]), row[2]

    def put(self, key: str, config_digest: str, layers: list[dict[str, Any]], size: int = 0,
            root: str = "") -> None:
        now = time.time()
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO steps (key, config, layers, size, created, last_used, root) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (key, config_digest, json.dumps(layers), size, now, now, root))

    def built(self, keys: list[str], image: str) -> None:
        """A build finished ``image`` through the entries ``keys``."""
        with self._lock:
            self._db.executemany("INSERT OR IGNORE INTO built (key, image) VALUES (?, ?)",
                                 [(k, image) for k in dict.fromkeys(keys)])

    def images_deleted(self, images: list[str]) -> list[str]:
        """The images are gone: the entries that built only them go too; returns the roots no remaining
        entry uses, for the caller to release."""
        marks = ",".join("?" * len(images))
        with self._lock:
            keys = [r[0] for r in self._db.execute(f"SELECT DISTINCT key FROM built WHERE image IN ({marks})", images)]
            self._db.execute(f"DELETE FROM built WHERE image IN ({marks})", images)
            alone = [(k,) for k in keys if not self._db.execute("SELECT 1 FROM built WHERE key = ?", (k,)).fetchone()]
            gone = {r[0] for (k,) in alone for r in self._db.execute("SELECT root FROM steps WHERE key = ?", (k,))}
            self._db.executemany("DELETE FROM steps WHERE key = ?", alone)
            kept = {r[0] for r in self._db.execute("SELECT DISTINCT root FROM steps")}
        return sorted(gone - kept - {""})

    def records(self) -> list[tuple[str, int, float, float, int]]:
        """(key, bytes, created, last used, layers) of every entry."""
        with self._lock:
            rows = self._db.execute("SELECT key, size, created, last_used, layers FROM steps").fetchall()
        return [(r[0], int(r[1]), float(r[2]), float(r[3]), len(json.loads(r[4]))) for r in rows]

    def roots(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT root FROM steps WHERE root != ''")]

    def forget(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM steps WHERE key = ?", (key,))

    def usage(self) -> tuple[int, int]:
        """(entries, bytes of layers the cache made)."""
        with self._lock:
            n, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM steps").fetchone()
        return int(n), int(size)

    def prune(self, older_than: float | None = None) -> tuple[int, int, list[str]]:
        """Drop entries (all, or unused for ``older_than`` seconds); returns (entries, bytes, roots no
        remaining entry uses), so the caller can release those roots."""
        with self._lock:
            where, params = ("WHERE last_used < ?", (time.time() - older_than,)) if older_than else ("", ())
            n, size = self._db.execute(f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM steps {where}",
                                       params).fetchone()
            gone = {r[0] for r in self._db.execute(f"SELECT root FROM steps {where}", params) if r[0]}
            self._db.execute(f"DELETE FROM steps {where}", params)
            self._db.execute("DELETE FROM built WHERE key NOT IN (SELECT key FROM steps)")
            kept = {r[0] for r in self._db.execute("SELECT DISTINCT root FROM steps")}
        return int(n), int(size), sorted(gone - kept)

    def close(self) -> None:
        self._db.close()
