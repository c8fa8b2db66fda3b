"""Read a blob while it downloads: the unpacker follows the ingest file as it grows.

Why a file and not a pipe: the download must never wait for the extraction
(the registry connection would stall and, with three downloads in flight, the
network would idle), and a crash must leave a resumable ingest. So the bytes go
to the ingest as before, and the extractor reads the same file a little behind
the writer, straight from the page cache. The extractor only learns that the
bytes were right when the download commits (size and digest verified); the
unpacker waits for that (``wait_verified``) before it commits the snapshot, and
removes the snapshot if the download failed.
"""

from __future__ import annotations

import io
import os
import threading


class DownloadRestarted(Exception):
    """The ingest was cut back (a server without Range support): the bytes read are void."""


class Tail:
    """The writer side: ``open``, ``advance`` per write, then ``finish`` or ``fail``."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._path: str | None = None
        self._written = 0
        self._done = False
        self._error: BaseException | None = None
        self._generation = 0
        self._fd = -1

    def open(self, path: str, offset: int) -> None:
        """The writer opened ``path`` with ``offset`` bytes in it.

        The file is opened here, not by the reader: a small blob can be
        committed (and its ingest removed) before the reader gets to it.
        """
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        with self._cond:
            if self._path is not None and offset < self._written:
                self._generation += 1  # cut back: readers that passed ``offset`` must start over
            if self._fd >= 0:
                os.close(self._fd)
            self._path, self._fd = path, fd
            self._written = offset
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def advance(self, written: int) -> None:
        with self._cond:
            self._written = written
            self._cond.notify_all()

    def finish(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def fail(self, err: BaseException) -> None:
        with self._cond:
            if self._done:
                return  # the first ending stands
            self._error = err
            self._done = True
            self._cond.notify_all()

    def started(self) -> bool:
        with self._cond:
            return self._path is not None

    def wait_started(self) -> bool:
        """Block until the download opened its ingest (True) or ended without one (False)."""
        with self._cond:
            while self._path is None and not self._done:
                self._cond.wait()
            return self._path is not None and self._error is None

    def wait_verified(self) -> None:
        """Block until the blob is committed; raise the download's error if it failed."""
        with self._cond:
            while not self._done:
                self._cond.wait()
            if self._error is not None:
                raise self._error

    def reader(self) -> io.BufferedReader:
        return io.BufferedReader(_TailReader(self), buffer_size=1 << 20)


class _TailReader(io.RawIOBase):
    def __init__(self, tail: Tail) -> None:
        self._tail = tail
        self._pos = 0
        self._fd = -1
        self._generation = tail._generation

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        t = self._tail
        with t._cond:
            while (t._path is None or self._pos >= t._written) and not t._done:
                t._cond.wait()
            if t._generation != self._generation:
                raise DownloadRestarted("the download started over")
            if t._error is not None:
                raise t._error
            if t._path is None or self._pos >= t._written:
                return 0  # done, and all read
            n = min(len(b), t._written - self._pos)
            if self._fd < 0:
                if t._fd < 0:
                    raise DownloadRestarted("the download was closed")
                self._fd = os.dup(t._fd)  # stays valid after the commit links the ingest away
        got = os.preadv(self._fd, [memoryview(b)[:n]], self._pos)
        self._pos += got
        return got

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()
