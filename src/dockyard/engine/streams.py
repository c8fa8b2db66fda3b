"""Container output: from the stdio FIFOs to the json-file log and to attached clients.

The shim holds the FIFOs' write side; the engine opens the read side before the
task starts. A FIFO opened non-blocking reports no readiness until a writer has
come and gone, so one reader per FIFO, driven by the event loop, sees the data
and then a clean EOF once the container and its shim have closed it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from dockyard.fsmode import open_private
from dockyard.timefmt import parse_rfc3339, rfc3339_micro

_log = logging.getLogger("dockyard.engine.streams")

STDIN, STDOUT, STDERR = 0, 1, 2
_NAMES = {STDOUT: "stdout", STDERR: "stderr"}


class OutputFifo:
    """The engine's read end of one output FIFO, and the one owner of its fd.

    Whoever is done with it (the copier at EOF or when cancelled, a start that failed)
    calls ``close``; only the first call closes the number, after taking it out of the
    event loop, so a number the kernel has handed out again is never closed twice.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._loop: asyncio.AbstractEventLoop | None = None  # set while the loop watches the fd

    @classmethod
    def create(cls, path: Path) -> OutputFifo:
        """Create (afresh) and open the read end of a FIFO without blocking for a writer."""
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        os.mkfifo(path, 0o600)
        return cls.open(path)

    @classmethod
    def open(cls, path: Path) -> OutputFifo:
        """Open the read end of an existing FIFO (a re-adopted container's)."""
        return cls(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))

    @property
    def closed(self) -> bool:
        return self.fd < 0

    async def chunks(self) -> AsyncIterator[bytes]:
        """What the writers send, until EOF; the fd is closed when this ends, however it ends."""
        try:
            if self.closed:
                return
            loop = asyncio.get_running_loop()
            ready = asyncio.Event()
            loop.add_reader(self.fd, ready.set)
            self._loop = loop
            while True:
                await ready.wait()
                ready.clear()
                while not self.closed:
                    try:
                        data = os.read(self.fd, 65536)
                    except BlockingIOError:
                        break
                    if not data:
                        return
                    yield data
                if self.closed:
                    return
        finally:
            self.close()

    def ready_now(self) -> list[bytes]:
        """What the writers have sent and nobody has read yet, without waiting and without taking
        the EOF (the reader in ``chunks`` still sees it and ends)."""
        out: list[bytes] = []
        while not self.closed:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            out.append(data)
        return out

    def close(self) -> None:
        if self.fd < 0:
            return
        fd, self.fd = self.fd, -1
        if self._loop is not None:
            self._loop.remove_reader(fd)
            self._loop = None
        os.close(fd)


def open_fifo(path: Path) -> OutputFifo:
    """Create (afresh) and open the read end of a FIFO without blocking for a writer."""
    return OutputFifo.create(path)


def frame(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed stream frame: [stream, 0, 0, 0, size (big endian)] + payload."""
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


def parse_size(value: str | int) -> int:
    """Docker's log-opt sizes: ``10m``, ``512k``, ``1g`` or bytes."""
    text = str(value).strip().lower().rstrip("b")
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text or 0)


_json_str = json.encoder.encode_basestring  # a str as a JSON string, non-ASCII kept (C-accelerated)


class JsonFileLog:
    """Docker's json-file driver: one JSON object per line; rotated at ``max_size`` into ``.1`` .. ``.N-1``."""

    def __init__(self, path: Path, max_size: str | int = 0, max_file: int = 1) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_size = parse_size(max_size) if max_size else 0
        self.max_file = max(1, max_file)
        self.f = open_private(path, "ab", buffering=0)  # the container's output: root alone
        self.size = self.f.tell()
        self.partial: dict[int, bytes] = {}

    def _rotate(self) -> None:
        self.f.close()
        if self.max_file > 1:
            for n in range(self.max_file - 1, 0, -1):
                src = self.path.with_name(f"{self.path.name}.{n - 1}") if n > 1 else self.path
                if src.exists():
                    os.replace(src, self.path.with_name(f"{self.path.name}.{n}"))
            self.f = open_private(self.path, "ab", buffering=0)
        else:
            self.f = open_private(self.path, "wb", buffering=0)
        self.size = 0

    def _emit(self, out: bytes) -> None:
        if self.max_size and self.size and self.size + len(out) > self.max_size:
            self._rotate()
        self.f.write(out)
        self.size += len(out)

    def write(self, stream: int, data: bytes) -> None:
        buf = self.partial.pop(stream, b"") + data
        *lines, rest = buf.split(b"\n")
        if rest:
            self.partial[stream] = rest
        if lines:
            now = rfc3339_micro()
            # what json.dumps({"log": ..., "stream": ..., "time": ...}, ensure_ascii=False) writes,
            # without building an encoder and a dict per line (a third of a 100 MB stream's cost)
            tail = f',"stream":"{_NAMES[stream]}","time":"{now}"}}\n'
            self._emit("".join(['{"log":' + _json_str(line.decode("utf-8", "replace") + "\n") + tail
                                for line in lines]).encode())

    def close(self) -> None:
        now = rfc3339_micro()
        for stream, rest in self.partial.items():
            self._emit(('{"log":' + _json_str(rest.decode("utf-8", "replace")) +
                        f',"stream":"{_NAMES[stream]}","time":"{now}"}}\n').encode())
        self.partial.clear()
        self.f.close()


