"""A log-driver plugin written in the test from Docker's LogDriver protocol, in front of a real daemon:
StartLogging gets a FIFO of length-prefixed LogEntry protobufs (decoded here by hand), StopLogging
ends it, ReadLogs serves ``docker logs``; a driver that cannot read, or no such driver, is refused."""

from __future__ import annotations

import os
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.plugin_fakes import FakePlugin

pytestmark = pytest.mark.root


def varint(buf: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        n |= (buf[i] & 0x7F) << shift
        shift += 7
        i += 1
        if not buf[i - 1] & 0x80:
            return n, i


def parse_entry(msg: bytes) -> dict[str, Any]:
    """LogEntry: source=1 (string), time_nano=2 (int64), line=3 (bytes), partial=4 (bool)."""
    e: dict[str, Any] = {"source": "", "time_nano": 0, "line": b"", "partial": False}
    i = 0
    while i < len(msg):
        key, i = varint(msg, i)
        if key & 7 == 0:
            v, i = varint(msg, i)
            e[{2: "time_nano", 4: "partial"}[key >> 3]] = v if key >> 3 == 2 else bool(v)
        else:
            size, i = varint(msg, i)
            e[{1: "source", 3: "line"}[key >> 3]] = msg[i:i + size].decode() if key >> 3 == 1 else msg[i:i + size]
            i += size
    return e


def entry_bytes(e: dict[str, Any]) -> bytes:
    src = e["source"].encode()
    msg = b"\x0a" + bytes([len(src)]) + src + b"\x10" + encode_varint(e["time_nano"])
    msg += b"\x1a" + encode_varint(len(e["line"])) + e["line"] + (b"\x20\x01" if e["partial"] else b"")
    return struct.pack(">I", len(msg)) + msg


def encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


class LogCollector:
    """The plugin's state: entries by container, one reader thread per FIFO."""

    def __init__(self) -> None:
        self.entries: dict[str, list[dict[str, Any]]] = {}
        self.readers: dict[str, threading.Thread] = {}
        self.stopped: list[str] = []

    def start(self, a: dict[str, Any]) -> dict[str, Any]:
        got = self.entries.setdefault(a["Info"]["ContainerID"], [])

        def read() -> None:
            with open(a["File"], "rb") as f:
                while head := f.read(4):
                    got.append(parse_entry(f.read(struct.unpack(">I", head)[0])))
        self.readers[a["File"]] = threading.Thread(target=read, daemon=True)
        self.readers[a["File"]].start()
        return {"Err": ""}

    def stop(self, a: dict[str, Any]) -> dict[str, Any]:
        self.readers[a["File"]].join(timeout=10)
        self.stopped.append(a["File"])
        return {"Err": ""}

    def read(self, a: dict[str, Any]) -> bytes:
        return b"".join(entry_bytes(e) for e in self.entries.get(a["Info"]["ContainerID"], []))


@pytest.fixture(scope="module")
def env(busybox_tar: Path) -> Iterator[tuple[Daemon, LogCollector, FakePlugin]]:
    plugins = Path(tempfile.mkdtemp(prefix="dyl-", dir="/tmp"))
    logs = LogCollector()
    reader = FakePlugin(plugins / "collect.sock", ["LogDriver"], {
        "LogDriver.StartLogging": logs.start, "LogDriver.StopLogging": logs.stop,
        "LogDriver.Capabilities": lambda a: {"Cap": {"ReadLogs": True}}, "LogDriver.ReadLogs": logs.read})
    blind = FakePlugin(plugins / "blind.sock", ["LogDriver"], {
        "LogDriver.StartLogging": logs.start, "LogDriver.StopLogging": logs.stop,
        "LogDriver.Capabilities": lambda a: {"Cap": {"ReadLogs": False}}})
    volume = FakePlugin(plugins / "vol.sock", ["VolumeDriver"], {})
    base = Path(tempfile.mkdtemp(prefix="dy-", dir="/tmp"))
    d = Daemon(base)
    d.extra_args = ["--bridge-name", "none", "--plugin-dir", str(plugins), "--plugin-timeout", "2"]
    try:
        with reader, blind, volume:
            d.start()
            r = d.cli("import", "-c", 'CMD ["sh"]', str(busybox_tar), "busybox:latest")
            assert r.returncode == 0, r.stderr.decode()
            yield d, logs, reader
            d.cleanup()
    finally:
        d.cleanup()
        for f in plugins.iterdir():
            f.unlink()
        plugins.rmdir()


def run_logged(d: Daemon, driver: str, script: str) -> str:
    r = d.cli("run", "-d", "--log-driver", driver, "busybox", "sh", "-c", script)
    assert r.returncode == 0, r.stderr.decode()
    cid = r.stdout.decode().strip()
    assert d.cli("wait", cid).stdout.decode().strip() == "0"
    return cid


def test_output_reaches_the_plugin_and_logs_read_it_back(env: tuple[Daemon, LogCollector, FakePlugin]) -> None:
    d, logs, plugin = env
    cid = run_logged(d, "collect", "echo out; sleep 0.2; echo err >&2; sleep 0.2; printf tail")
    start = next(a for m, a in plugin.calls if m == "LogDriver.StartLogging" and a["Info"]["ContainerID"] == cid)
    deadline = time.monotonic() + 10
    while start["File"] not in logs.stopped and time.monotonic() < deadline:
        time.sleep(0.05)
    assert start["File"] in logs.stopped
    assert not os.path.exists(start["File"])  # the daemon removes its FIFO
    assert start["Info"]["ContainerName"].lstrip("/") and start["Info"]["ContainerEntrypoint"] == "sh"
    got = [(e["source"], e["line"], e["partial"]) for e in logs.entries[cid]]
    assert got == [("stdout", b"out", False), ("stderr", b"err", False), ("stdout", b"tail", True)]
    assert all(abs(e["time_nano"] / 1e9 - time.time()) < 60 for e in logs.entries[cid])

    r = d.cli("logs", cid)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"out\ntail" and r.stderr == b"err\n"
    assert d.cli("logs", "--tail", "1", cid).stdout == b"tail"
    assert d.cli("rm", cid).returncode == 0


def test_driver_that_cannot_read_is_refused_for_logs(env: tuple[Daemon, LogCollector, FakePlugin]) -> None:
    d, logs, _ = env
    cid = run_logged(d, "blind", "echo hidden")
    r = d.cli("logs", cid)
    assert r.returncode != 0 and "does not support reading" in r.stderr.decode()
    deadline = time.monotonic() + 10
    while not logs.entries.get(cid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e["line"] for e in logs.entries[cid]] == [b"hidden"]
    assert d.cli("rm", cid).returncode == 0


@pytest.mark.parametrize("driver", ["nope", "vol"])
def test_no_such_log_driver(env: tuple[Daemon, LogCollector, FakePlugin], driver: str) -> None:
    d, _, _ = env
    r = d.cli("create", "--log-driver", driver, "busybox", "true")
    assert r.returncode != 0
    assert f"no log driver named '{driver}' is registered" in r.stderr.decode()
