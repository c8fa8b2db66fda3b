"""A full disk is known by its kind where it arises (SQLite's result code, ENOSPC, or
``errors.ResourceExhausted`` once it has crossed gRPC), never by reading an error's message."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import grpc
import pytest

from dockyard import errors
from dockyard.containerd.client import translate
from dockyard.containerd.services.base import status_of
from dockyard.diskfull import caused_by_full_disk, is_full


def test_sqlite_knows_a_full_database_by_its_result_code(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "t.db")
    db.execute("CREATE TABLE t (v BLOB)")
    db.execute("PRAGMA max_page_count = 4")  # a quota the database hits: SQLITE_FULL
    with pytest.raises(sqlite3.Error) as info:
        for _ in range(100):
            db.execute("INSERT INTO t VALUES (?)", (b"x" * 4096,))
    db.close()
    assert is_full(info.value)
    assert not is_full(sqlite3.OperationalError("database or disk is full"))  # words alone: no code


def test_message_text_alone_is_not_a_full_disk() -> None:
    assert not caused_by_full_disk(errors.Internal("write: [Errno 28] No space left on device"))
    assert not caused_by_full_disk(errors.InvalidArgument("disk is full"))


def test_the_kind_is_found_through_causes_and_across_grpc() -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as err:
            raise errors.Internal("layer: could not write") from err
    except errors.Internal as wrapped:
        assert caused_by_full_disk(wrapped)
    assert is_full(errors.ResourceExhausted("x")) and is_full(OSError(errno.EDQUOT, "quota"))
    assert status_of(errors.ResourceExhausted("full")) == grpc.StatusCode.RESOURCE_EXHAUSTED
    wire = grpc.aio.AioRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.aio.Metadata(), grpc.aio.Metadata(),
                                "write: [Errno 28] No space left on device")
    back = translate(wire)
    assert isinstance(back, errors.ResourceExhausted) and caused_by_full_disk(back)
    assert errors.from_kind("resource_exhausted", "full").kind == "resource_exhausted"  # the shim's JSON too
