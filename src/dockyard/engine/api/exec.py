"""Exec routes: create, start (hijacked like attach, or detached), resize, inspect."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dockyard import errors
from dockyard.api import pb
from dockyard.engine import detachkeys, execs, validate
from dockyard.engine.api import decode
from dockyard.engine.api.app import add, engine
from dockyard.engine.api.containers import hijack, pump_in, pump_out, settle
from dockyard.engine.detachkeys import Scanner
from dockyard.engine.streams import frame


async def create(request: web.Request) -> web.Response:
    body = decode.check(decode.EXEC_CREATE, await decode.read_json(request) or {}, "ExecConfig")
    validate.exec_create(body)
    user = await execs.check_user(engine(request), request.match_info["id"], body.get("User") or "")
    e = execs.create(engine(request), request.match_info["id"], body, user)
    return web.json_response({"Id": e.id}, status=201)


async def start(request: web.Request) -> web.StreamResponse:
    body = await decode.read_object(request, decode.EXEC_START, "ExecStartCheck")  # before the lookup, as dockerd
    eng = engine(request)
    e = execs.get(eng, request.match_info["id"])
    # As dockerd: the process gets the TTY of exec create; the start body's Tty only says whether the
    # stream is raw or multiplexed (docker-py starts a TTY exec with Tty false and demultiplexes).
    tty = bool(e.config.get("Tty"))
    raw = bool(body.get("Tty", tty))
    if body.get("ConsoleSize"):
        e.config["ConsoleSize"] = body["ConsoleSize"]
    if body.get("Detach"):
        await execs.start(eng, e, tty)
        return web.Response(status=200)
    q = e.hub.subscribe()
    try:
        await execs.start(eng, e, tty)
    except errors.DockyardError as err:
        e.hub.unsubscribe(q)
        if not e.done.is_set():
            raise
        # the process could not start (126/127 in inspect): dockerd has hijacked by then and says so in-stream
        return await _start_failed(request, raw, f"{err}\r\n".encode())
    resp, transport, hijacked = await hijack(request, raw)
    if transport is None or hijacked is None:
        return resp
    feeder = None
    if e.config.get("AttachStdin") and e.stdin is not None:
        async def ready() -> None:
            return None

        keys = e.config.get("DetachKeys") or e.config.get("detachKeys") or detachkeys.DEFAULT  # docker-py: detachKeys
        scanner = Scanner(detachkeys.parse(keys)) if tty else None
        feeder = asyncio.create_task(pump_in(hijacked, ready, lambda: e.stdin, True, scanner))
    try:
        await settle(request)  # docker-py would lose output sent with the 101
        await pump_out(transport, hijacked, q, raw, bool(e.config.get("AttachStdout", True)),
                       bool(e.config.get("AttachStderr", True)))
        if not hijacked.detached:
            await e.done.wait()  # ExitCode is set before the client reads it after the stream ends
    finally:
        if feeder is not None:
            feeder.cancel()
        e.hub.unsubscribe(q)
        hijacked.close(transport)
    return resp


async def _start_failed(request: web.Request, raw: bool, message: bytes) -> web.StreamResponse:
    resp, transport, hijacked = await hijack(request, raw)
    if transport is not None and hijacked is not None:
        await settle(request)
        transport.write(message if raw else frame(1, message))
        hijacked.close(transport)
    return resp


async def resize(request: web.Request) -> web.Response:
    h, w = validate.resize(request.query)
    eng = engine(request)
    e = execs.get(eng, request.match_info["id"])
    c = eng.containers.get(e.container_id)
    if c is None or not c.state.running:  # dockerd's getExecConfig
        raise errors.Conflict(f"Container {e.container_id} is not running")
    if e.running and e.config.get("Tty") and h and w:
        await eng.cd.tasks.ResizePty(pb.ResizePtyRequest(container_id=e.container_id, exec_id=e.id, width=w,
                                                         height=h))
    return web.Response(status=200)


async def inspect(request: web.Request) -> web.Response:
    eng = engine(request)
    e = execs.get(eng, request.match_info["id"])
    return web.json_response(e.inspect())


def register(app: web.Application) -> None:
    add(app, "POST", "/containers/{id}/exec", create)
    add(app, "POST", "/exec/{id}/start", start)
    add(app, "POST", "/exec/{id}/resize", resize)
    add(app, "GET", "/exec/{id}/json", inspect)
