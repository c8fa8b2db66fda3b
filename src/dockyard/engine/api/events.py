"""GET /events: the engine's event bus, with --since/--until over its history and filters."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from dockyard.engine.api import versions
from dockyard.engine.api.app import add, engine, version_of
from dockyard.engine.api.filters import parse as parse_filters
from dockyard.engine.events import matches
from dockyard.timefmt import parse_rfc3339


def _ts(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return float(value)
    except ValueError:
        return parse_rfc3339(value)


async def events(request: web.Request) -> web.StreamResponse:
    bus = engine(request).events
    since, until = _ts(request.query.get("since")), _ts(request.query.get("until"))
    filters = parse_filters(request.query.get("filters"))
    version = version_of(request)
    content_type = versions.events_content_type(request.headers.get("Accept", ""), version)
    q = bus.subscribe()  # before the history is replayed, so nothing falls between the two
    resp = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    await resp.prepare(request)
    sent = set()

    async def send(ev: dict) -> None:  # type: ignore[type-arg]
        shown = versions.event(ev, version)
        if shown is not None:
            await resp.write(versions.encode_event(shown, content_type))

    def wanted(ev: dict) -> bool:  # type: ignore[type-arg]
        t = ev["timeNano"] / 1e9
        return (not since or t >= since) and (not until or t <= until) and matches(ev, filters)

    try:
        if since:
            for ev in list(bus.history):
                if wanted(ev):
                    sent.add(id(ev))
                    await send(ev)
        while True:
            timeout = None
            if until:
                timeout = until - time.time()
                if timeout <= 0:
                    break
            try:
                ev = await asyncio.wait_for(q.get(), timeout)
            except TimeoutError:
                break
            if id(ev) not in sent and wanted(ev):
                await send(ev)
    except ConnectionResetError:
        pass
    finally:
        bus.unsubscribe(q)
    await resp.write_eof()
    return resp


def register(app: web.Application) -> None:
    add(app, "GET", "/events", events)
