"""Container output: from the stdio FIFOs to the json-file log and to attached clients.

The shim holds the FIFOs' write side; the engine opens the read side before the
task starts. A FIFO opened non-blocking reports no readiness until a writer has
come and gone, so one reader per FIFO, driven by the event loop, sees the data
and then a clean EOF once the container and its shim have closed it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

STDIN, STDOUT, STDERR = 0, 1, 2
_NAMES = {STDOUT: "stdout", STDERR: "stderr"}


def open_fifo(path: Path) -> int:
    """Create (afresh) and open the read end of a FIFO without blocking for a writer."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    os.mkfifo(path, 0o600)
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)


def frame(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed stream frame: [stream, 0, 0, 0, size (big endian)] + payload."""
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


class JsonFileLog:
    """Docker's json-file driver: one JSON object per line of output."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.f = open(path, "ab", buffering=0)
        self.partial: dict[int, bytes] = {}

    def write(self, stream: int, data: bytes) -> None:
        buf = self.partial.pop(stream, b"") + data
        *lines, rest = buf.split(b"\n")
        if rest:
            self.partial[stream] = rest
        if lines:
            now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            out = b"".join(
                json.dumps({"log": line.decode("utf-8", "replace") + "\n", "stream": _NAMES[stream], "time": now},
                           ensure_ascii=False).encode() + b"\n"
                for line in lines)
            self.f.write(out)

    def close(self) -> None:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for stream, rest in self.partial.items():
            self.f.write(json.dumps({"log": rest.decode("utf-8", "replace"), "stream": _NAMES[stream], "time": now},
                                    ensure_ascii=False).encode() + b"\n")
        self.partial.clear()
        self.f.close()


def read_log(path: Path, stdout: bool, stderr: bool, tail: int | None) -> list[tuple[int, bytes, str]]:
    """Entries of a json-file log: (stream, bytes, time). ``tail`` keeps the last N."""
    want = {"stdout"} if stdout else set()
    if stderr:
        want.add("stderr")
    out: list[tuple[int, bytes, str]] = []
    try:
        with open(path, "rb") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("stream") in want:
                    out.append((STDOUT if entry["stream"] == "stdout" else STDERR, entry["log"].encode(),
                                entry.get("time", "")))
    except FileNotFoundError:
        return []
    if tail is not None:
        out = out[-tail:] if tail > 0 else []
    return out


class StreamHub:
    """Fans a container's output out to every attached client; lives as long as the container."""

    def __init__(self) -> None:
        self.subscribers: list[asyncio.Queue[tuple[int, bytes] | None]] = []

    def subscribe(self) -> asyncio.Queue[tuple[int, bytes] | None]:
        q: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self.subscribers.append(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[tuple[int, bytes] | None]) -> None:
        if q in self.subscribers:
            self.subscribers.remove(q)

    def publish(self, stream: int, data: bytes) -> None:
        for q in self.subscribers:
            q.put_nowait((stream, data))

    def close_all(self) -> None:
        """The run ended: every attached client gets its EOF."""
        for q in self.subscribers:
            q.put_nowait(None)
        self.subscribers.clear()


async def _chunks(fd: int) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    loop.add_reader(fd, ready.set)
    try:
        while True:
            await ready.wait()
            ready.clear()
            while True:
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    break
                if not data:
                    return
                yield data
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def copy_output(fds: dict[int, int], hub: StreamHub, log: JsonFileLog) -> None:
    """Copy every FIFO to the log and the hub until all reach EOF."""

    async def pump(stream: int, fd: int) -> None:
        async for data in _chunks(fd):
            log.write(stream, data)
            hub.publish(stream, data)

    try:
        await asyncio.gather(*(pump(s, fd) for s, fd in fds.items()))
    finally:
        log.close()
