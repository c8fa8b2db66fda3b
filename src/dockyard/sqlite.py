"""The one way a daemon opens its SQLite databases.

Every store (engine containers, networks, containerd metadata, snapshots, content labels,
build cache, registry) holds one connection shared by its threads under its own lock, in
autocommit mode (``isolation_level=None``: transactions are explicit ``BEGIN``s), WAL.
``synchronous=NORMAL`` is the default: in WAL mode a commit is then atomic and survives a
kill -9, and only a power loss can lose the last ones; FULL would fsync the WAL at every
commit. ``timeout`` is SQLite's busy timeout (what ``PRAGMA busy_timeout`` sets).
A store's space reserve for deletions on a full disk is ``diskfull.SpaceReserve``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from dockyard.fsmode import PRIVATE_FILE

_SIDECARS = ("-wal", "-shm", "-journal")


def open_db(path: Path, *, timeout: float = 10.0, synchronous: str = "NORMAL",
            foreign_keys: bool = False) -> sqlite3.Connection:
    """Open (creating it 0600) the database at ``path`` with the pragmas every store uses."""
    db = sqlite3.connect(private_sqlite(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    if foreign_keys:
        db.execute("PRAGMA foreign_keys=ON")
    return db


def private_sqlite(path: Path) -> Path:
    """Create the database file 0600 before SQLite opens it: SQLite gives its -wal, -shm and
    -journal files the database's mode. Files left by an older daemon are chmod'ed."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE))
    for p in (str(path), *(str(path) + s for s in _SIDECARS)):
        try:
            os.chmod(p, PRIVATE_FILE)
        except FileNotFoundError:
            pass
    return path
