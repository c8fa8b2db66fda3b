"""Repository metadata in SQLite (WAL): what the content store cannot say by itself.

Blobs live once in the shared content store; this database says which
repository may see which blob (``blob_links``), which manifests a repository
holds (with their media type, artifact type and subject, for the referrers
API), where its tags point, and which upload sessions are open (and when each
was last used, so idle ones expire, across restarts too). Deleting a
link or a manifest here is immediate; the bytes go at the next ``gc``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from dockyard.sqlite import open_db

_SCHEMA = """
CREATE TABLE IF NOT EXISTS repositories (name TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS blob_links (
  repo TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (repo, digest));
CREATE TABLE IF NOT EXISTS manifests (
  repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
  artifact_type TEXT, subject TEXT, annotations TEXT, refs TEXT NOT NULL DEFAULT '',
  created REAL NOT NULL, PRIMARY KEY (repo, digest));
CREATE INDEX IF NOT EXISTS manifests_subject ON manifests (repo, subject);
CREATE TABLE IF NOT EXISTS tags (
  repo TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (repo, tag));
CREATE TABLE IF NOT EXISTS uploads (
  id TEXT PRIMARY KEY, repo TEXT NOT NULL, started REAL NOT NULL, updated REAL);
"""


@dataclass(frozen=True)
class ManifestRow:
    repo: str
    digest: str
    media_type: str
    size: int
    artifact_type: str | None
    subject: str | None
    annotations: str | None
    refs: tuple[str, ...]


class Metadata:
    """A thin, synchronous wrapper; the server is one process and one event loop."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = open_db(self.path, timeout=30.0)
        self.db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Databases made before uploads had ``updated``: the column, set to the start time."""
        cols = {r[1] for r in self.db.execute("PRAGMA table_info(uploads)")}
        if "updated" not in cols:
            self.db.execute("ALTER TABLE uploads ADD COLUMN updated REAL")
            self.db.execute("UPDATE uploads SET updated = started")

    def close(self) -> None:
        self.db.close()

    # -- repositories and blob links ---------------------------------------------
    def ensure_repo(self, repo: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO repositories VALUES (?, ?)", (repo, time.time()))

    def repo_exists(self, repo: str) -> bool:
        return self.db.execute("SELECT 1 FROM repositories WHERE name=?", (repo,)).fetchone() is not None

    def repositories(self, n: int | None = None, last: str | None = None) -> list[str]:
        sql = "SELECT name FROM repositories"
        args: list[str | int] = []
        if last:
            sql += " WHERE name > ?"
            args.append(last)
        sql += " ORDER BY name"
        if n is not None:
            sql += " LIMIT ?"
            args.append(n)
        return [r[0] for r in self.db.execute(sql, args)]

    def link_blob(self, repo: str, digest: str) -> None:
        self.ensure_repo(repo)
        self.db.execute("INSERT OR IGNORE INTO blob_links VALUES (?, ?)", (repo, digest))

    def blob_linked(self, repo: str, digest: str) -> bool:
        return self.db.execute(
            "SELECT 1 FROM blob_links WHERE repo=? AND digest=?", (repo, digest)).fetchone() is not None

    def unlink_blob(self, repo: str, digest: str) -> bool:
        return self.db.execute("DELETE FROM blob_links WHERE repo=? AND digest=?", (repo, digest)).rowcount > 0

    def drop_links_to(self, digests: set[str]) -> None:
        self.db.executemany("DELETE FROM blob_links WHERE digest=?", [(d,) for d in digests])

    # -- manifests ---------------------------------------------------------------
    def put_manifest(self, row: ManifestRow) -> None:
        self.ensure_repo(row.repo)
        self.db.execute(
            "INSERT OR REPLACE INTO manifests VALUES (?,?,?,?,?,?,?,?,?)",
            (row.repo, row.digest, row.media_type, row.size, row.artifact_type, row.subject,
             row.annotations, " ".join(row.refs), time.time()),
        )
        self.db.execute("INSERT OR IGNORE INTO blob_links VALUES (?, ?)", (row.repo, row.digest))

    def _row(self, r: tuple) -> ManifestRow:
        return ManifestRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(r[7].split()) if r[7] else ())

    _COLS = "repo, digest, media_type, size, artifact_type, subject, annotations, refs"

    def manifest(self, repo: str, digest: str) -> ManifestRow | None:
        r = self.db.execute(f"SELECT {self._COLS} FROM manifests WHERE repo=? AND digest=?", (repo, digest)).fetchone()
        return self._row(r) if r else None

    def referrers(self, repo: str, subject: str) -> list[ManifestRow]:
        rows = self.db.execute(
            f"SELECT {self._COLS} FROM manifests WHERE repo=? AND subject=? ORDER BY created, digest", (repo, subject))
        return [self._row(r) for r in rows]

    def all_manifests(self) -> list[ManifestRow]:
        return [self._row(r) for r in self.db.execute(f"SELECT {self._COLS} FROM manifests")]

    def delete_manifest(self, repo: str, digest: str) -> bool:
        with self.db:
            gone = self.db.execute("DELETE FROM manifests WHERE repo=? AND digest=?", (repo, digest)).rowcount > 0
            self.db.execute("DELETE FROM tags WHERE repo=? AND digest=?", (repo, digest))
            self.db.execute("DELETE FROM blob_links WHERE repo=? AND digest=?", (repo, digest))
        return gone

    # -- tags --------------------------------------------------------------------
    def set_tag(self, repo: str, tag: str, digest: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO tags VALUES (?, ?, ?)", (repo, tag, digest))

    def resolve_tag(self, repo: str, tag: str) -> str | None:
        r = self.db.execute("SELECT digest FROM tags WHERE repo=? AND tag=?", (repo, tag)).fetchone()
        return r[0] if r else None

    def delete_tag(self, repo: str, tag: str) -> bool:
        return self.db.execute("DELETE FROM tags WHERE repo=? AND tag=?", (repo, tag)).rowcount > 0

    def tags(self, repo: str, n: int | None = None, last: str | None = None) -> list[str]:
        sql = "SELECT tag FROM tags WHERE repo=?"
        args: list[str | int] = [repo]
        if last:
            sql += " AND tag > ?"
            args.append(last)
        sql += " ORDER BY tag"
        if n is not None:
            sql += " LIMIT ?"
            args.append(n)
        return [r[0] for r in self.db.execute(sql, args)]

    # -- uploads -----------------------------------------------------------------
    def new_upload(self, upload_id: str, repo: str) -> None:
        self.ensure_repo(repo)
        now = time.time()
        self.db.execute("INSERT INTO uploads VALUES (?, ?, ?, ?)", (upload_id, repo, now, now))

    def upload(self, upload_id: str) -> tuple[str, float] | None:
        """The session's repository and when it was last used."""
        r = self.db.execute("SELECT repo, updated FROM uploads WHERE id=?", (upload_id,)).fetchone()
        return (r[0], r[1]) if r else None

    def touch_upload(self, upload_id: str) -> None:
        self.db.execute("UPDATE uploads SET updated=? WHERE id=?", (time.time(), upload_id))

    def uploads_idle_since(self, cutoff: float) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM uploads WHERE updated < ?", (cutoff,))]

    def end_upload(self, upload_id: str) -> None:
        self.db.execute("DELETE FROM uploads WHERE id=?", (upload_id,))

    def uploads_older_than(self, cutoff: float) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM uploads WHERE started < ?", (cutoff,))]
