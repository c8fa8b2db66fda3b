"""SQLite metadata of dockyard-containerd: images and containers, by namespace.

One connection per store, WAL mode and a busy timeout so a reader never blocks a
writer, and one transaction per change so kill -9 leaves either the old or the
new record, never half of one. Blobs live in the content store and snapshots
in the snapshotter's own database; this store only names them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.diskfull import SpaceReserve
from dockyard.sqlite import open_db
from dockyard.types import Descriptor

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    target     TEXT NOT NULL,          -- OCI descriptor JSON
    labels     TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,       -- unix nanoseconds
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE TABLE IF NOT EXISTS containers (
    namespace    TEXT NOT NULL,
    id           TEXT NOT NULL,
    image        TEXT NOT NULL,
    snapshotter  TEXT NOT NULL,
    snapshot_key TEXT NOT NULL,
    spec         BLOB NOT NULL,        -- OCI runtime spec JSON
    runtime      TEXT NOT NULL,
    labels       TEXT NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (namespace, id)
);
"""


@dataclass(frozen=True)
class ImageRecord:
    name: str
    target: Descriptor
    labels: dict[str, str] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0


@dataclass(frozen=True)
class ContainerRecord:
    id: str
    image: str
    snapshotter: str
    snapshot_key: str
    spec: bytes
    runtime: str
    labels: dict[str, str] = field(default_factory=dict)
    created_at: int = 0


class MetadataStore:
    """Namespaced images and containers in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = open_db(path, timeout=10.0)
        self._lock = threading.Lock()
        self._db.executescript(SCHEMA)
        # deletions must commit on a full disk, so space can be reclaimed: see diskfull
        self._reserve = SpaceReserve(path.with_name(path.name + ".reserve"))

    def close(self) -> None:
        self._db.close()

    def _execute(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    def _delete(self, sql: str, args: tuple[Any, ...]) -> int:
        """Rows deleted by ``sql``, on a full disk too (the reserve is given back if needed)."""
        with self._lock:
            n = self._reserve.deleting(lambda: self._db.execute(sql, args)).rowcount
        self._reserve.ensure()
        return int(n)

    # -- images --------------------------------------------------------------

    def put_image(self, namespace: str, image: ImageRecord) -> ImageRecord:
        now = time.time_ns()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT created_at FROM images WHERE namespace=? AND name=?", (namespace, image.name)
                ).fetchone()
                created = row[0] if row else (image.created_at or now)
                self._db.execute(
                    "INSERT OR REPLACE INTO images VALUES (?,?,?,?,?,?)",
                    (namespace, image.name, json.dumps(image.target.to_oci()), json.dumps(image.labels), created, now),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self._reserve.ensure()
        return ImageRecord(image.name, image.target, dict(image.labels), created, now)

    def get_image(self, namespace: str, name: str) -> ImageRecord:
        row = self._execute(
            "SELECT name, target, labels, created_at, updated_at FROM images WHERE namespace=? AND name=?",
            (namespace, name),
        ).fetchone()
        if row is None:
            raise errors.NotFound(f"image {name!r}: not found")
        return _image(row)

    def list_images(self, namespace: str) -> list[ImageRecord]:
        rows = self._execute(
            "SELECT name, target, labels, created_at, updated_at FROM images WHERE namespace=? ORDER BY name",
            (namespace,),
        ).fetchall()
        return [_image(r) for r in rows]

    def delete_image(self, namespace: str, name: str) -> None:
        if self._delete("DELETE FROM images WHERE namespace=? AND name=?", (namespace, name)) == 0:
            raise errors.NotFound(f"image {name!r}: not found")

    def namespaces(self) -> list[str]:
        """Every namespace that holds an image or a container (GC walks them all)."""
        rows = self._execute("SELECT namespace FROM images UNION SELECT namespace FROM containers").fetchall()
        return [r[0] for r in rows]

    def all_image_targets(self) -> Iterator[str]:
        """Every digest an image points at, in any namespace (GC roots)."""
        for (target,) in self._execute("SELECT target FROM images").fetchall():
            yield json.loads(target)["digest"]

    # -- containers ----------------------------------------------------------

    def create_container(self, namespace: str, c: ContainerRecord) -> ContainerRecord:
        created = c.created_at or time.time_ns()
        try:
            self._execute(
                "INSERT INTO containers VALUES (?,?,?,?,?,?,?,?,?)",
                (namespace, c.id, c.image, c.snapshotter, c.snapshot_key, c.spec, c.runtime, json.dumps(c.labels), created),
            )
        except sqlite3.IntegrityError as err:
            raise errors.AlreadyExists(f"container {c.id!r}: already exists") from err
        self._reserve.ensure()
        return ContainerRecord(c.id, c.image, c.snapshotter, c.snapshot_key, c.spec, c.runtime, dict(c.labels), created)

    def get_container(self, namespace: str, id: str) -> ContainerRecord:
        row = self._execute(
            "SELECT id, image, snapshotter, snapshot_key, spec, runtime, labels, created_at"
            " FROM containers WHERE namespace=? AND id=?",
            (namespace, id),
        ).fetchone()
        if row is None:
            raise errors.NotFound(f"container {id!r}: not found")
        return _container(row)

    def list_containers(self, namespace: str) -> list[ContainerRecord]:
        rows = self._execute(
            "SELECT id, image, snapshotter, snapshot_key, spec, runtime, labels, created_at"
            " FROM containers WHERE namespace=? ORDER BY created_at",
            (namespace,),
        ).fetchall()
        return [_container(r) for r in rows]

    def delete_container(self, namespace: str, id: str) -> None:
        if self._delete("DELETE FROM containers WHERE namespace=? AND id=?", (namespace, id)) == 0:
            raise errors.NotFound(f"container {id!r}: not found")


def _image(row: tuple[Any, ...]) -> ImageRecord:
    return ImageRecord(row[0], Descriptor.from_oci(json.loads(row[1])), json.loads(row[2]), row[3], row[4])


def _container(row: tuple[Any, ...]) -> ContainerRecord:
    return ContainerRecord(row[0], row[1], row[2], row[3], bytes(row[4]), row[5], json.loads(row[6]), row[7])
