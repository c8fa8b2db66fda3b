"""json-file rotation, tail read from the end, --since; the event bus filters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.engine import streams
from dockyard.engine.events import EventBus, matches
from dockyard.engine.streams import STDERR, STDOUT, JsonFileLog, parse_size, read_log


def test_sizes_in_docker_units() -> None:
    assert parse_size("10m") == 10 << 20
    assert parse_size("512k") == 512 << 10
    assert parse_size("1g") == 1 << 30
    assert parse_size("100") == 100


def test_rotation_keeps_max_file_files_and_reads_across_them(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    log = JsonFileLog(path, max_size=200, max_file=3)
    for i in range(40):
        log.write(STDOUT, f"line-{i}\n".encode())
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["c-json.log", "c-json.log.1", "c-json.log.2"]
    assert all(p.stat().st_size <= 200 for p in tmp_path.iterdir())
    lines = [d.decode() for _, d, _ in read_log(path, True, True, None)]
    assert lines[-1] == "line-39\n"
    assert lines == [f"line-{i}\n" for i in range(40 - len(lines), 40)]  # oldest rotated away, order kept
    assert [d for _, d, _ in read_log(path, True, True, 5)] == [f"line-{i}\n".encode() for i in range(35, 40)]


def test_tail_reads_only_the_end_of_a_big_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big-json.log"
    log = JsonFileLog(path)
    for i in range(20000):
        log.write(STDERR if i % 2 else STDOUT, f"{i}\n".encode())
    log.close()
    seen: list[int] = []
    real_open = open

    class Counting:
        def __init__(self, f):  # type: ignore[no-untyped-def]
            self.f = f

        def __enter__(self):  # type: ignore[no-untyped-def]
            return self

        def __exit__(self, *a):  # type: ignore[no-untyped-def]
            self.f.close()

        def read(self, n: int = -1) -> bytes:
            data = self.f.read(n)
            seen.append(len(data))
            return data

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(self.f, name)

    monkeypatch.setattr(streams, "open", lambda p, m="r", *a, **k: Counting(real_open(p, m, *a, **k)),
                        raising=False)
    out = read_log(path, True, True, 3)
    assert [d for _, d, _ in out] == [b"19997\n", b"19998\n", b"19999\n"]
    assert sum(seen) < path.stat().st_size // 10


def test_since_and_until_filter_by_entry_time(tmp_path: Path) -> None:
    path = tmp_path / "t-json.log"
    path.write_text("".join(json.dumps({"log": f"{n}\n", "stream": "stdout", "time": t}) + "\n" for n, t in (
        ("early", "2024-01-01T00:00:00.5Z"), ("late", "2024-01-01T00:00:10.123456789Z"))))
    base = 1704067200.0
    assert [d for _, d, _ in read_log(path, True, False, None, since=base + 5)] == [b"late\n"]
    assert [d for _, d, _ in read_log(path, True, False, None, until=base + 5)] == [b"early\n"]


def test_event_filters_and_the_from_field() -> None:
    bus = EventBus()
    q = bus.subscribe()
    ev = bus.publish("container", "die", "abc123", {"name": "web", "image": "busybox", "exitCode": "1", "app": "x"})
    assert q.get_nowait() is ev
    assert ev["from"] == "busybox" and ev["status"] == "die"
    assert matches(ev, {"container": ["web"], "event": ["die", "start"]})
    assert matches(ev, {"container": ["abc"], "label": ["app=x"]})
    assert not matches(ev, {"container": ["other"]})
    assert not matches(ev, {"type": ["image"]})
    assert not matches(ev, {"label": ["app=y"]})
    assert matches(bus.publish("container", "exec_start: sh", "abc123"), {"event": ["exec_start"]})
