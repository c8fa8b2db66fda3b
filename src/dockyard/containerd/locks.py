"""The unpack lock: garbage collection and fsck alone, pulls side by side.

GC and ``fsck --repair`` remove snapshots (fsck the extraction snapshots a crash
left); they must not run while an unpack is between preparing a snapshot and
committing it. Pulls, on the other hand, may unpack at the same time: two that
meet on one ChainID both extract it and the second commit finds it done
(``AlreadyExists``). So GC takes the lock exclusively (``with lock:``, as
before) and a pull takes it shared for its whole unpack: its layers are
extracted in parallel and committed in order, so a per-layer hold could leave
a half-stacked pull waiting on GC while GC waits on it.

Shares are counted, not owned, so the thread that releases may differ from the
one that acquired (a pull's event loop hands work to threads).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self


class UnpackLock:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    def __enter__(self) -> Self:
        with self._cond:
            while self._exclusive or self._shared:
                self._cond.wait()
            self._exclusive = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with self._cond:
            self._exclusive = False
            self._cond.notify_all()

    def acquire_shared(self) -> None:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._shared += 1

    def try_acquire_shared(self) -> bool:
        with self._cond:
            if self._exclusive:
                return False
            self._shared += 1
            return True

    async def acquire_shared_async(self) -> None:
        """Poll rather than block a thread: a cancelled pull must not take a share after it is gone."""
        while not self.try_acquire_shared():
            await asyncio.sleep(0.02)

    def release_shared(self) -> None:
        with self._cond:
            self._shared -= 1
            if not self._shared:
                self._cond.notify_all()

    @contextmanager
    def shared(self) -> Iterator[None]:
        self.acquire_shared()
        try:
            yield
        finally:
            self.release_shared()