class NullLog:
    """The ``none`` log driver."""

    def write(self, stream: int, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def _lines_from_end(path: Path, want: int) -> list[bytes]:
    """The last ``want`` lines of a file, reading backwards in blocks: tail never reads the whole log."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return []
    with f:
        end = f.seek(0, os.SEEK_END)
        pos, buf, lines = end, b"", 0
        while pos > 0 and lines <= want:
            step = min(65536, pos)
            pos -= step
            f.seek(pos)
            buf = f.read(step) + buf
            lines = buf.count(b"\n")
        out = buf.splitlines()
        return out[-want:] if want else []


def _log_files(path: Path) -> list[Path]:
    """Rotated files oldest first, then the live one."""
    rotated = sorted(path.parent.glob(f"{path.name}.*"), key=lambda p: -int(p.suffix[1:] or 0)
                     if p.suffix[1:].isdigit() else 0)
    return [p for p in rotated if p.suffix[1:].isdigit()] + [path]


def _parse_time(t: str) -> float:
    """A log record's time (RFC 3339, nine digits as Docker writes it); 0 if it is none."""
    try:
        return parse_rfc3339(t)
    except ValueError:
        return 0.0


def read_log(path: Path, stdout: bool, stderr: bool, tail: int | None, since: float = 0.0,
             until: float = 0.0) -> list[tuple[int, bytes, str]]:
    """Entries of a json-file log: (stream, bytes, time). ``tail`` keeps the last N (read from the end)."""
    want = {"stdout"} if stdout else set()
    if stderr:
        want.add("stderr")
    if tail is not None and tail <= 0:
        return []
    if tail is not None and want == {"stdout", "stderr"}:
        raw: list[bytes] = []
        for p in reversed(_log_files(path)):
            raw = _lines_from_end(p, tail - len(raw)) + raw
            if len(raw) >= tail:
                break
    else:
        raw = []
        for p in _log_files(path):
            try:
                with open(p, "rb") as f:
                    raw.extend(f)
            except FileNotFoundError:
                continue
    out: list[tuple[int, bytes, str]] = []
    for line in raw:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("stream") not in want:
            continue
        t = entry.get("time", "")
        if since or until:
            ts = _parse_time(t)
            if (since and ts < since) or (until and ts > until):
                continue
        out.append((STDOUT if entry["stream"] == "stdout" else STDERR, entry["log"].encode(), t))
    if tail is not None:
        out = out[-tail:]
    return out


class StdinWriter:
    """The engine's end of a container's stdin FIFO: the only writer, so closing it is the container's EOF."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def create(cls, path: Path) -> StdinWriter:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        os.mkfifo(path, 0o600)
        # O_RDWR: opening never blocks for a reader; the shim opens the read end for the container.
        return cls(os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC))

    async def write(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        while view and self.fd >= 0:
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                ready = loop.create_future()
                # the callback's value is unused: ``or`` only skips setting a future that is done
                loop.add_writer(self.fd, lambda: ready.done() or ready.set_result(None))  # type: ignore[func-returns-value]  # noqa: B023 (awaited here)
                try:
                    await ready
                finally:
                    if self.fd >= 0:
                        loop.remove_writer(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1


class _Lines:
    """Cuts one subscriber's chunks into whole lines (Docker's log messages: one line a frame)."""

    def __init__(self) -> None:
        self.partial: dict[int, bytes] = {}

    def feed(self, stream: int, data: bytes) -> list[bytes]:
        buf = self.partial.pop(stream, b"") + data
        *lines, rest = buf.split(b"\n")
        if rest:
            self.partial[stream] = rest
        return [line + b"\n" for line in lines]

    def rest(self) -> list[tuple[int, bytes]]:
        out = list(self.partial.items())
        self.partial.clear()
        return out


class StreamHub:
    """Fans a container's output out to every attached client; lives as long as the container.

    An attached client gets the chunks as they come; a ``lines`` subscriber (``logs -f``) gets
    one line per item, a last unterminated line at the end."""

    def __init__(self) -> None:
        self.subscribers: list[asyncio.Queue[tuple[int, bytes] | None]] = []
        self._lines: dict[int, _Lines] = {}  # id(queue) -> its line cutter
        self.drain: Callable[[], None] | None = None  # set by the running copier (``copy_output``)
        # the log's unterminated last line per stream (set by the copier): a ``logs -f`` that reads the
        # log now starts its line cutter with it, or that line, in neither the log nor its queue, is lost
        self.pending: Callable[[], dict[int, bytes]] | None = None

    def catch_up(self) -> None:
        """Copy what the container has written and the copier has not yet read, now: a log read
        after this sees every byte written before it, not only what the event loop got to."""
        if self.drain is not None:
            self.drain()

    def subscribe(self, lines: bool = False) -> asyncio.Queue[tuple[int, bytes] | None]:
        q: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self.subscribers.append(q)
        if lines:
            cutter = self._lines[id(q)] = _Lines()
            cutter.partial.update(self.pending() if self.pending is not None else {})
        return q

    def unsubscribe(self, q: asyncio.Queue[tuple[int, bytes] | None]) -> None:
        if q in self.subscribers:
            self.subscribers.remove(q)
            self._lines.pop(id(q), None)

    def publish(self, stream: int, data: bytes) -> None:
        for q in self.subscribers:
            cutter = self._lines.get(id(q))
            if cutter is None:
                q.put_nowait((stream, data))
            else:
                for line in cutter.feed(stream, data):
                    q.put_nowait((stream, line))

    def close_all(self) -> None:
        """The run ended: every attached client gets its EOF."""
        for q in self.subscribers:
            cutter = self._lines.pop(id(q), None)
            for item in cutter.rest() if cutter else ():
                q.put_nowait(item)
            q.put_nowait(None)
        self.subscribers.clear()


def gather_unawaited(*aws: Any) -> asyncio.Future[Any]:
    """A gather of pumps that nobody may ever await (an exec or a RUN step whose client went,
    a daemon shutting down): its outcome is taken when it ends, so a cancellation (which a
    gather holds as an exception) is never logged as "never retrieved"; a real failure is logged."""
    fut = asyncio.gather(*aws)
    fut.add_done_callback(_take_outcome)
    return fut


def _take_outcome(fut: asyncio.Future[Any]) -> None:
    if fut.cancelled():
        return
    err = fut.exception()
    if err is not None and not isinstance(err, asyncio.CancelledError):
        _log.error("output pump failed", exc_info=err)


def cancel_unawaited(fut: asyncio.Future[Any]) -> None:
    """Cancel a gather made by ``gather_unawaited``."""
    fut.cancel()


async def copy_output(fifos: dict[int, OutputFifo], hub: StreamHub, log: JsonFileLog | NullLog) -> None:
    """Copy every FIFO to the log and the hub until all reach EOF; the FIFOs are closed when it ends.
    A log the disk has no room for loses those lines (as Docker's): the output still flows to
    attached clients and the container's exit is still recorded."""

    lost = False

    def to_log(call: Callable[..., None], *args: object) -> None:
        nonlocal lost
        try:
            call(*args)
        except OSError as err:
            if not lost:
                _log.warning("container log %s: %s (output lost)", getattr(log, "path", ""), err)
            lost = True

    def copy(stream: int, data: bytes) -> None:
        to_log(log.write, stream, data)
        hub.publish(stream, data)

    async def pump(stream: int, fifo: OutputFifo) -> None:
        async for data in fifo.chunks():
            copy(stream, data)

    def drain() -> None:
        for stream, fifo in fifos.items():
            for data in fifo.ready_now():
                copy(stream, data)

    def pending() -> dict[int, bytes]:
        return dict(getattr(log, "partial", {}))

    hub.drain, hub.pending = drain, pending
    try:
        await asyncio.gather(*(pump(s, f) for s, f in fifos.items()))
    finally:
        if hub.drain is drain:
            hub.drain = None
        if hub.pending is pending:
            hub.pending = None
        for fifo in fifos.values():  # a pump cancelled before it ran never reached its own close
            fifo.close()
        to_log(log.close)
