"""``GET /containers/{id}/attach/ws``: attach over a websocket, as dockerd's wsContainersAttach.

The output is never multiplexed (the websocket keeps the messages apart): binary frames from API
1.28, text before; ``stdin``/``stdout``/``stderr`` are query options from 1.42 and all on before;
``logs`` replays the log first, ``stream`` follows the live output. What the client sends goes to
the container's stdin when it has one (``OpenStdin``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import WSMsgType, web

from dockyard.engine.api.app import add, engine, version_of
from dockyard.engine.api.containers import qbool
from dockyard.engine.logs_local import read_container_log


async def attach_ws(request: web.Request) -> web.WebSocketResponse:
    eng = engine(request)
    c = eng.get(request.match_info["id"])  # a missing container is a 404 before the upgrade
    live = eng.live_of(c.id)
    version = version_of(request)
    use_in, use_out, use_err = (qbool(request, "stdin"), qbool(request, "stdout"), qbool(request, "stderr")) \
        if version >= (1, 42) else (True, True, True)
    binary = version >= (1, 28)
    q = live.hub.subscribe() if qbool(request, "stream") else None
    ws = web.WebSocketResponse()
    try:
        await ws.prepare(request)

        async def send(data: bytes) -> None:
            await (ws.send_bytes(data) if binary else ws.send_str(data.decode("utf-8", "replace")))

        async def output() -> None:
            if qbool(request, "logs"):
                for _, data, _ in read_container_log(c, eng, use_out, use_err, None):
                    await send(data)
            if q is None or not (c.state.running or c.state.status == "created"):
                return
            while (item := await q.get()) is not None:
                stream, data = item
                if (stream == 1 and use_out) or (stream == 2 and use_err):
                    await send(data)

        await _until_either(output(), _input(ws, live, use_in and c.config.open_stdin))
    finally:
        if q is not None:
            live.hub.unsubscribe(q)
        await ws.close()
    return ws


async def _input(ws: web.WebSocketResponse, live: Any, to_stdin: bool) -> None:
    """The client's messages, to the container's stdin (or dropped); ends when the client goes."""
    async for msg in ws:
        if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT) or not to_stdin:
            continue
        data = msg.data if isinstance(msg.data, bytes) else str(msg.data).encode()
        await live.stdin_ready.wait()
        if live.stdin is not None:
            await live.stdin.write(data)


async def _until_either(*coros: Any) -> None:
    """Run both; when one ends (the output is over, or the client went), the other is cancelled."""
    tasks = [asyncio.ensure_future(co) for co in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            t.result()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def register(app: web.Application) -> None:
    add(app, "GET", "/containers/{id}/attach/ws", attach_ws)
