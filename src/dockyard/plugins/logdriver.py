"""Log-driver plugins (``--log-driver NAME`` naming a plugin that implements ``LogDriver``), as dockerd
drives them: ``LogDriver.StartLogging`` with a FIFO and the container's logger info, then the output
as Docker's ``logdriver.LogEntry`` protobufs, each after its length (4 bytes, big-endian), into the
FIFO; ``LogDriver.StopLogging`` at the end; ``LogDriver.ReadLogs`` (if ``Capabilities`` says so)
answers the same frames for ``docker logs``.

The daemon's end of the FIFO is opened read-write and non-blocking before StartLogging, so a plugin
that opens its end inside the call does not wait for us, and a plugin that stops reading never
blocks the daemon: what does not fit a bounded buffer is dropped (logged once), whole entries only.
"""

from __future__ import annotations

import logging
import os
import select
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.engine.container import Container
from dockyard.plugins.discovery import Plugin
from dockyard.timefmt import rfc3339_nano

log = logging.getLogger(__name__)
IMPLEMENTS = "LogDriver"
SOURCES = {1: "stdout", 2: "stderr"}
MAX_ENTRY = 1 << 20      # a frame longer than this is a malformed stream (Docker's decoder caps it too)
MAX_PENDING = 1 << 20    # bytes kept for a plugin that reads slowly, then entries are dropped
MAX_LINE = 16 << 10      # Docker's copier: longer lines go as partial entries
FLUSH_AT_CLOSE = 2.0     # seconds the last entries may wait for the plugin to read them


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 as protobuf writes a negative one: ten bytes
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_entry(source: str, time_nano: int, line: bytes, partial: bool = False) -> bytes:
    """One length-prefixed ``LogEntry{source=1, time_nano=2, line=3, partial=4}``."""
    msg = bytearray()
    if source:
        raw = source.encode()
        msg += b"\x0a" + _varint(len(raw)) + raw
    if time_nano:
        msg += b"\x10" + _varint(time_nano)
    if line:
        msg += b"\x1a" + _varint(len(line)) + line
    if partial:
        msg += b"\x20\x01"
    return struct.pack(">I", len(msg)) + bytes(msg)


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise errors.Internal("log entry: truncated varint")
        b = buf[i]
        n |= (b & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not b & 0x80:
            return n, i


def decode_entry(msg: bytes) -> dict[str, Any]:
    """``{"source", "time_nano", "line", "partial"}`` of one LogEntry (unknown fields skipped)."""
    out: dict[str, Any] = {"source": "", "time_nano": 0, "line": b"", "partial": False}
    i = 0
    while i < len(msg):
        key, i = _read_varint(msg, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(msg, i)
            if field == 2:
                out["time_nano"] = value - (1 << 64) if value >= 1 << 63 else value
            elif field == 4:
                out["partial"] = bool(value)
        elif wire == 2:
            size, i = _read_varint(msg, i)
            if i + size > len(msg):
                raise errors.Internal("log entry: field runs past the entry")
            data, i = msg[i:i + size], i + size
            if field == 1:
                out["source"] = data.decode(errors="replace")
            elif field == 3:
                out["line"] = data
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        else:
            raise errors.Internal(f"log entry: unsupported wire type {wire}")
    return out


def decode_stream(data: bytes) -> Iterator[dict[str, Any]]:
    i = 0
    while i < len(data):
        if i + 4 > len(data):
            raise errors.Internal("log stream: truncated length prefix")
        (size,) = struct.unpack(">I", data[i:i + 4])
        if size > MAX_ENTRY or i + 4 + size > len(data):
            raise errors.Internal(f"log stream: entry of {size} bytes does not fit")
        yield decode_entry(data[i + 4:i + 4 + size])
        i += 4 + size


def require(plugins: Any, name: str) -> Plugin:
    """The plugin ``name`` as a log driver, or Docker's error for an unknown driver."""
    try:
        return plugins.get(name, IMPLEMENTS)  # type: ignore[no-any-return]
    except (errors.NotFound, errors.InvalidArgument):
        raise errors.InvalidArgument(f"logger: no log driver named '{name}' is registered") from None


def info_of(c: Container, image_name: str = "") -> dict[str, Any]:
    """Docker's ``logger.Info`` of a container, as StartLogging and ReadLogs carry it."""
    cfg = c.config
    return {"Config": (c.host_config.log_config or {}).get("Config") or {},
            "ContainerID": c.id, "ContainerName": c.name,
            "ContainerEntrypoint": c.path, "ContainerArgs": c.args or [],
            "ContainerImageID": c.image, "ContainerImageName": image_name or cfg.image,
            "ContainerCreated": c.created, "ContainerEnv": cfg.env or [],
            "ContainerLabels": cfg.labels or {}, "LogPath": "", "DaemonName": "docker"}


class PluginLog:
    """The container's output to a log-driver plugin: ``write``/``close`` as the engine's other logs."""

    def __init__(self, plugin: Plugin, fifo: Path, fd: int) -> None:
        self.plugin, self.path, self.fd = plugin, fifo, fd
        self.pending = bytearray()
        self.partial: dict[int, bytearray] = {}
        self.dropped = 0

    @classmethod
    def start(cls, plugin: Plugin, fifo_dir: Path, info: dict[str, Any]) -> PluginLog:
        """Make the FIFO, open our end, ask the plugin to read it (blocking: run it in a thread)."""
        fifo_dir.mkdir(parents=True, exist_ok=True)
        path = fifo_dir / f"{info['ContainerID']}-{uuid.uuid4().hex[:12]}"
        os.mkfifo(path, 0o600)
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            plugin.call("LogDriver.StartLogging", {"File": str(path), "Info": info})
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        return cls(plugin, path, fd)

    def write(self, stream: int, data: bytes) -> None:
        buf = self.partial.setdefault(stream, bytearray())
        buf += data
        now = time.time_ns()
        frames = bytearray()
        while True:
            nl = buf.find(b"\n")
            if nl < 0 and len(buf) < MAX_LINE:
                break
            cut = nl if 0 <= nl < MAX_LINE else MAX_LINE
            frames += encode_entry(SOURCES.get(stream, "stdout"), now, bytes(buf[:cut]), partial=cut != nl)
            del buf[:cut + (1 if cut == nl else 0)]
        self._send(bytes(frames))

    def _send(self, frames: bytes) -> None:
        if frames:
            if len(self.pending) + len(frames) > MAX_PENDING:
                if not self.dropped:
                    log.warning("log driver %s is not reading %s: entries dropped", self.plugin.name, self.path.name)
                self.dropped += 1
            else:
                self.pending += frames
        self._flush()

    def _flush(self) -> None:
        while self.pending:
            try:
                n = os.write(self.fd, self.pending)
            except BlockingIOError:
                return
            del self.pending[:n]

    def close(self) -> None:
        """The unterminated rest of each stream goes as a partial entry; the flush and StopLogging
        (calls that may wait on the plugin) run on a thread of their own."""
        now = time.time_ns()
        for stream, buf in self.partial.items():
            if buf:
                self._send(encode_entry(SOURCES.get(stream, "stdout"), now, bytes(buf), partial=True))
        self.partial.clear()
        threading.Thread(target=self._stop, name=f"logdriver-stop-{self.path.name}", daemon=True).start()

    def _stop(self) -> None:
        deadline = time.monotonic() + FLUSH_AT_CLOSE
        try:
            while self.pending and time.monotonic() < deadline:
                select.select([], [self.fd], [], max(0.0, deadline - time.monotonic()))
                self._flush()
            if self.pending:
                log.warning("log driver %s: %d bytes not read before the end", self.plugin.name, len(self.pending))
            self.plugin.call("LogDriver.StopLogging", {"File": str(self.path)})
        except (errors.DockyardError, OSError) as err:
            log.error("log driver %s: StopLogging: %s", self.plugin.name, err)
        finally:
            os.close(self.fd)
            self.path.unlink(missing_ok=True)


def read_logs(plugin: Plugin, info: dict[str, Any], stdout: bool, stderr: bool, tail: int | None,
              since: float = 0.0, until: float = 0.0) -> list[tuple[int, bytes, str]]:
    """``docker logs`` through ``LogDriver.ReadLogs``: (stream, bytes, RFC 3339 time) as the engine's
    own logs give them; a driver that cannot read is refused with Docker's message."""
    caps = plugin.call("LogDriver.Capabilities").get("Cap") or {}
    if not caps.get("ReadLogs"):
        raise errors.InvalidArgument(f'configured logging driver does not support reading ("{plugin.name}")')
    config = {"Since": rfc3339_nano(int(since * 1e9)) if since else "0001-01-01T00:00:00Z",
              "Until": rfc3339_nano(int(until * 1e9)) if until else "0001-01-01T00:00:00Z",
              "Tail": -1 if tail is None else tail, "Follow": False}
    raw = plugin.client.stream("LogDriver.ReadLogs", {"Info": info, "Config": config})
    wanted = {"stdout": stdout, "stderr": stderr}
    out = []
    for e in decode_stream(raw):
        t = e["time_nano"] / 1e9
        if not wanted.get(e["source"], False) or (since and t < since) or (until and t > until):
            continue
        line = e["line"] if e["partial"] else e["line"] + b"\n"
        out.append((2 if e["source"] == "stderr" else 1, line, rfc3339_nano(e["time_nano"])))
    return out[-tail:] if tail else ([] if tail == 0 else out)
