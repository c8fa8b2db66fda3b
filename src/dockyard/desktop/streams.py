"""Server push: the engine's streams relayed to the browser as Server-Sent Events.

One upstream stream per open view (the events feed, one container's logs or stats), held only
while the browser listens; nothing is polled. An idle stream sends a comment every
``KEEPALIVE`` seconds, so a browser that went away is noticed and its upstream closed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.cli.credentials import registry_auth
from dockyard.cli.errors import CLIError
from dockyard.desktop.api import engine, ref_of, split_reference

KEEPALIVE = 25.0


async def _open(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    return resp


async def relay(request: web.Request, source: AsyncIterator[Any], event: str) -> web.StreamResponse:
    """Each item of ``source`` as one SSE message (JSON data); an error ends the stream with an ``error`` event."""
    resp = await _open(request)
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            pending = pending or asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE)
            if not done:
                await resp.write(b": keepalive\n\n")
                continue
            task, pending = pending, None
            try:
                item = task.result()
            except StopAsyncIteration:
                await resp.write(b"event: end\ndata: {}\n\n")
                break
            await resp.write(f"event: {event}\ndata: {json.dumps(item)}\n\n".encode())
    except errors.DockyardError as err:
        await resp.write(f"event: error\ndata: {json.dumps({'message': str(err)})}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        await _close(source, pending)
    return resp


async def _close(source: AsyncIterator[Any], pending: asyncio.Future[Any] | None) -> None:
    """Stop the upstream: the step under way first (a running generator cannot be closed)."""
    if pending is not None:
        pending.cancel()
        await asyncio.wait({pending})
    await source.aclose()  # type: ignore[attr-defined]


async def events(request: web.Request) -> web.StreamResponse:
    return await relay(request, engine(request).lines("GET", "/events"), "engine")


def _cpu_percent(s: dict[str, Any]) -> float:
    cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    used = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    if used <= 0 or system <= 0:
        return 0.0
    return round(used / system * (cpu.get("online_cpus") or 1) * 100, 2)


def stats_point(s: dict[str, Any]) -> dict[str, Any]:
    mem = s.get("memory_stats") or {}
    return {"cpu": _cpu_percent(s), "mem": mem.get("usage", 0), "limit": mem.get("limit", 0),
            "pids": (s.get("pids_stats") or {}).get("current", 0)}


async def _stats(request: web.Request) -> AsyncIterator[dict[str, Any]]:
    async for s in engine(request).lines("GET", f"/containers/{request.match_info['id']}/stats", {"stream": "1"}):
        yield stats_point(s)


async def stats(request: web.Request) -> web.StreamResponse:
    return await relay(request, _stats(request), "stats")


MAX_FAN_IN = 64


async def _fan_in(request: web.Request, ids: list[str]) -> AsyncIterator[dict[str, Any]]:
    """The stats streams of several containers as one: ``{"id", ...point}``, or ``{"id", "gone"}``
    when a container's stream ends (it stopped or was removed)."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def one(cid: str) -> None:
        try:
            async for s in engine(request).lines("GET", f"/containers/{cid}/stats", {"stream": "1"}):
                await queue.put({"id": cid, **stats_point(s)})
        except errors.DockyardError as err:
            await queue.put({"id": cid, "gone": str(err)})
        else:
            await queue.put({"id": cid, "gone": "stream ended"})

    tasks = [asyncio.ensure_future(one(cid)) for cid in ids]
    try:
        while True:
            yield await queue.get()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def fan_in_stats(request: web.Request) -> web.StreamResponse:
    """GET /api/stats?id=..&id=..: the list view's CPU and memory, one SSE stream for all its rows."""
    ids = list(dict.fromkeys(request.query.getall("id", [])))
    if not ids or len(ids) > MAX_FAN_IN:
        raise errors.InvalidArgument(f"between 1 and {MAX_FAN_IN} container ids, as id=...")
    return await relay(request, _fan_in(request, ids), "stats")


async def _logs(request: web.Request) -> AsyncIterator[dict[str, Any]]:
    cid = request.match_info["id"]
    info = await engine(request).call("GET", f"/containers/{cid}/json")
    params = {"stdout": "1", "stderr": "1", "follow": "1", "timestamps": "1",
              "tail": request.query.get("tail", "500")}
    async for stream, data in engine(request).logs(cid, bool(info["Config"].get("Tty")), params):
        yield {"stream": stream, "text": data.decode(errors="replace")}


async def logs(request: web.Request) -> web.StreamResponse:
    return await relay(request, _logs(request), "log")


def registry_of(name: str) -> str:
    """The registry a repository name lives on, as the CLI keys its credentials (docker.io by default)."""
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


async def credentials(name: str) -> dict[str, str]:
    """``X-Registry-Auth`` from what ``dockyard login`` stored (config.json or its credential
    helper, which may run a program: off the event loop); none stored is an anonymous request."""
    try:
        return {"X-Registry-Auth": await asyncio.to_thread(registry_auth, registry_of(name))}
    except (CLIError, OSError, ValueError) as err:
        raise errors.Unavailable(f"cannot read the credentials for {registry_of(name)}: {err}") from err


async def _progress(request: web.Request, path: str, params: dict[str, Any], name: str) -> web.StreamResponse:
    """The engine's progress messages (pull, push) as NDJSON, as it sends them; an HTTP error of the
    engine (a bad reference) is one before the stream starts."""
    source = engine(request).lines("POST", path, params, headers=await credentials(name))
    try:
        first = await anext(source, None)
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        if first is not None:
            await resp.write(json.dumps(first).encode() + b"\n")
        async for message in source:
            await resp.write(json.dumps(message).encode() + b"\n")
    finally:
        await source.aclose()  # type: ignore[attr-defined]
    await resp.write_eof()
    return resp


async def pull(request: web.Request) -> web.StreamResponse:
    """POST {"ref": ...}: pull, with the credentials ``dockyard login`` stored for its registry."""
    name, tag = split_reference(await ref_of(request))
    return await _progress(request, "/images/create", {"fromImage": name, "tag": tag or None}, name)


async def push(request: web.Request) -> web.StreamResponse:
    """POST {"ref": ...}: push a tag the engine has, with the stored credentials."""
    name, tag = split_reference(await ref_of(request))
    return await _progress(request, f"/images/{name}/push", {"tag": tag or None}, name)


def register(app: web.Application) -> None:
    app.router.add_get("/api/events", events)
    app.router.add_get("/api/stats", fan_in_stats)
    app.router.add_get("/api/containers/{id}/stats", stats)
    app.router.add_get("/api/containers/{id}/logs", logs)
    app.router.add_post("/api/pull", pull)
    app.router.add_post("/api/push", push)
