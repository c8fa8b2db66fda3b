"""Snapshot metadata in SQLite, shared by the overlay and native snapshotters.

One row per snapshot; the data directory is ``snapshots/<id>``. Every change
is one ``BEGIN IMMEDIATE`` transaction, and directories are created under a
temporary name and renamed into place before the transaction commits, so after
kill -9 there is either a row with its directory, or an orphan directory that
the startup cleanup removes; never a row without data.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dockyard.containerd.snapshots.snapshotter import Kind, SnapshotInfo
from dockyard.diskfull import SpaceReserve
from dockyard.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from dockyard.sqlite import open_db

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    key       TEXT NOT NULL UNIQUE,
    parent_id INTEGER REFERENCES snapshots(id) ON DELETE RESTRICT,
    kind      TEXT NOT NULL,
    labels    TEXT NOT NULL DEFAULT '{}',
    created   REAL NOT NULL,
    updated   REAL NOT NULL,
    size      INTEGER,
    inodes    INTEGER
);
CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent_id);
"""


@dataclass(frozen=True)
class Row:
    id: int
    key: str
    parent_id: int | None
    kind: Kind
    labels: dict[str, str]
    created: float
    updated: float
    size: int | None
    inodes: int | None


def _ts(v: float) -> datetime:
    return datetime.fromtimestamp(v, tz=UTC)


class Tx:
    """Queries inside one transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def _row(self, r: tuple[object, ...] | None) -> Row | None:
        if r is None:
            return None
        return Row(
            id=int(r[0]),  # type: ignore[call-overload]
            key=str(r[1]),
            parent_id=None if r[2] is None else int(r[2]),  # type: ignore[call-overload]
            kind=Kind(r[3]),
            labels=json.loads(str(r[4])),
            created=float(r[5]),  # type: ignore[arg-type]
            updated=float(r[6]),  # type: ignore[arg-type]
            size=None if r[7] is None else int(r[7]),  # type: ignore[call-overload]
            inodes=None if r[8] is None else int(r[8]),  # type: ignore[call-overload]
        )

    _COLS = "id, key, parent_id, kind, labels, created, updated, size, inodes"

    def find(self, key: str) -> Row | None:
        return self._row(self.db.execute(f"SELECT {self._COLS} FROM snapshots WHERE key=?", (key,)).fetchone())

    def get(self, key: str) -> Row:
        row = self.find(key)
        if row is None:
            raise NotFound(f'snapshot "{key}": not found')
        return row

    def by_id(self, sid: int) -> Row:
        row = self._row(self.db.execute(f"SELECT {self._COLS} FROM snapshots WHERE id=?", (sid,)).fetchone())
        if row is None:
            raise NotFound(f"snapshot id {sid}: not found")
        return row

    def all(self) -> list[Row]:
        return [r for r in (self._row(x) for x in self.db.execute(f"SELECT {self._COLS} FROM snapshots ORDER BY id")) if r]

    def ids(self) -> set[int]:
        return {int(r[0]) for r in self.db.execute("SELECT id FROM snapshots")}

    def parents(self, row: Row) -> list[Row]:
        """Ancestors, nearest first (the overlay lowerdir order)."""
        out = []
        pid = row.parent_id
        while pid is not None:
            p = self.by_id(pid)
            out.append(p)
            pid = p.parent_id
        return out

    def has_children(self, row: Row) -> bool:
        return self.db.execute("SELECT 1 FROM snapshots WHERE parent_id=? LIMIT 1", (row.id,)).fetchone() is not None

    def create(self, key: str, parent: str, kind: Kind, labels: Mapping[str, str] | None) -> Row:
        if not key:
            raise InvalidArgument("snapshot key must not be empty")
        if self.find(key) is not None:
            raise AlreadyExists(f'snapshot "{key}": already exists')
        parent_id = None
        if parent:
            p = self.get(parent)
            if p.kind is not Kind.COMMITTED:
                raise FailedPrecondition(f'snapshot "{parent}": parent is not committed ({p.kind.value})')
            parent_id = p.id
        now = time.time()
        cur = self.db.execute(
            "INSERT INTO snapshots(key, parent_id, kind, labels, created, updated) VALUES(?,?,?,?,?,?)",
            (key, parent_id, kind.value, json.dumps(dict(labels or {}), sort_keys=True), now, now),
        )
        assert cur.lastrowid is not None
        return self.by_id(cur.lastrowid)

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None, size: int, inodes: int,
               parent: str | None = None) -> Row:
        """Freeze ``key`` as ``name``; with ``parent``, a parentless snapshot is put on ``parent`` (rebase)."""
        row = self.get(key)
        if not row.kind.can_commit():
            raise FailedPrecondition(f'snapshot "{key}": is {row.kind.value}, only active snapshots can be committed')
        if self.find(name) is not None:
            raise AlreadyExists(f'snapshot "{name}": already exists')
        parent_id = row.parent_id
        if parent:
            if row.parent_id is not None:
                raise FailedPrecondition(f'snapshot "{key}": only a parentless snapshot can be rebased')
            p = self.get(parent)
            if p.kind is not Kind.COMMITTED:
                raise FailedPrecondition(f'snapshot "{parent}": parent is not committed ({p.kind.value})')
            parent_id = p.id
        new_labels = dict(row.labels) if labels is None else dict(labels)
        self.db.execute(
            "UPDATE snapshots SET key=?, kind=?, labels=?, updated=?, size=?, inodes=?, parent_id=? WHERE id=?",
            (name, Kind.COMMITTED.value, json.dumps(new_labels, sort_keys=True), time.time(), size, inodes,
             parent_id, row.id),
        )
        return self.by_id(row.id)

    def set_labels(self, row: Row, labels: Mapping[str, str]) -> Row:
        self.db.execute(
            "UPDATE snapshots SET labels=?, updated=? WHERE id=?",
            (json.dumps(dict(labels), sort_keys=True), time.time(), row.id),
        )
        return self.by_id(row.id)

    def remove(self, key: str) -> Row:
        row = self.get(key)
        if self.has_children(row):
            raise FailedPrecondition(f'snapshot "{key}": cannot remove, it has children')
        self.db.execute("DELETE FROM snapshots WHERE id=?", (row.id,))
        return row

    def info(self, row: Row) -> SnapshotInfo:
        parent = self.by_id(row.parent_id).key if row.parent_id is not None else ""
        return SnapshotInfo(row.key, parent, row.kind, dict(row.labels), _ts(row.created), _ts(row.updated))


class MetaStore:
    """The SQLite database (WAL, busy timeout), one connection guarded by a lock."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        # synchronous NORMAL, as the other databases: FULL would fsync the WAL on every prepare,
        # commit and remove (a start, a build step), and under another process's writeback such
        # an fsync takes 100 ms; the snapshot directories it describes are not fsynced either.
        self._db = open_db(path, timeout=30.0, foreign_keys=True)
        self._db.executescript(_SCHEMA)
        self.reserve = SpaceReserve(path.with_name(path.name + ".reserve"))  # removals on a full disk

    @contextmanager
    def tx(self, write: bool = True) -> Iterator[Tx]:
        """One transaction; commits if the block succeeds, rolls back otherwise."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Tx(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error:  # a full disk: SQLite may or may not have rolled back already
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
