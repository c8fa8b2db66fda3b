"""``compose watch`` finds changes by inotify (no walk of the tree while nothing changes), and the
ctypes inotify it uses reports creations, writes and deletions."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dockyard.compose import inotify, watch


def test_inotify_reports_create_write_delete(tmp_path: Path) -> None:
    notify = inotify.Inotify()
    try:
        wd = notify.add(str(tmp_path))
        assert wd is not None
        assert notify.read(0.05) == []
        (tmp_path / "f").write_text("x")
        (tmp_path / "f").unlink()
        events = notify.read(1.0)
        masks = {m for w, m, name in events if w == wd and name == "f"}
        assert any(m & inotify.IN_CREATE for m in masks)
        assert any(m & inotify.IN_CLOSE_WRITE for m in masks)
        assert any(m & inotify.IN_DELETE for m in masks)
        assert notify.add(str(tmp_path / "missing")) is None
    finally:
        notify.close()


def test_wake_ends_a_blocked_read(tmp_path: Path) -> None:
    notify = inotify.Inotify()
    try:
        notify.add(str(tmp_path))
        threading.Timer(0.1, notify.wake).start()
        start = time.monotonic()
        assert notify.read(10.0) == []
        assert time.monotonic() - start < 5
    finally:
        notify.close()


class _Project:
    def __init__(self, services: dict[str, Any]) -> None:
        self.services = services


class _Compose:
    def __init__(self, trigger: dict[str, Any]) -> None:
        self.project = _Project({"web": {"develop": {"watch": [trigger]}}})
        self.lines: list[str] = []

    def need_project(self) -> _Project:
        return self.project

    def out(self, line: str) -> None:
        self.lines.append(line)


def _running(w: watch.Watch) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    t = threading.Thread(target=w.run, args=(stop,), daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while not w.mode and time.monotonic() < deadline:
        time.sleep(0.01)
    return stop, t


def test_watch_acts_on_inotify_events_and_walks_nothing_while_idle(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "keep.txt").write_text("1")
    walks: list[str] = []
    real = watch.snapshot
    monkeypatch.setattr(watch, "snapshot", lambda t, *rest: walks.append(t["path"]) or real(t, *rest))
    cp = _Compose({"path": str(src), "action": "sync", "target": "/app", "ignore": ["sub/ignored"]})
    w = watch.Watch(cp, None)  # type: ignore[arg-type]
    acted: list[tuple[str, list[str], list[str]]] = []
    w.act = lambda service, trigger, changed, deleted: acted.append((service, changed, deleted))  # type: ignore[method-assign]
    stop, t = _running(w)
    try:
        assert w.mode == "inotify"
        time.sleep(1.0)  # idle: the old loop walked the tree every 0.3 s
        assert len(walks) == 1, walks
        (src / "sub" / "new.txt").write_text("2")
        (src / "keep.txt").unlink()
        deadline = time.monotonic() + 5
        while not acted and time.monotonic() < deadline:
            time.sleep(0.02)
        assert acted == [("web", [os.path.join("sub", "new.txt")], ["keep.txt"])]
        (src / "sub" / "deeper").mkdir()  # a directory made after the start is watched too
        time.sleep(0.3)
        (src / "sub" / "deeper" / "x").write_text("3")
        deadline = time.monotonic() + 5
        while len(acted) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert acted[-1] == ("web", [os.path.join("sub", "deeper", "x")], [])
    finally:
        stop.set()
        w.wake()
        t.join(5)
    assert not t.is_alive()
    assert cp.lines == ["Watch enabled"]


def test_watch_polls_where_inotify_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> None:
        raise inotify.Unavailable(38, "no inotify")

    monkeypatch.setattr(watch, "Inotify", unavailable)
    (tmp_path / "a").write_text("1")
    cp = _Compose({"path": str(tmp_path), "action": "sync", "target": "/app"})
    w = watch.Watch(cp, None, interval=0.05)  # type: ignore[arg-type]
    acted: list[list[str]] = []
    w.act = lambda service, trigger, changed, deleted: acted.append(changed)  # type: ignore[method-assign]
    stop, t = _running(w)
    try:
        assert w.mode == "polling"
        (tmp_path / "b").write_text("2")
        deadline = time.monotonic() + 5
        while not acted and time.monotonic() < deadline:
            time.sleep(0.02)
        assert acted == [["b"]]
    finally:
        stop.set()
        t.join(5)
    assert not t.is_alive()
