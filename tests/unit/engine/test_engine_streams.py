"""Container output: frames, the json-file log, the attach hub and the FIFO copier (engine/streams.py)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dockyard.engine import streams
from dockyard.engine.streams import STDERR, STDOUT, JsonFileLog, StreamHub


def log_entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


# -- frame ---------------------------------------------------------------------------


def test_frame_is_stream_three_zeros_big_endian_size_then_payload() -> None:
    assert streams.frame(STDOUT, b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    assert streams.frame(STDERR, b"") == b"\x02\x00\x00\x00\x00\x00\x00\x00"
    big = streams.frame(STDOUT, b"x" * 70000)
    assert big[4:8] == (70000).to_bytes(4, "big") and len(big) == 8 + 70000


# -- JsonFileLog -------------------------------------------------------------------------


def test_one_json_object_per_output_line(tmp_path: Path) -> None:
    log = JsonFileLog(tmp_path / "c" / "c-json.log")
    log.write(STDOUT, b"one\ntwo\n")
    log.write(STDERR, b"oops\n")
    log.close()
    entries = log_entries(tmp_path / "c" / "c-json.log")
    assert [(e["stream"], e["log"]) for e in entries] == [("stdout", "one\n"), ("stdout", "two\n"),
                                                          ("stderr", "oops\n")]
    for e in entries:
        assert e["time"].endswith("Z") and "T" in e["time"]


def test_partial_lines_wait_for_their_newline_per_stream(tmp_path: Path) -> None:
    path = tmp_path / "log"
    log = JsonFileLog(path)
    log.write(STDOUT, b"hel")
    log.write(STDERR, b"err-")
    assert path.read_bytes() == b""
    log.write(STDOUT, b"lo\nwor")
    assert [(e["stream"], e["log"]) for e in log_entries(path)] == [("stdout", "hello\n")]
    log.write(STDERR, b"line\n")
    log.close()
    assert [(e["stream"], e["log"]) for e in log_entries(path)] == [
        ("stdout", "hello\n"), ("stderr", "err-line\n"), ("stdout", "wor")]


def test_close_flushes_a_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "log"
    log = JsonFileLog(path)
    log.write(STDOUT, b"no newline")
    log.close()
    assert [e["log"] for e in log_entries(path)] == ["no newline"]


def test_log_appends_across_runs_and_keeps_unicode(tmp_path: Path) -> None:
    path = tmp_path / "log"
    for text in ("first\n", "zweite Zeile \u00e4\n"):
        log = JsonFileLog(path)
        log.write(STDOUT, text.encode())
        log.close()
    assert [e["log"] for e in log_entries(path)] == ["first\n", "zweite Zeile \u00e4\n"]


# -- read_log --------------------------------------------------------------------------


def write_log(path: Path) -> None:
    log = JsonFileLog(path)
    for i in range(5):
        log.write(STDOUT, f"out{i}\n".encode())
        log.write(STDERR, f"err{i}\n".encode())
    log.close()


def test_read_log_filters_streams(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_log(path)
    out = streams.read_log(path, stdout=True, stderr=False, tail=None)
    assert [(s, d) for s, d, _ in out] == [(STDOUT, f"out{i}\n".encode()) for i in range(5)]
    err = streams.read_log(path, stdout=False, stderr=True, tail=None)
    assert {s for s, _, _ in err} == {STDERR}
    assert len(streams.read_log(path, stdout=True, stderr=True, tail=None)) == 10
    assert streams.read_log(path, stdout=False, stderr=False, tail=None) == []


def test_read_log_tail_keeps_the_last_entries(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_log(path)
    assert [d for _, d, _ in streams.read_log(path, True, True, tail=3)] == [b"err3\n", b"out4\n", b"err4\n"]
    assert streams.read_log(path, True, True, tail=0) == []
    assert len(streams.read_log(path, True, True, tail=100)) == 10


def test_read_log_returns_times_and_skips_garbage(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_log(path)
    with open(path, "ab") as f:
        f.write(b"not json\n")
    entries = streams.read_log(path, True, False, tail=None)
    assert len(entries) == 5
    assert all(t.endswith("Z") for _, _, t in entries)


def test_read_log_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert streams.read_log(tmp_path / "none", True, True, None) == []


# -- StreamHub -------------------------------------------------------------------------------


def test_hub_fans_out_to_every_subscriber_then_ends_them() -> None:
    async def scenario() -> None:
        hub = StreamHub()
        a, b = hub.subscribe(), hub.subscribe()
        hub.publish(STDOUT, b"x")
        hub.unsubscribe(b)
        hub.publish(STDERR, b"y")
        hub.close_all()
        assert [a.get_nowait() for _ in range(3)] == [(STDOUT, b"x"), (STDERR, b"y"), None]
        assert [b.get_nowait()] == [(STDOUT, b"x")]
        assert b.empty()
        assert hub.subscribers == []
        hub.publish(STDOUT, b"after close")  # nobody left: no error, nothing queued
        assert a.empty()
        hub.unsubscribe(a)  # unsubscribing twice is harmless

    asyncio.run(scenario())


def test_a_waiting_subscriber_wakes_on_publish() -> None:
    async def scenario() -> list[tuple[int, bytes] | None]:
        hub = StreamHub()
        q = hub.subscribe()

        async def reader() -> list[tuple[int, bytes] | None]:
            got: list[tuple[int, bytes] | None] = []
            while (item := await q.get()) is not None:
                got.append(item)
            got.append(None)
            return got

        task = asyncio.create_task(reader())
        await asyncio.sleep(0)
        hub.publish(STDOUT, b"a")
        await asyncio.sleep(0)
        hub.publish(STDOUT, b"b")
        hub.close_all()
        return await asyncio.wait_for(task, 2)

    assert asyncio.run(scenario()) == [(STDOUT, b"a"), (STDOUT, b"b"), None]


# -- open_fifo and copy_output ----------------------------------------------------------------


def test_open_fifo_makes_a_fresh_fifo_and_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / "stdout"
    path.write_text("a stale regular file")
    fifo = streams.open_fifo(path)
    try:
        import stat

        assert stat.S_ISFIFO(os.stat(path).st_mode)
        assert os.get_blocking(fifo.fd) is False
        assert os.get_inheritable(fifo.fd) is False
    finally:
        fifo.close()


def test_a_fifo_is_closed_once_even_when_its_number_is_reused(tmp_path: Path) -> None:
    """The double close of issue 13: a second close must not hit what got the number since."""
    fifo = streams.open_fifo(tmp_path / "stdout")
    number = fifo.fd
    fifo.close()
    other = os.open(os.devnull, os.O_RDONLY)  # the lowest free number: the one just closed
    try:
        assert other == number
        fifo.close()
        os.fstat(other)  # still open
        assert fifo.closed
    finally:
        os.close(other)


def test_a_copier_cancelled_before_or_while_running_closes_each_fifo_once(tmp_path: Path) -> None:
    async def scenario(yield_first: bool) -> asyncio.Task[None]:
        fifos = {STDOUT: streams.open_fifo(tmp_path / "o"), STDERR: streams.open_fifo(tmp_path / "e")}
        numbers = [f.fd for f in fifos.values()]
        task = asyncio.create_task(streams.copy_output(fifos, StreamHub(), JsonFileLog(tmp_path / "log")))
        if yield_first:
            await asyncio.sleep(0.05)  # the pumps wait for data now
        task.cancel()
        for f in fifos.values():  # what a failed start does: close what it opened
            f.close()
        reused = [os.open(os.devnull, os.O_RDONLY) for _ in numbers]  # take the numbers again
        await asyncio.gather(task, return_exceptions=True)
        try:
            for fd in reused:
                os.fstat(fd)  # the cancelled copier closed none of them
        finally:
            for fd in reused:
                os.close(fd)
        return task

    for yield_first in (False, True):
        task = asyncio.run(scenario(yield_first))
        assert task.cancelled(), task  # cancelled, not failed with EBADF


def test_a_lines_subscriber_gets_one_line_per_item() -> None:
    async def scenario() -> list[tuple[int, bytes] | None]:
        hub = StreamHub()
        q = hub.subscribe(lines=True)
        hub.publish(STDOUT, b"a\nb\nc")
        hub.publish(STDERR, b"x\n")
        hub.publish(STDOUT, b"d\ne")
        hub.close_all()
        return [q.get_nowait() for _ in range(q.qsize())]

    assert asyncio.run(scenario()) == [(STDOUT, b"a\n"), (STDOUT, b"b\n"), (STDERR, b"x\n"), (STDOUT, b"cd\n"),
                                       (STDOUT, b"e"), None]


def writer(path: Path, pieces: list[bytes]) -> threading.Thread:
    """A container stand-in: opens the FIFO's write end, writes in pieces, closes it."""

    def run() -> None:
        with open(path, "wb", buffering=0) as f:
            for piece in pieces:
                f.write(piece)
                time.sleep(0.01)

    return threading.Thread(target=run, daemon=True)


