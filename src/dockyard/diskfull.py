"""Deleting on a full disk: a space reserve beside each SQLite database.

SQLite needs free space to commit anything, a DELETE included (WAL frames, or a rollback
journal): on a full disk ``rm``, ``rmi`` and ``prune`` would fail with "database or disk is
full", and the space could never be reclaimed through the API. Each store keeps a reserve
file of a few MiB next to its database (``<db>.reserve``, allocated, not sparse); when a
deletion finds the disk full, the reserve is given back and the deletion retried. The
reserve is made again once a later write finds room (``ensure``), never at the cost of the
write itself.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from dockyard import errors

log = logging.getLogger("dockyard.diskfull")

RESERVE = 4 << 20
T = TypeVar("T")


def is_full(err: BaseException) -> bool:
    """Whether ``err`` is a full disk (or the database's quota), by its kind: SQLite's result code,
    the errno, or ``errors.ResourceExhausted`` (the kind a full disk crosses processes as)."""
    if isinstance(err, sqlite3.Error):
        return getattr(err, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL  # extended codes keep it low
    if isinstance(err, errors.ResourceExhausted):
        return True
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)


def caused_by_full_disk(err: BaseException) -> bool:
    """Whether ``err``, or an error it was raised from or while handling, is a full disk."""
    seen: set[int] = set()
    cur: BaseException | None = err
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if is_full(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


class SpaceReserve:
    """An allocated file of ``size`` bytes, released when the disk fills up (see the module)."""

    def __init__(self, path: Path, size: int = RESERVE) -> None:
        self.path = path
        self.size = size
        self._lock = threading.Lock()
        self._present = False
        self.ensure()

    def ensure(self) -> bool:
        """Make the reserve if it is missing and the disk has room; whether it is there. Cheap
        when it is (no system call): call it after every successful write."""
        if self._present:
            return True
        with self._lock:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            except OSError:
                return False
            try:
                os.posix_fallocate(fd, 0, self.size)
                self._present = True
            except OSError as err:  # no room yet: no reserve rather than a partial one
                if not is_full(err) and err.errno != errno.EOPNOTSUPP:
                    log.warning("space reserve %s: %s", self.path, err)
                os.unlink(self.path)
            finally:
                os.close(fd)
            return self._present

    def release(self) -> bool:
        """Give the reserve's space back; whether there was one to give."""
        with self._lock:
            self._present = False
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                return False
        log.warning("disk full: released the space reserve %s so a deletion can commit", self.path)
        return True

    def deleting(self, fn: Callable[[], T]) -> T:
        """Run the deletion ``fn``; on a full disk, release the reserve and run it again."""
        try:
            return fn()
        except (sqlite3.Error, OSError) as err:
            if not is_full(err) or not self.release():
                raise
        return fn()
