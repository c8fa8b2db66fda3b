"""Volume routes: list, create, inspect, remove, prune (thin over VolumeService)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dockyard.engine.api import decode, filters
from dockyard.engine.api.app import add, engine, version_of
from dockyard.volumes.local import ANONYMOUS_LABEL


async def list_volumes(request: web.Request) -> web.Response:
    svc = engine(request).volumes
    wanted = filters.of(request, filters.VOLUMES)
    dangling = filters.boolean(wanted, "dangling")
    out = []
    for v in await asyncio.to_thread(svc.list):
        if wanted.get("name") and not any(f in v["Name"] for f in wanted["name"]):
            continue
        if wanted.get("driver") and v["Driver"] not in wanted["driver"]:
            continue
        if dangling is not None and dangling != (not svc.users(v["Name"])):
            continue
        if not filters.labels_match(v.get("Labels"), wanted.get("label", [])):
            continue
        out.append(v)
    return web.json_response({"Volumes": out, "Warnings": []})


async def create(request: web.Request) -> web.Response:
    body = await decode.read_object(request, decode.VOLUME_CREATE, "CreateOptions")
    labels = dict(body.get("Labels") or {})
    if not body.get("Name"):  # as dockerd: a volume created without a name is anonymous (pruned by default)
        labels[ANONYMOUS_LABEL] = ""
    v = await asyncio.to_thread(engine(request).volumes.create, body.get("Name") or "", labels,
                                body.get("DriverOpts") or {}, body.get("Driver") or "local")
    engine(request).events.publish("volume", "create", v["Name"], {"driver": v.get("Driver", "local")})
    return web.json_response(v, status=201)


async def inspect(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(engine(request).volumes.inspect, request.match_info["name"]))


async def delete(request: web.Request) -> web.Response:
    force = request.query.get("force", "").lower() in ("1", "true")
    await asyncio.to_thread(engine(request).volumes.remove, request.match_info["name"], force)
    engine(request).events.publish("volume", "destroy", request.match_info["name"], {"driver": "local"})
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    wanted = filters.of(request, filters.VOLUME_PRUNE)
    # API < 1.42 pruned every unused local volume; from 1.42 named ones only with all=true
    all_volumes = bool(filters.boolean(wanted, "all")) or version_of(request) < (1, 42)
    gone, space = engine(request).volumes.prune(all_volumes, wanted.get("label", []), wanted.get("label!", []))
    return web.json_response({"VolumesDeleted": gone, "SpaceReclaimed": space})


def register(app: web.Application) -> None:
    add(app, "GET", "/volumes", list_volumes)
    add(app, "POST", "/volumes/create", create)
    add(app, "POST", "/volumes/prune", prune)
    add(app, "GET", "/volumes/{name}", inspect)
    add(app, "DELETE", "/volumes/{name}", delete)
