"""Network routes: list, inspect, create, remove, connect, disconnect, prune (thin over NetworkManager)."""

from __future__ import annotations

import asyncio
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


def _matches(n: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if key == "name" and not any(v in n["Name"] for v in values):
            return False
        if key == "id" and not any(n["Id"].startswith(v) for v in values):
            return False
        if key == "driver" and n["Driver"] not in values:
            return False
        if key == "type":
            predefined = n["Name"] in ("bridge", "host", "none")
            if not any((v == "builtin") == predefined for v in values):
                return False
        if key == "label":
            for v in values:
                k, _, val = v.partition("=")
                if k not in n["Labels"] or (val and n["Labels"][k] != val):
                    return False
    return True


async def list_networks(request: web.Request) -> web.Response:
    nets = engine(request).networks
    filters = _filters(request)
    return web.json_response([nets.inspect(n["Id"]) for n in nets.networks.values() if _matches(n, filters)])


async def inspect(request: web.Request) -> web.Response:
    return web.json_response(engine(request).networks.inspect(request.match_info["id"]))


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError as err:
        raise errors.InvalidArgument(f"invalid JSON body: {err}") from err
    if not isinstance(body, dict):
        raise errors.InvalidArgument("body must be a JSON object")
    return body


async def create(request: web.Request) -> web.Response:
    n = await asyncio.shield(engine(request).networks.create_network(
        decode.check(decode.NETWORK_CREATE, await _body(request), "CreateRequest")))
    return web.json_response({"Id": n["Id"], "Warning": ""}, status=201)


async def delete(request: web.Request) -> web.Response:
    await asyncio.shield(engine(request).networks.remove_network(request.match_info["id"]))
    return web.Response(status=204)


async def connect(request: web.Request) -> web.Response:
    eng = engine(request)
    body = decode.check(decode.NETWORK_CONNECT, await _body(request), "NetworkConnect")
    c = eng.get(body.get("Container") or "")
    await asyncio.shield(eng.networks.connect(c, request.match_info["id"], body.get("EndpointConfig") or {}))
    eng._save(c)
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    eng = engine(request)
    body = decode.check(decode.NETWORK_DISCONNECT, await _body(request), "NetworkDisconnect")
    c = eng.get(body.get("Container") or "")
    await asyncio.shield(eng.networks.disconnect(c, request.match_info["id"]))
    eng._save(c)
    return web.Response(status=200)


async def prune(request: web.Request) -> web.Response:
    filters = _filters(request)
    gone = await asyncio.shield(engine(request).networks.prune(lambda n: _matches(n, filters)))
    return web.json_response({"NetworksDeleted": gone})


def register(app: web.Application) -> None:
    add(app, "GET", "/networks", list_networks)
    add(app, "GET", "/networks/", list_networks)
    add(app, "POST", "/networks/create", create)
    add(app, "POST", "/networks/prune", prune)
    add(app, "GET", "/networks/{id}", inspect)
    add(app, "DELETE", "/networks/{id}", delete)
    add(app, "POST", "/networks/{id}/connect", connect)
    add(app, "POST", "/networks/{id}/disconnect", disconnect)
