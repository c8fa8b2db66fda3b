"""Volume routes: list, create, inspect, remove, prune (thin over VolumeService)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.engine.api import decode
from dockyard.engine.api.app import add, engine


def _filters(request: web.Request) -> dict[str, list[str]]:
    raw = request.query.get("filters")
    if not raw:
        return {}
    data = json.loads(raw)
    return {k: (list(v) if isinstance(v, (dict, list)) else [v]) for k, v in data.items()}


async def list_volumes(request: web.Request) -> web.Response:
    svc = engine(request).volumes
    filters = _filters(request)
    out = []
    for v in svc.list():
        if "name" in filters and not any(f in v["Name"] for f in filters["name"]):
            continue
        if "driver" in filters and v["Driver"] not in filters["driver"]:
            continue
        if "dangling" in filters:
            dangling = not svc.users(v["Name"])
            if not any((f.lower() in ("true", "1")) == dangling for f in filters["dangling"]):
                continue
        labels = v.get("Labels") or {}
        if any(k not in labels or (val and labels[k] != val)
               for k, _, val in (f.partition("=") for f in filters.get("label", []))):
            continue
        out.append(v)
    return web.json_response({"Volumes": out, "Warnings": []})


async def create(request: web.Request) -> web.Response:
    try:
        body: Any = await request.json() if request.can_read_body else {}
    except ValueError as err:
        raise errors.InvalidArgument(f"invalid JSON body: {err}") from err
    if not isinstance(body, dict):
        raise errors.InvalidArgument("body must be a JSON object")
    body = decode.check(decode.VOLUME_CREATE, body, "CreateOptions")
    v = engine(request).volumes.create(body.get("Name") or "", body.get("Labels") or {},
                                       body.get("DriverOpts") or {}, body.get("Driver") or "local")
    return web.json_response(v, status=201)


async def inspect(request: web.Request) -> web.Response:
    return web.json_response(engine(request).volumes.inspect(request.match_info["name"]))


async def delete(request: web.Request) -> web.Response:
    force = request.query.get("force", "").lower() in ("1", "true")
    engine(request).volumes.remove(request.match_info["name"], force)
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    filters = _filters(request)
    all_volumes = any(v.lower() in ("1", "true") for v in filters.get("all", []))
    gone, space = engine(request).volumes.prune(all_volumes, filters.get("label", []))
    return web.json_response({"VolumesDeleted": gone, "SpaceReclaimed": space})


def register(app: web.Application) -> None:
    add(app, "GET", "/volumes", list_volumes)
    add(app, "POST", "/volumes/create", create)
    add(app, "POST", "/volumes/prune", prune)
    add(app, "GET", "/volumes/{name}", inspect)
    add(app, "DELETE", "/volumes/{name}", delete)
