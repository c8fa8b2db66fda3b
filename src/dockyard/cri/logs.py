"""Container output to the file the kubelet reads, in the CRI log format.

Each line is ``<RFC 3339 time, ns> <stdout|stderr> <F|P> <text>\\n``: ``F`` ends a line of the
container's, ``P`` is a piece of a longer line (more than ``MAX_LINE`` bytes) to be joined with
what follows, as containerd's CRI writes them. Output still without a newline when the
stream ends is written as a full line. ``reopen`` makes the next write go to a new file at
the same path (after the kubelet rotated the old one away).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from dockyard.engine.streams import STDERR, STDOUT, OutputFifo, StreamHub
from dockyard.fsmode import open_private

log = logging.getLogger("dockyard.cri.logs")

MAX_LINE = 16 * 1024


def timestamp(ns: int | None = None) -> str:
    ns = time.time_ns() if ns is None else ns
    dt = datetime.fromtimestamp(ns // 1_000_000_000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ns % 1_000_000_000:09d}Z"


def format_lines(stream: str, pending: bytearray, data: bytes, eof: bool = False) -> bytes:
    """The log records ``data`` completes (``pending`` keeps what does not end a line yet)."""
    pending += data
    out = bytearray()
    while True:
        nl = pending.find(b"\n")
        if nl < 0 or nl > MAX_LINE:
            if len(pending) > MAX_LINE:
                out += f"{timestamp()} {stream} P ".encode() + pending[:MAX_LINE] + b"\n"
                del pending[:MAX_LINE]
                continue
            break
        out += f"{timestamp()} {stream} F ".encode() + pending[:nl] + b"\n"
        del pending[:nl + 1]
    if eof and pending:
        out += f"{timestamp()} {stream} F ".encode() + pending + b"\n"
        pending.clear()
    return bytes(out)


class CriLog:
    """One container's log file, shared by its stdout and stderr copiers."""

    def __init__(self, path: str) -> None:
        """The file exists from here on (the kubelet opens it at once), even before any output."""
        self.path = Path(path) if path else None
        self._file: IO[bytes] | None = None
        self.write(b"")

    def write(self, data: bytes) -> None:
        if self.path is None:
            return
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open_private(self.path, "ab")
            if data:
                self._file.write(data)
                self._file.flush()
        except OSError as err:
            log.warning("log %s: %s", self.path, err)

    def reopen(self) -> None:
        self.close()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open_private(self.path, "ab")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def copy(fifo: OutputFifo, stream: str, out: CriLog, hub: StreamHub | None) -> None:
    pending = bytearray()
    number = STDOUT if stream == "stdout" else STDERR
    async for data in fifo.chunks():
        out.write(format_lines(stream, pending, data))
        if hub is not None:
            hub.publish(number, data)
    out.write(format_lines(stream, pending, b"", eof=True))


async def copy_all(fifos: dict[str, OutputFifo], out: CriLog, hub: StreamHub | None = None) -> None:
    """Copy each stream until EOF (to ``hub``'s attached clients too); the file is closed at the end."""
    try:
        await asyncio.gather(*(copy(f, name, out, hub) for name, f in fifos.items()))
    finally:
        for f in fifos.values():
            f.close()
        out.close()
        if hub is not None:
            hub.close_all()
