"""The terminal: a WebSocket to the browser, the hijacked stream of a TTY exec to the engine.

Browser → server: text frames of JSON, ``{"input": "..."}`` (keys) or ``{"resize": [cols, rows]}``.
Server → browser: binary frames of the TTY's output; the socket closes when the process ends."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from aiohttp import web

from dockyard import errors
from dockyard.desktop.api import engine

SHELL = ["/bin/sh"]


async def _size(request: web.Request, exec_id: str, cols: int, rows: int) -> None:
    if cols > 0 and rows > 0:
        await engine(request).call("POST", f"/exec/{exec_id}/resize", {"h": rows, "w": cols})


def _dims(text: str | None) -> int:
    try:
        return max(0, min(int(text or 0), 1000))
    except ValueError as err:
        raise errors.InvalidArgument(f"bad terminal size {text!r}") from err


async def terminal(request: web.Request) -> web.WebSocketResponse:
    cid = request.match_info["id"]
    cols, rows = _dims(request.query.get("cols")), _dims(request.query.get("rows"))
    created = await engine(request).call("POST", f"/containers/{cid}/exec", body={
        "Cmd": SHELL, "Tty": True, "AttachStdin": True, "AttachStdout": True, "AttachStderr": True,
        "Env": ["TERM=xterm"], "ConsoleSize": [rows, cols] if cols and rows else None})
    exec_id = created["Id"]
    reader, writer = await engine(request).hijack(f"/exec/{exec_id}/start", {"Detach": False, "Tty": True})
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    await _size(request, exec_id, cols, rows)
    output = asyncio.ensure_future(_pump_output(reader, ws))
    try:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            await _control(request, exec_id, writer, json.loads(msg.data))
            if output.done():
                break
    finally:
        output.cancel()
        writer.close()
        await ws.close()
    return ws


async def _control(request: web.Request, exec_id: str, writer: asyncio.StreamWriter, msg: dict) -> None:  # type: ignore[type-arg]
    if "input" in msg:
        writer.write(str(msg["input"]).encode())
        await writer.drain()
    elif "resize" in msg:
        cols, rows = msg["resize"]
        await _size(request, exec_id, _dims(str(cols)), _dims(str(rows)))


async def _pump_output(reader: asyncio.StreamReader, ws: web.WebSocketResponse) -> None:
    while data := await reader.read(65536):
        await ws.send_bytes(data)
    await ws.close()


def register(app: web.Application) -> None:
    app.router.add_get("/api/containers/{id}/terminal", terminal)