def test_copy_output_reaches_log_and_hub_and_ends_at_eof(tmp_path: Path) -> None:
    out_path, err_path, log_path = tmp_path / "stdout", tmp_path / "stderr", tmp_path / "c-json.log"

    async def scenario() -> list[tuple[int, bytes] | None]:
        fds = {STDOUT: streams.open_fifo(out_path), STDERR: streams.open_fifo(err_path)}
        hub = StreamHub()
        q = hub.subscribe()
        threads = [writer(out_path, [b"hello\nwor", b"ld\n", b"tail"]), writer(err_path, [b"bad\n"])]
        for t in threads:
            t.start()
        await asyncio.wait_for(streams.copy_output(fds, hub, JsonFileLog(log_path)), 5)
        for t in threads:
            t.join(2)
        items: list[tuple[int, bytes] | None] = []
        while not q.empty():
            items.append(q.get_nowait())
        return items

    items = asyncio.run(scenario())
    published = {s: b"".join(d for st, d in (i for i in items if i is not None) if st == s) for s in (STDOUT, STDERR)}
    assert published == {STDOUT: b"hello\nworld\ntail", STDERR: b"bad\n"}
    entries = log_entries(log_path)
    assert [e["log"] for e in entries if e["stream"] == "stdout"] == ["hello\n", "world\n", "tail"]
    assert [e["log"] for e in entries if e["stream"] == "stderr"] == ["bad\n"]


