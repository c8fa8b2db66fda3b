"""Many writers of one ingest ref at once (two pushes of one image write the same gzip manifest,
two pulls the same config): each gets the blob or waits for the one writing it; none fails on a
half-made ingest directory (``FileNotFoundError .../ingest/<hash>.tmp-.../ref``) and no ingest
is left."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from dockyard.containerd.content import LocalContentStore
from dockyard.containerd.content.store import open_writer, write_blob
from dockyard.errors import AlreadyExists, Unavailable

THREADS = 16
ROUNDS = 30


def _run_all(target: object, n: int) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def run() -> None:
        start.wait()
        try:
            target()  # type: ignore[operator]
        except BaseException as err:  # noqa: BLE001 - collected and asserted on below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_concurrent_write_blob_of_one_digest_all_succeed(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    try:
        for i in range(ROUNDS):
            data = f"manifest {i} ".encode() * 2000
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            errors = _run_all(lambda data=data: write_blob(store, data, labels={"k": "v"}), THREADS)
            assert errors == []
            assert store.read_all(digest) == data
            assert store.info(digest).labels["k"] == "v"
        assert os.listdir(tmp_path / "ingest") == []
    finally:
        store.close()


def test_a_second_writer_of_a_ref_in_use_waits_for_the_first(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    data = b"x" * 4096
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    try:
        first = store.writer("shared", len(data), digest)
        with pytest.raises(Unavailable):
            store.writer("shared", len(data), digest)
        got: list[BaseException] = []

        def second() -> None:
            try:
                open_writer(store, "shared", len(data), digest, timeout=20).close()
            except BaseException as err:  # noqa: BLE001 - asserted below
                got.append(err)

        t = threading.Thread(target=second)
        t.start()
        first.write(data)
        first.commit(len(data), digest)
        t.join(30)
        assert len(got) == 1 and isinstance(got[0], AlreadyExists)  # it waited, then found the blob
        assert os.listdir(tmp_path / "ingest") == []
    finally:
        store.close()


def test_a_writer_that_waited_never_writes_into_a_dropped_ingest(tmp_path: Path) -> None:
    """The writer that commits drops its ingest before it lets go of the lock: whoever gets the
    lock next sees a live ingest or opens a new one, never the one moved away."""
    store = LocalContentStore(tmp_path)
    try:
        for i in range(ROUNDS):
            data = f"layer {i}".encode() * 5000
            digest = "sha256:" + hashlib.sha256(data).hexdigest()

            def write(data: bytes = data, digest: str = digest) -> None:
                try:
                    w = open_writer(store, "same-ref", len(data), None, timeout=20)
                except AlreadyExists:
                    return
                try:
                    w.truncate(0)
                    w.write(data)
                    try:
                        w.commit(len(data), digest)
                    except AlreadyExists:
                        pass
                finally:
                    w.close()

            assert _run_all(write, THREADS) == []
            assert store.read_all(digest) == data
        assert os.listdir(tmp_path / "ingest") == []
    finally:
        store.close()
