"""The content store interface (containerd's Provider/Ingester/Manager).

A blob is addressed only by its digest and becomes visible only once it is whole
and verified; writers stream into a named *ingest* (``ref``) that survives a
crash and can be resumed, which is what makes interrupted pulls restartable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable

from dockyard.errors import AlreadyExists, FailedPrecondition, Unavailable
from dockyard.oci.digest import sha256_digest


@dataclass(frozen=True)
class ContentInfo:
    """What the store knows about one committed blob."""

    digest: str
    size: int
    created_at: datetime
    updated_at: datetime
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestStatus:
    """Progress of one in-flight ingest (containerd's content.Status)."""

    ref: str
    offset: int
    total: int | None
    started_at: datetime
    updated_at: datetime
    expected: str | None = None


@runtime_checkable
class ContentWriter(Protocol):
    """A writer into one ingest; ``commit`` verifies and publishes the blob."""

    ref: str

    @property
    def offset(self) -> int: ...

    def write(self, data: bytes) -> int: ...

    def digest(self) -> str: ...

    def truncate(self, size: int) -> None: ...

    def status(self) -> IngestStatus: ...

    def commit(self, size: int | None = None, expected: str | None = None, labels: Mapping[str, str] | None = None) -> str: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


@runtime_checkable
class ContentStore(Protocol):
    """Provider + Ingester + Manager + IngestManager in one role."""

    def writer(self, ref: str, total: int | None = None, expected: str | None = None) -> ContentWriter: ...

    def open(self, digest: str) -> BinaryIO: ...

    def read_all(self, digest: str) -> bytes: ...

    def exists(self, digest: str) -> bool: ...

    def info(self, digest: str) -> ContentInfo: ...

    def update(self, digest: str, labels: Mapping[str, str], fieldpaths: Sequence[str] | None = None) -> ContentInfo: ...

    def walk(self, filters: Sequence[str] = ()) -> Iterator[ContentInfo]: ...

    def delete(self, digest: str) -> None: ...

    def status(self, ref: str) -> IngestStatus: ...

    def list_ingests(self) -> list[IngestStatus]: ...

    def abort(self, ref: str) -> None: ...


def commit_idempotent(
    writer: ContentWriter,
    size: int | None = None,
    expected: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """Commit, treating "blob already exists" as success (it is the same bytes).

    Two pulls of a shared layer race to commit the same digest; the loser must
    not fail. Returns the committed digest.
    """
    try:
        return writer.commit(size, expected, labels)
    except AlreadyExists:
        if expected is not None:
            return expected
        return writer.digest()


WRITER_WAIT = 60.0  # seconds a writer waits for another that holds its ref (and makes no progress)


def open_writer(store: ContentStore, ref: str, total: int | None = None, expected: str | None = None,
                timeout: float = WRITER_WAIT) -> ContentWriter:
    """``store.writer``, waiting while another writer holds ``ref`` (containerd's OpenWriter).

    Two pushes of one image write the same manifest, two pulls the same config, under one ref:
    the second waits for the first and then gets AlreadyExists (``expected`` committed) or the
    ingest the first left. Raises Unavailable if the ref is still held after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            return store.writer(ref, total, expected)
        except Unavailable:
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def write_blob(
    store: ContentStore,
    data: bytes,
    expected: str | None = None,
    labels: Mapping[str, str] | None = None,
    ref: str | None = None,
) -> str:
    """Store an in-memory blob and return its digest (idempotent)."""
    digest = sha256_digest(data)
    if expected is not None and expected != digest:
        raise FailedPrecondition(f'blob: unexpected digest "{digest}", expected "{expected}"')
    try:
        writer = open_writer(store, ref or f"write-blob-{digest}", len(data), digest)
    except AlreadyExists:
        if labels:
            store.update(digest, labels, [f"labels.{k}" for k in labels])
        return digest
    try:
        if writer.offset:
            writer.truncate(0)
        writer.write(data)
        commit_idempotent(writer, len(data), digest, labels)
    finally:
        writer.close()
    if labels:
        store.update(digest, labels, [f"labels.{k}" for k in labels])
    return digest