def test_copy_output_closes_its_fds(tmp_path: Path) -> None:
    path = tmp_path / "stdout"

    async def scenario() -> tuple[streams.OutputFifo, int]:
        fifo = streams.open_fifo(path)
        fd = fifo.fd
        t = writer(path, [b"x\n"])
        t.start()
        await asyncio.wait_for(streams.copy_output({STDOUT: fifo}, StreamHub(), JsonFileLog(tmp_path / "log")), 5)
        t.join(2)
        return fifo, fd

    fifo, fd = asyncio.run(scenario())
    assert fifo.closed
    with pytest.raises(OSError):
        os.fstat(fd)


def test_copy_output_waits_for_a_writer_that_comes_late(tmp_path: Path) -> None:
    """Before any writer opens the FIFO there is no EOF: the copy waits for the container."""
    path = tmp_path / "stdout"

    async def scenario() -> bytes:
        fd = streams.open_fifo(path)
        hub = StreamHub()
        q = hub.subscribe()
        copy = asyncio.create_task(streams.copy_output({STDOUT: fd}, hub, JsonFileLog(tmp_path / "log")))
        await asyncio.sleep(0.1)
        assert not copy.done()
        t = writer(path, [b"late\n"])
        t.start()
        await asyncio.wait_for(copy, 5)
        t.join(2)
        item = q.get_nowait()
        assert item is not None
        return item[1]

    assert asyncio.run(scenario()) == b"late\n"


def test_catch_up_puts_what_was_written_in_the_log_before_the_copier_runs(tmp_path: Path) -> None:
    """A log read right after the container wrote (the event loop has not yet run the copier) sees
    the output: ``docker start`` then ``docker logs`` of a short command (docker-py's build tests)."""
    path, log_path = tmp_path / "stdout", tmp_path / "c-json.log"

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], bytes]:
        fifo = streams.open_fifo(path)
        hub = StreamHub()
        log = JsonFileLog(log_path)
        copy = asyncio.create_task(streams.copy_output({STDOUT: fifo}, hub, log))
        await asyncio.sleep(0.05)  # the copier waits on the empty FIFO
        wfd = os.open(path, os.O_WRONLY)
        os.write(wfd, b"file.txt\n")
        before = log_entries(log_path)
        hub.catch_up()  # no await between the write and the read: only catch_up copies
        after = log_entries(log_path)
        q = hub.subscribe()
        os.write(wfd, b"more\n")
        os.close(wfd)
        await asyncio.wait_for(copy, 5)
        item = q.get_nowait()
        return before, after, item[1] if item else b""

    before, after, later = asyncio.run(scenario())
    assert before == []
    assert [e["log"] for e in after] == ["file.txt\n"]
    assert later == b"more\n"  # the copier goes on after a catch-up, and copies nothing twice
    assert [e["log"] for e in log_entries(log_path)] == ["file.txt\n", "more\n"]


def test_catch_up_without_a_running_copier_does_nothing() -> None:
    StreamHub().catch_up()


def test_json_file_lines_are_dockers_compact_json_whatever_the_text(tmp_path: Path) -> None:
    import json

    from dockyard.engine.streams import STDERR, STDOUT, JsonFileLog

    log = JsonFileLog(tmp_path / "c-json.log")
    texts = ['quote " back \\ tab \t ctl \x01', "ü € 😀 \u2028", "plain"]
    log.write(STDOUT, "\n".join(texts).encode() + b"\n" + b"bad \xff utf8\n")
    log.write(STDERR, b"no newline at the end")
    log.close()
    lines = (tmp_path / "c-json.log").read_bytes().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["log"] for e in entries] == [t + "\n" for t in texts] + ["bad \ufffd utf8\n", "no newline at the end"]
    assert [e["stream"] for e in entries] == ["stdout"] * 4 + ["stderr"]
    assert all(line.startswith(b'{"log":"') and b'","stream":"' in line and line.endswith(b'Z"}') for line in lines)
    assert "😀".encode() in lines[1]  # non-ASCII kept as UTF-8, as Docker writes it
