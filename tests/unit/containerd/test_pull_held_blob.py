"""A pull that finds another pull writing the same blob waits for it while that ingest grows,
and gives up (Unavailable) once it stops growing for ``WRITER_WAIT`` seconds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from dockyard import errors
from dockyard.containerd.content.store import IngestStatus
from dockyard.containerd.remotes import pull
from dockyard.containerd.remotes.tail import Tail
from dockyard.types import Descriptor


class HeldStore:
    """Every ``writer`` finds the ref held; the holder's ingest grows ``grows`` times, then stalls."""

    def __init__(self, grows: int) -> None:
        self.grows, self.offset, self.looks = grows, 0, 0

    def exists(self, digest: str) -> bool:
        return False

    def writer(self, ref: str, total: int | None = None, expected: str | None = None) -> Any:
        raise errors.Unavailable(f"ref {ref} is locked")

    def status(self, ref: str) -> IngestStatus:
        self.looks += 1
        if self.looks <= self.grows:
            self.offset += 1
        now = datetime.now(UTC)
        return IngestStatus(ref=ref, offset=self.offset, total=None, started_at=now, updated_at=now)


def _fetch(store: HeldStore) -> None:
    desc = Descriptor(media_type="application/octet-stream", digest="sha256:" + "0" * 64, size=10)
    fetch = pull._fetch_blob(store, None, desc, lambda e: None, None, Tail())  # type: ignore[arg-type]
    asyncio.run(asyncio.wait_for(fetch, 5))  # never forever


def test_a_stalled_holder_is_waited_for_at_most_writer_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pull, "WRITER_WAIT", 0.3)
    store = HeldStore(grows=0)
    with pytest.raises(errors.Unavailable):
        _fetch(store)
    assert store.looks >= 3  # it did wait (50 ms a look) before giving up


def test_a_growing_ingest_restarts_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pull, "WRITER_WAIT", 0.3)
    store = HeldStore(grows=12)  # ~0.6 s of growth: longer than WRITER_WAIT
    with pytest.raises(errors.Unavailable):
        _fetch(store)
    assert store.looks > 12  # waited through the growth, gave up only after it stalled
