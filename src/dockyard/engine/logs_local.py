"""Docker's ``local`` log driver: compact binary records, rotated, rotated files gzip-compressed.

Layout, under ``<data-root>/containers/<id>/local-logs/`` (as Docker's; the path is
not API, so inspect's ``LogPath`` stays empty): ``container.log`` is live,
``container.log.1.gz`` .. ``container.log.<max-file - 1>.gz`` are older, 1 the newest.

A record is ``[u32 n][u8 stream][u64 time ns][payload][u32 n]`` (big endian, n =
9 + len(payload)). The length is written at both ends so ``--tail`` walks the live
file backwards from its end and reads only the records it returns. Rotated files
are compressed by a thread (zlib releases the GIL; the event loop that copies the
container's output never waits for it) and keep the live file's mtime, so
``--since`` skips whole files that end before it.

Defaults as Docker's: max-size 20m, max-file 5, compress true.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import struct
import threading
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.engine.container import Container
from dockyard.engine.streams import STDERR, STDOUT, parse_size, read_log
from dockyard.fsmode import open_private, private_dir
from dockyard.plugins import logdriver
from dockyard.timefmt import rfc3339_nano

_LEN = struct.Struct(">I")
_META = struct.Struct(">BQ")  # stream, time in ns
_HEAD = struct.Struct(">IBQ")
_OVERHEAD = _HEAD.size + _LEN.size
LIVE = "container.log"
OPTS = ("max-size", "max-file", "compress")
_TRUE = ("1", "t", "true", "yes", "on")
_FALSE = ("0", "f", "false", "no", "off")


def log_dir(container_dir: Path) -> Path:
    return container_dir / "local-logs"


def validate_opts(opts: dict[str, str]) -> None:
    """Refuse at create what the driver could not honour, with Docker's messages."""
    for key in opts:
        if key not in OPTS:
            raise errors.InvalidArgument(f"unknown log opt '{key}' for log driver local")
    try:
        if parse_size(opts.get("max-size", "20m")) < 0:
            raise ValueError
    except ValueError:
        raise errors.InvalidArgument(f"invalid max-size {opts['max-size']!r} for log driver local") from None
    max_file = opts.get("max-file", "5")
    if not max_file.lstrip("-").isdigit():
        raise errors.InvalidArgument(f"invalid max-file {max_file!r} for log driver local")
    if int(max_file) < 1:
        raise errors.InvalidArgument("max-file cannot be less than 1")
    if opts.get("compress", "true").lower() not in _TRUE + _FALSE:
        raise errors.InvalidArgument(f"invalid compress {opts['compress']!r} for log driver local")


def _record(stream: int, ts: int, payload: bytes) -> bytes:
    n = _META.size + len(payload)
    return _HEAD.pack(n, stream, ts) + payload + _LEN.pack(n)


def _compress(src: Path, dst: Path) -> None:
    """``src`` → ``dst`` (gzip, fastest level, as Docker), atomically, keeping src's mtime; then src goes."""
    tmp = dst.with_name(dst.name + ".tmp")
    st = src.stat()
    with open(src, "rb") as fin, open_private(tmp, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", compresslevel=1, fileobj=raw, mtime=int(st.st_mtime)) as gz:
        shutil.copyfileobj(fin, gz, 1 << 20)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, dst)
    src.unlink()


def _compress_in_thread(src: Path, dst: Path) -> None:
    try:
        _compress(src, dst)
    except OSError as err:  # the container (and its log directory) was removed meanwhile
        logging.getLogger(__name__).debug("local log: compressing %s: %s", src, err)


class LocalLog:
    """The writer: same interface as ``streams.JsonFileLog`` (``write(stream, data)``, ``close()``)."""

    def __init__(self, directory: Path, max_size: str | int = "20m", max_file: int = 5, compress: bool = True) -> None:
        private_dir(directory)
        self.dir = directory
        self.path = directory / LIVE
        self.max_size = parse_size(max_size) if max_size else 0
        self.max_file = max(1, max_file)
        self.compress = compress
        self.f = open_private(self.path, "ab", buffering=0)
        self.size = self.f.tell()
        self.partial: dict[int, bytes] = {}
        self._compressor: threading.Thread | None = None

    @classmethod
    def from_opts(cls, container_dir: Path, opts: dict[str, str]) -> LocalLog:
        return cls(log_dir(container_dir), max_size=opts.get("max-size", "20m"),
                   max_file=int(opts.get("max-file", "5") or 5),
                   compress=opts.get("compress", "true").lower() not in _FALSE)

    def _name(self, n: int, gz: bool) -> Path:
        return self.dir / (f"{LIVE}.{n}.gz" if gz else f"{LIVE}.{n}")

    def _rotate(self) -> None:
        self.f.close()
        if self.max_file == 1:
            self.f = open_private(self.path, "wb", buffering=0)
            self.size = 0
            return
        if self._compressor is not None:  # only if rotations come faster than gzip: keep the names in order
            self._compressor.join()
            self._compressor = None
        for gz in (True, False):
            self._name(self.max_file - 1, gz).unlink(missing_ok=True)
        for n in range(self.max_file - 2, 0, -1):
            for gz in (True, False):
                if self._name(n, gz).exists():
                    os.replace(self._name(n, gz), self._name(n + 1, gz))
        os.replace(self.path, self._name(1, False))
        self.f = open_private(self.path, "ab", buffering=0)
        self.size = 0
        if self.compress:
            self._compressor = threading.Thread(target=_compress_in_thread, args=(self._name(1, False), self._name(1, True)),
                                                name="local-log-gzip")
            self._compressor.start()

    def _emit(self, records: list[bytes]) -> None:
        batch: list[bytes] = []
        size = 0
        for rec in records:
            if self.max_size and (self.size + size) and self.size + size + len(rec) > self.max_size:
                if batch:
                    self.f.write(b"".join(batch))
                    batch, size = [], 0
                self._rotate()
            batch.append(rec)
            size += len(rec)
        if batch:
            self.f.write(b"".join(batch))
        self.size += size

    def write(self, stream: int, data: bytes) -> None:
        buf = self.partial.pop(stream, b"") + data
        *lines, rest = buf.split(b"\n")
        if rest:
            self.partial[stream] = rest
        if lines:
            now = time.time_ns()
            self._emit([_record(stream, now, line + b"\n") for line in lines])

    def close(self) -> None:
        now = time.time_ns()
        self._emit([_record(stream, now, rest) for stream, rest in self.partial.items()])
        self.partial.clear()
        self.f.close()


