"""The engine's own records: Docker's view of containers, in SQLite.

containerd keeps what it needs to run a container (spec, snapshot key); the
engine keeps what Docker users see (name, Config, HostConfig, State): a
``Container`` (``engine/container.py``) stored as its JSON, Docker's inspect
shape, which is also what the engine stored before the records were typed, so
old rows load as they are. One row per container, one transaction per change,
so kill -9 keeps every record whole.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from pathlib import Path

from dockyard import errors
from dockyard.diskfull import SpaceReserve, is_full
from dockyard.engine import names
from dockyard.engine.container import Container
from dockyard.sqlite import open_db

log = logging.getLogger("dockyard.engine.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL          -- the container record, JSON
);
"""


class ContainerStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # synchronous NORMAL: FULL would fsync the WAL at every create, start, exit and removal
        # (0.3 ms each idle, far more under writeback)
        self._db = open_db(path, timeout=10.0)
        self._lock = threading.Lock()
        self._db.executescript(SCHEMA)
        # updates (a container's exit) and deletions must commit on a full disk: see diskfull
        self._reserve = SpaceReserve(path.with_name(path.name + ".reserve"))

    def close(self) -> None:
        self._db.close()

    def insert(self, c: Container) -> None:
        id, name = c.id, c.short_name
        with self._lock:
            try:
                self._db.execute("INSERT INTO containers VALUES (?,?,?)", (id, name, json.dumps(c.to_json())))
            except sqlite3.IntegrityError as err:
                row = self._db.execute("SELECT id FROM containers WHERE name=?", (name,)).fetchone()
                if row:
                    raise names.in_use(name, row[0]) from err
                raise errors.AlreadyExists(f"container {id}: already exists") from err
        self._reserve.ensure()

    def update(self, c: Container) -> None:
        """Save a changed record. On a disk full beyond the reserve the change stays in memory
        only (logged; the next update writes it), so an exit is still seen and rm still works."""
        id, name, doc = c.id, c.short_name, json.dumps(c.to_json())
        with self._lock:
            try:
                self._reserve.deleting(
                    lambda: self._db.execute("UPDATE containers SET name=?, data=? WHERE id=?", (name, doc, id)))
            except sqlite3.OperationalError as err:
                if not is_full(err):
                    raise
                log.error("container %s: its record was not saved: %s", id[:12], err)
                return
        self._reserve.ensure()

    def delete(self, id: str) -> None:
        with self._lock:
            self._reserve.deleting(lambda: self._db.execute("DELETE FROM containers WHERE id=?", (id,)))
        self._reserve.ensure()

    def all(self) -> list[Container]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM containers ORDER BY rowid").fetchall()
        return [Container(json.loads(r[0])) for r in rows]
