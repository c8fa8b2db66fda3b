"""``logs -f`` that arrives after a container wrote a last line without newline but before its exit:
that line is in neither the log file (the json-file log holds it until the line ends or the output
closes) nor the follower's queue (published before it subscribed). The copier lets a new ``lines``
subscriber start from the log's unterminated line (moby's TestRunMountImage: ``cat`` of a file
without newline, read with ``logs --follow`` at once, came back empty)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from dockyard.engine import streams
from dockyard.engine.streams import STDOUT, JsonFileLog, StreamHub, read_log


def test_a_follower_after_an_unterminated_line_still_gets_it(tmp_path: Path) -> None:
    out_path, log_path = tmp_path / "stdout", tmp_path / "c-json.log"

    async def scenario() -> tuple[list[bytes], list[tuple[int, bytes] | None]]:
        fifo = streams.open_fifo(out_path)
        hub, log = StreamHub(), JsonFileLog(log_path)
        copier = asyncio.create_task(streams.copy_output({STDOUT: fifo}, hub, log))
        w = os.open(out_path, os.O_WRONLY)
        os.write(w, b"bar")
        for _ in range(200):
            if log.partial:
                break
            await asyncio.sleep(0.01)
        assert log.partial == {STDOUT: b"bar"}
        in_file = [data for _, data, _ in read_log(log_path, True, True, None)]
        q = hub.subscribe(lines=True)  # what GET /containers/{id}/logs?follow=1 does
        os.close(w)
        await asyncio.wait_for(copier, 5)
        hub.close_all()
        return in_file, [q.get_nowait() for _ in range(q.qsize())]

    in_file, followed = asyncio.run(scenario())
    assert in_file == []
    assert followed == [(STDOUT, b"bar"), None]
