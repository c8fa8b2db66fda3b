"""LocalContentStore.commit_behind: a blob written by a layer import is published by a thread;
whoever reads it meanwhile waits, and a failed publication leaves no blob."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.containerd.content import LocalContentStore
from dockyard.containerd.diff import write_layer


def test_a_layer_written_behind_is_readable_once_published(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    data = b"layer bytes " * 1000
    desc, diff_id = write_layer(io.BytesIO(data), store, "none", behind=True)
    assert desc.digest == diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    # info, open and exists wait for the publication instead of answering NotFound
    assert store.info(desc.digest).size == len(data)
    with store.open(desc.digest) as f:
        assert f.read() == data
    assert store.exists(desc.digest)
    assert store.info(desc.digest).labels["containerd.io/uncompressed"] == diff_id
    assert store.list_ingests() == []  # the ingest became the blob


def test_readers_wait_for_a_slow_publication(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalContentStore(tmp_path)
    release = threading.Event()
    import dockyard.containerd.content.local as local

    real = local.commit_idempotent

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        release.wait(5)
        return real(*args, **kwargs)

    monkeypatch.setattr(local, "commit_idempotent", slow)
    desc, _ = write_layer(io.BytesIO(b"x" * 4096), store, "none", behind=True)
    got: list[int] = []
    reader = threading.Thread(target=lambda: got.append(store.info(desc.digest).size))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive() and got == []  # still waiting: the blob is not published yet
    release.set()
    reader.join(5)
    assert got == [4096]


def test_a_failed_publication_leaves_no_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalContentStore(tmp_path)
    import dockyard.containerd.content.local as local

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise errors.Internal("disk on fire")

    monkeypatch.setattr(local, "commit_idempotent", broken)
    desc, _ = write_layer(io.BytesIO(b"y" * 100), store, "none", behind=True)
    with pytest.raises(errors.NotFound):
        store.info(desc.digest)
    assert not store.exists(desc.digest)
    store.close()  # nothing left to wait for