# Reading -------------------------------------------------------------------------------------------------------


def _files(directory: Path) -> list[Path]:
    """Rotated files oldest first (a finished .gz wins over its in-flight source), then the live one."""
    found: dict[int, Path] = {}
    for p in directory.glob(f"{LIVE}.*"):
        num, _, ext = p.name[len(LIVE) + 1:].partition(".")
        if num.isdigit() and ext in ("", "gz") and (ext == "gz" or int(num) not in found):
            found[int(num)] = p
    return [found[n] for n in sorted(found, reverse=True)] + [directory / LIVE]


def _open(path: Path) -> Any:
    """A binary reader of one log file, or None if it went away (rotated or compressed meanwhile)."""
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rb")
        return open(path, "rb")
    except FileNotFoundError:
        if path.suffix != ".gz" and path.name != LIVE:
            return _open(path.with_name(path.name + ".gz"))  # compressed since we listed it
        return None


def _forward(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(stream, time ns, payload) of every whole record, oldest first, in bounded memory."""
    f = _open(path)
    if f is None:
        return
    with f:
        buf = b""
        while block := f.read(1 << 20):
            buf += block
            pos = 0
            while len(buf) - pos >= _OVERHEAD:
                (n,) = _LEN.unpack_from(buf, pos)
                end = pos + _LEN.size + n + _LEN.size
                if end > len(buf):
                    break
                stream, ts = _META.unpack_from(buf, pos + _LEN.size)
                yield stream, ts, buf[pos + _HEAD.size:end - _LEN.size]
                pos = end
            buf = buf[pos:]


def _backward(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """Records of an uncompressed file, newest first, two small reads each: tail reads only what it returns."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        pos = f.seek(0, os.SEEK_END)
        while pos >= _OVERHEAD:
            f.seek(pos - _LEN.size)
            (n,) = _LEN.unpack(f.read(_LEN.size))
            start = pos - n - 2 * _LEN.size
            if start < 0:
                break
            f.seek(start)
            rec = f.read(pos - start)
            if _LEN.unpack_from(rec)[0] != n:  # a torn last write (crash): stop rather than guess
                break
            stream, ts = _META.unpack_from(rec, _LEN.size)
            yield stream, ts, rec[_HEAD.size:-_LEN.size]
            pos = start


def read_local(directory: Path, stdout: bool, stderr: bool, tail: int | None, since: float = 0.0,
               until: float = 0.0) -> list[tuple[int, bytes, str]]:
    """Entries of a local-driver log: (stream, bytes, time), as ``streams.read_log`` gives for json-file.

    ``tail`` takes the last N entries of the wanted streams (newest files first,
    the live file read backwards), then ``since``/``until`` filter them, as json-file does."""
    want = ({STDOUT} if stdout else set()) | ({STDERR} if stderr else set())
    if tail is not None and tail <= 0:
        return []
    # Compared in microseconds: the API's epoch floats (and the CLI's parsing) carry no more than that.
    since_us, until_us = round(since * 1e6), round(until * 1e6)
    since_ns = since_us * 1000
    files = _files(directory)
    picked: list[tuple[int, int, bytes]] = []
    if tail is not None:
        for p in reversed(files):
            left = tail - len(picked)
            if p.name == LIVE:  # newest first, stopping after `left`
                older = list(islice((r for r in _backward(p) if r[0] in want), left))[::-1]
            else:  # a gzip stream only reads forwards; at most one rotated file (max-size) is decompressed
                older = [r for r in _forward(p) if r[0] in want][-left:]
            picked = older + picked
            if len(picked) >= tail:
                break
    else:
        for p in files:
            if since and p.name != LIVE and _mtime_ns(p) < since_ns:
                continue  # the whole file ends before --since
            picked.extend(r for r in _forward(p) if r[0] in want)
    return [(s, payload, rfc3339_nano(ts)) for s, ts, payload in picked
            if not (since_us and ts // 1000 < since_us) and not (until_us and ts // 1000 > until_us)]


def _mtime_ns(p: Path) -> int:
    try:
        return p.stat().st_mtime_ns
    except FileNotFoundError:
        return 1 << 62  # compressed meanwhile: read it rather than skip it


def read_container_log(c: Container, eng: Any, stdout: bool, stderr: bool, tail: int | None,
                       since: float = 0.0, until: float = 0.0) -> list[tuple[int, bytes, str]]:
    """The container's log, whichever reading driver wrote it (json-file, local, or a log-driver plugin
    through its ReadLogs); ``eng`` is the Engine."""
    kind = (c.host_config.log_config or {}).get("Type")
    if kind not in (None, "", "json-file", "local", "none"):
        return logdriver.read_logs(logdriver.require(eng.plugins, kind), logdriver.info_of(c), stdout, stderr, tail,
                                   since, until)
    if kind == "local":
        return read_local(log_dir(eng.data_root / "containers" / c.id), stdout, stderr, tail, since, until)
    return read_log(Path(c.log_path), stdout, stderr, tail, since, until)
