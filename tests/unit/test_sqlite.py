"""sqlite.open_db: the databases' files are 0600 (also when they existed before), the pragmas every store relies on."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dockyard.sqlite import open_db


def _mode(p: Path | str) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_sqlite_files_are_0600_new_and_old(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        (tmp_path / "old.db-wal").write_bytes(b"")  # left by an older daemon, 0644
        db = open_db(tmp_path / "old.db")
        db.execute("CREATE TABLE t (secret TEXT)")
        db.execute("INSERT INTO t VALUES ('DB_PASSWORD=x')")
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == ["old.db", "old.db-shm", "old.db-wal"]
        assert {n: _mode(tmp_path / n) for n in names} == {n: 0o600 for n in names}
        db.close()
    finally:
        os.umask(old_umask)


def test_pragmas_and_autocommit(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db", timeout=30.0, foreign_keys=True)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
        assert db.execute("PRAGMA busy_timeout").fetchone() == (30000,)
        assert db.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert db.isolation_level is None
    finally:
        db.close()
    db = open_db(tmp_path / "b.db", synchronous="FULL")
    try:
        assert db.execute("PRAGMA synchronous").fetchone() == (2,)
        assert db.execute("PRAGMA foreign_keys").fetchone() == (0,)
        assert db.execute("PRAGMA busy_timeout").fetchone() == (10000,)
    finally:
        db.close()
