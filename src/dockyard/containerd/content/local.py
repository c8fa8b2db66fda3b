"""LocalContentStore: blobs on the local filesystem, as containerd lays them out.

Layout under ``root``::

    blobs/sha256/<hex>              committed, verified, immutable blobs (blobs/sha512/<hex> too)
    ingest/<sha256(ref)>/data       bytes received so far
    ingest/<sha256(ref)>/ref        the ref, in clear (the dir name is a hash so any ref is a safe name)
    ingest/<sha256(ref)>/startedat  / updatedat / total
    labels.db                       label sidecar (see labels.py)

A blob is published with ``link(2)`` from the ingest file: the link is atomic
and fails if the blob is already there, so readers never see a partial blob and
concurrent commits of one digest resolve to exactly one winner.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import itertools
import logging
import os
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from dockyard.containerd.content.labels import LabelDB
from dockyard.containerd.content.store import ContentInfo, IngestStatus, commit_idempotent
from dockyard.errors import (
    AlreadyExists,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from dockyard.oci.digest import ALGORITHM, Digest, Digester, algorithm_of, validate

log = logging.getLogger("dockyard.containerd.content")

_CHUNK = 1 << 20


class ContentStoreError(Internal):
    """An OS-level failure in the content store, naming the path and operation."""


class _IngestGone(Exception):
    """The ingest directory was committed and dropped while a writer was opening it: open anew."""


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_small(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class LocalWriter:
    """A ContentWriter over ``ingest/<hash>/data``; holds an exclusive flock on it."""

    def __init__(self, store: LocalContentStore, ref: str, ingest_dir: Path, total: int | None, expected: str | None,
                 resume: Digester | None = None) -> None:
        self.ref = ref
        self._store = store
        self._dir = ingest_dir
        self._expected = expected
        self._total = total
        self._closed = False
        data = ingest_dir / "data"
        try:
            self._fd = os.open(data, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            raise _IngestGone from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            os.close(self._fd)
            raise Unavailable(f'ref "{ref}": locked by another writer') from err
        if not _same_file(self._fd, data):  # the holder before us committed and dropped it
            os.close(self._fd)
            raise _IngestGone
        size = os.fstat(self._fd).st_size
        if resume is not None and resume.size == size:
            self._digester = resume
            os.lseek(self._fd, size, os.SEEK_SET)
        else:
            self._rehash(size)
        if total is not None:
            _write_small(ingest_dir / "total", str(total))
        elif (ingest_dir / "total").exists():
            self._total = int((ingest_dir / "total").read_text() or 0)

    def _rehash(self, size: int) -> None:
        """Recompute the running digest from what is on disk (resume after a crash)."""
        self._digester = Digester()
        os.lseek(self._fd, 0, os.SEEK_SET)
        remaining = size
        while remaining > 0:
            chunk = os.read(self._fd, min(_CHUNK, remaining))
            if not chunk:
                break
            self._digester.update(chunk)
            remaining -= len(chunk)
        os.ftruncate(self._fd, self._digester.size)
        os.lseek(self._fd, self._digester.size, os.SEEK_SET)

    def _check_open(self) -> None:
        if self._closed:
            raise FailedPrecondition(f'ref "{self.ref}": writer is closed')

    @property
    def offset(self) -> int:
        return self._digester.size

    @property
    def digester(self) -> Digester:
        """The running digest of the bytes written: pass it as ``resume`` to reopen without re-reading."""
        return self._digester

    @property
    def data_path(self) -> str:
        """The ingest file, for a reader that follows the download (remotes/tail.py)."""
        return str(self._dir / "data")

    def write(self, data: bytes) -> int:
        self._check_open()
        view = memoryview(data)
        written = 0
        while written < len(view):
            written += os.write(self._fd, view[written:])
        self._digester.update(view)
        return written

    def digest(self) -> str:
        return self._digester.digest()

    def _digest_as(self, algorithm: str) -> str:
        """The running digest, or for another algorithm (sha512) the ingest read again."""
        if algorithm == self._digester.algorithm:
            return self._digester.digest()
        other = Digester(algorithm)
        while other.size < self.offset:
            chunk = os.pread(self._fd, min(_CHUNK, self.offset - other.size), other.size)
            if not chunk:
                raise ContentStoreError(f'ref "{self.ref}": ingest shorter than its {self.offset} bytes')
            other.update(chunk)
        return other.digest()

    def truncate(self, size: int) -> None:
        """Cut the ingest back to ``size`` bytes (0 restarts it), re-hashing the rest."""
        self._check_open()
        if size < 0 or size > self.offset:
            raise InvalidArgument(f'ref "{self.ref}": cannot truncate to {size} (offset {self.offset})')
        os.ftruncate(self._fd, size)
        self._rehash(size)

    def status(self) -> IngestStatus:
        return self._store.status(self.ref)

    def commit(self, size: int | None = None, expected: str | None = None, labels: Mapping[str, str] | None = None) -> str:
        """Verify size and digest, fsync, publish atomically; the ingest is gone afterwards.

        Raises FailedPrecondition on a mismatch (the ingest stays, so the
        caller can inspect or abort it) and AlreadyExists if the blob exists.
        """
        self._check_open()
        expected = expected or self._expected
        if expected is not None:
            validate(expected)
        got_size = self.offset
        if size is None and self._total is not None:
            size = self._total
        if size is not None and size > 0 and got_size != size:
            raise FailedPrecondition(f'ref "{self.ref}": unexpected commit size {got_size}, expected {size}')
        digest = self._digest_as(algorithm_of(expected) if expected is not None else ALGORITHM)
        if expected is not None and digest != expected:
            raise FailedPrecondition(f'ref "{self.ref}": unexpected commit digest {digest}, expected {expected}')
        try:
            os.fsync(self._fd)
        except OSError as err:
            raise ContentStoreError(f'ref "{self.ref}": fsync: {err}') from err
        target = self._store._blob_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = self._dir / "data"
        try:
            os.link(data, target)
        except FileExistsError:
            self._finish()
            raise AlreadyExists(f"content {digest}: already exists") from None
        except OSError as err:
            raise ContentStoreError(f'ref "{self.ref}": publish {target}: {err}') from err
        os.chmod(target, 0o444)
        _fsync_dir(target.parent)
        self._finish()
        if labels:
            self._store._labels.set(digest, labels)
        return digest

    def _finish(self) -> None:
        """Drop the ingest after a commit (its data now lives, or lived, in blobs/), still holding
        its lock, so the next writer of the ref sees it gone (``_same_file``), never half-dropped."""
        _drop_dir(self._dir)
        self.close()

    def close(self) -> None:
        """Release the writer; the ingest stays on disk and can be resumed."""
        if self._closed:
            return
        self._closed = True
        os.close(self._fd)

    def abort(self) -> None:
        """Delete the ingest and close (in that order, as ``_finish``)."""
        if not self._closed:
            _drop_dir(self._dir)
        self.close()

    def __enter__(self) -> LocalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_drops = itertools.count()


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _drop_dir(d: Path) -> None:
    """Remove an ingest atomically: renamed out of the ingest names first, so a crash in the middle
    never leaves a directory under its ref's name without its ``ref`` file."""
    trash = d.with_name(f"{d.name}.tmp-drop-{os.getpid()}-{next(_drops)}")
    try:
        os.rename(d, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


class LocalContentStore:
    """A ContentStore on a local directory (see module docstring for the layout)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "ingest").mkdir(parents=True, exist_ok=True)
        for stale in (self.root / "ingest").glob("*.tmp-*"):  # a creation or removal a crash cut short
            shutil.rmtree(stale, ignore_errors=True)
        self._labels = LabelDB(self.root / "labels.db")
        self._publishing: dict[str, threading.Event] = {}  # digest -> set once commit_behind is done
        self._publishing_lock = threading.Lock()

    def close(self) -> None:
        for event in list(self._publishing.values()):
            event.wait()
        self._labels.close()

    def commit_behind(self, writer: LocalWriter, size: int, digest: str, labels: Mapping[str, str]) -> None:
        """Publish a fully written ingest from a thread: fsync, link under ``digest``, labels.

        The caller goes on at once: under another process's writeback an fsync can take
        100 ms, and a build waits for none of its layers until its image names them. Until
        the blob is published, reading it, its info or its deletion wait for it; ``walk``
        does not list it. A crash before it is published leaves the ingest (as any
        interrupted write), never a partial blob: whoever names the blob in a record must
        first see it (``info``)."""
        with self._publishing_lock:
            if digest in self._publishing:
                event = None  # the same bytes are being published already
            else:
                event = self._publishing[digest] = threading.Event()

        def publish() -> None:
            try:
                commit_idempotent(writer, size, digest, labels)
            except Exception as err:  # noqa: BLE001 - the blob stays unpublished; readers get NotFound
                log.warning("content %s: publishing failed: %s", digest, err)
                writer.abort()
            finally:
                writer.close()
                if event is not None:
                    with self._publishing_lock:
                        del self._publishing[digest]
                    event.set()

        threading.Thread(target=publish, name="dockyard-content-publish", daemon=True).start()

    def _settled(self, digest: str) -> None:
        event = self._publishing.get(digest)
        if event is not None:
            event.wait()

    # -- paths ---------------------------------------------------------------
    def _blob_path(self, digest: str) -> Path:
        d = Digest.parse(digest)
        return self.root / "blobs" / d.algorithm / d.hex

    def _ingest_dir(self, ref: str) -> Path:
        if not ref:
            raise InvalidArgument("ingest ref must not be empty")
        return self.root / "ingest" / hashlib.sha256(ref.encode()).hexdigest()

    # -- ingester ------------------------------------------------------------
    def writer(self, ref: str, total: int | None = None, expected: str | None = None,
               resume: Digester | None = None) -> LocalWriter:
        """Open (or resume) the ingest ``ref``.

        Raises AlreadyExists when ``expected`` is already committed, so callers
        skip downloads they do not need. ``resume`` is the writer's ``digester``
        kept from an earlier open: if it still covers the whole ingest, the bytes
        are not read again.
        """
        d = self._ingest_dir(ref)
        while True:  # a writer that committed the ref just before us dropped its ingest: open anew
            if expected is not None and self._blob_path(expected).exists():
                raise AlreadyExists(f"content {expected}: already exists")
            self._ensure_ingest(d, ref)
            try:
                return LocalWriter(self, ref, d, total, expected, resume)
            except _IngestGone:
                resume = None

    def _ensure_ingest(self, d: Path, ref: str) -> None:
        """Make the ingest directory of ``ref`` if missing, whole (its ``ref`` file in it) or not at all:
        it is made under a name of its own and renamed into place; whoever loses that race uses the winner's."""
        try:
            stored: str | None = (d / "ref").read_text()
        except FileNotFoundError:
            stored = None
        if stored is None and d.exists() and not (d / "ref").exists():
            _drop_dir(d)  # torn by a crash of a store that removed ingests in place
        if stored is None:
            tmp = d.with_name(f"{d.name}.tmp-{os.getpid()}-{next(_drops)}")
            tmp.mkdir(parents=True)
            now = repr(datetime.now(UTC).timestamp())
            (tmp / "ref").write_text(ref)
            (tmp / "startedat").write_text(now)
            (tmp / "updatedat").write_text(now)
            try:
                os.rename(tmp, d)
            except OSError as err:
                shutil.rmtree(tmp, ignore_errors=True)
                if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise ContentStoreError(f'ref "{ref}": create ingest {d}: {err}') from err
            stored = ref
        if stored != ref:
            raise Internal(f'ref "{ref}": ingest hash collision at {d}')

    def status(self, ref: str) -> IngestStatus:
        d = self._ingest_dir(ref)
        return self._status_of(d, ref)

    def _status_of(self, d: Path, ref: str | None = None) -> IngestStatus:
        try:
            stored_ref = (d / "ref").read_text()
            started = float((d / "startedat").read_text())
            try:
                st = os.stat(d / "data")
                offset, updated = st.st_size, st.st_mtime
            except FileNotFoundError:
                offset, updated = 0, started
            total_file = d / "total"
            total = int(total_file.read_text()) if total_file.exists() else None
        except FileNotFoundError:
            raise NotFound(f'ingest "{ref if ref is not None else d.name}": not found') from None
        return IngestStatus(ref=stored_ref, offset=offset, total=total, started_at=_ts(started), updated_at=_ts(updated))

    def list_ingests(self) -> list[IngestStatus]:
        out = []
        for d in sorted((self.root / "ingest").iterdir()):
            if ".tmp-" in d.name:
                continue
            try:
                out.append(self._status_of(d))
            except NotFound:
                continue
        return out

    def abort(self, ref: str) -> None:
        d = self._ingest_dir(ref)
        if not d.exists():
            raise NotFound(f'ingest "{ref}": not found')
        _drop_dir(d)

    # -- provider ------------------------------------------------------------
    def open(self, digest: str) -> BinaryIO:
        self._settled(digest)
        try:
            return open(self._blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def read_all(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def exists(self, digest: str) -> bool:
        self._settled(digest)
        return self._blob_path(digest).exists()

    # -- manager -------------------------------------------------------------
    def info(self, digest: str) -> ContentInfo:
        self._settled(digest)
        try:
            st = os.stat(self._blob_path(digest))
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None
        labels, updated = self._labels.get(digest)
        return ContentInfo(
            digest=digest,
            size=st.st_size,
            created_at=_ts(st.st_mtime),
            updated_at=_ts(updated if updated is not None else st.st_mtime),
            labels=labels,
        )

    def update(self, digest: str, labels: Mapping[str, str], fieldpaths: Sequence[str] | None = None) -> ContentInfo:
        """Change labels. No fieldpaths (or "labels") replaces the map; "labels.<k>" sets or,
        with an empty/missing value, deletes one key (containerd's semantics)."""
        current = self.info(digest).labels
        if not fieldpaths or "labels" in fieldpaths:
            new = {k: v for k, v in labels.items() if v}
        else:
            new = dict(current)
            for path in fieldpaths:
                if not path.startswith("labels."):
                    raise InvalidArgument(f'content {digest}: cannot update field "{path}"')
                key = path[len("labels."):]
                value = labels.get(key, "")
                if value:
                    new[key] = value
                else:
                    new.pop(key, None)
        self._labels.set(digest, new)
        return self.info(digest)

    def walk(self, filters: Sequence[str] = ()) -> Iterator[ContentInfo]:
        """All blobs, optionally matching any of ``filters`` (see ``match_filter``)."""
        entries = [(alg.name, e) for alg in sorted((self.root / "blobs").iterdir(), key=lambda p: p.name)
                   if alg.is_dir() for e in sorted(os.scandir(alg), key=lambda e: e.name)]
        for algorithm, entry in entries:
            if not entry.is_file(follow_symlinks=False):
                continue
            digest = f"{algorithm}:{entry.name}"
            try:
                info = self.info(digest)
            except (NotFound, InvalidArgument):
                continue
            if not filters or any(match_filter(info, f) for f in filters):
                yield info

    def delete(self, digest: str) -> None:
        self._settled(digest)
        try:
            os.unlink(self._blob_path(digest))
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None
        self._labels.delete(digest)


def match_filter(info: ContentInfo, expr: str) -> bool:
    """A small subset of containerd's filter syntax: comma-separated AND of
    ``field``, ``field==value``, ``field!=value`` with field ``digest``, ``size``
    or ``labels.<key>`` (the key may be double-quoted)."""
    for clause in (c.strip() for c in expr.split(",")):
        if not clause:
            continue
        op = "==" if "==" in clause else "!=" if "!=" in clause else ""
        field_name, value = (clause.split(op, 1) if op else (clause, ""))
        field_name = field_name.strip()
        value = value.strip().strip('"')
        actual: str | None
        if field_name == "digest":
            actual = info.digest
        elif field_name == "size":
            actual = str(info.size)
        elif field_name.startswith("labels."):
            actual = info.labels.get(field_name[len("labels."):].strip('"'))
        else:
            raise InvalidArgument(f'content filter "{expr}": unknown field "{field_name}"')
        if op == "":
            ok = actual is not None
        elif op == "==":
            ok = actual == value
        else:
            ok = actual != value
        if not ok:
            return False
    return True
