"""Network routes: list, inspect, create, remove, connect, disconnect, prune (thin over NetworkManager)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.engine import validate
from dockyard.engine.api import decode, filters
from dockyard.engine.api.app import add, engine
from dockyard.engine.api.containers_ops import _until as until
from dockyard.timefmt import parse_rfc3339

PREDEFINED = ("bridge", "host", "none")


def _matches(n: dict[str, Any], wanted: filters.Filters, in_use: Any = None) -> bool:
    for key, values in wanted.items():
        if not values:
            continue
        if key == "name" and not any(v in n["Name"] for v in values):
            return False
        if key == "id" and not any(n["Id"].startswith(v) for v in values):
            return False
        if key == "driver" and n["Driver"] not in values:
            return False
        if key == "type":
            for v in values:
                if v not in ("builtin", "custom"):
                    raise errors.InvalidArgument("invalid filter: 'type' must be one of 'builtin' or 'custom'")
            predefined = n["Name"] in PREDEFINED
            if not any((v == "builtin") == predefined for v in values):
                return False
        if key == "scope" and (n.get("Scope") or "local") not in values:
            return False
        if key == "label" and not filters.labels_match(n.get("Labels"), values):
            return False
        if key == "label!" and not filters.labels_none(n.get("Labels"), values):
            return False
        if key == "dangling" and in_use is not None:
            dangling = filters.boolean(wanted, "dangling")
            if dangling is not None and dangling == (n["Name"] in PREDEFINED or in_use(n)):
                return False
        if key == "until" and any(_created(n) >= _until(v) for v in values):
            return False
    return True


def _created(n: dict[str, Any]) -> float:
    try:
        return parse_rfc3339(str(n.get("Created", "")))
    except ValueError:
        return 0.0


def _until(value: str) -> float:
    return until(value) if value else time.time()


async def list_networks(request: web.Request) -> web.Response:
    nets = engine(request).networks
    wanted = filters.of(request, filters.NETWORKS)
    filters.boolean(wanted, "dangling")

    def in_use(n: dict[str, Any]) -> bool:
        return bool(nets.endpoints.get(n["Id"]))

    return web.json_response([nets.inspect(n["Id"]) for n in nets.networks.values()
                              if _matches(n, wanted, in_use)])


async def inspect(request: web.Request) -> web.Response:
    """``?scope=`` (local, swarm, global): a network of another scope is not found, as dockerd answers."""
    ref, scope = request.match_info["id"], request.query.get("scope", "")
    n = engine(request).networks.inspect(ref)
    if scope and (n.get("Scope") or "local") != scope:
        raise errors.NotFound(f"network {ref} not found")
    return web.json_response(n)


async def create(request: web.Request) -> web.Response:
    body = await decode.read_object(request, decode.NETWORK_CREATE, "CreateRequest")
    if body.get("Name") in ("bridge", "host", "none", "default"):  # dockerd's PredefinedNetworkError
        raise errors.PermissionDenied(f"operation is not permitted on predefined {body['Name']} network ")
    validate.network_options(body.get("Options") or {})
    n = await asyncio.shield(engine(request).networks.create_network(body))
    return web.json_response({"Id": n["Id"], "Warning": ""}, status=201)


async def delete(request: web.Request) -> web.Response:
    await asyncio.shield(engine(request).networks.remove_network(request.match_info["id"]))
    return web.Response(status=204)


async def connect(request: web.Request) -> web.Response:
    eng = engine(request)
    body = await decode.read_object(request, decode.NETWORK_CONNECT, "NetworkConnect")
    await eng.connect_network(body.get("Container") or "", request.match_info["id"], body.get("EndpointConfig") or {})
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    eng = engine(request)
    body = await decode.read_object(request, decode.NETWORK_DISCONNECT, "NetworkDisconnect")
    await eng.disconnect_network(body.get("Container") or "", request.match_info["id"])
    return web.Response(status=200)


async def prune(request: web.Request) -> web.Response:
    wanted = filters.of(request, filters.NETWORK_PRUNE)
    gone = await asyncio.shield(engine(request).networks.prune(lambda n: _matches(n, wanted)))
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
