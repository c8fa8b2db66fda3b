"""Swarm routes (``engine.swarm``: a single-node swarm for networks) and ``POST /session``; the
``/plugins`` routes are ``plugins.py``'s.

Before ``swarm init`` every swarm route is dockerd's 503 "This node is not part of a swarm". In a
swarm: ``/swarm`` (inspect, update, unlock key, leave), ``/nodes`` (this node). There are no services,
tasks, secrets or configs: their lists are empty, one asked for by ID is not found, and creating one
is refused as not implemented — never faked. ``swarm join`` is refused (no other node can be joined).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.engine.api import decode, filters, plugins
from dockyard.engine.api.app import add, engine
from dockyard.engine.api.containers import qbool
from dockyard.engine.swarm import NO_SWARM, SWARM_EXISTS, Swarm

KINDS = {"services": "service", "tasks": "task", "secrets": "secret", "configs": "config"}
NODE_FILTERS = frozenset({"id", "label", "membership", "name", "node.label", "role"})


def swarm_of(request: web.Request) -> Swarm:
    return engine(request).swarm


async def _object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object (an empty body is ``{}``)."""
    body = await decode.read_json(request) or {}
    if not isinstance(body, dict):
        raise errors.InvalidArgument("invalid JSON: the body must be an object")
    return body


async def init(request: web.Request) -> web.Response:
    return web.json_response(await swarm_of(request).init(await _object(request)))


async def join(request: web.Request) -> web.Response:
    if swarm_of(request).active:
        raise errors.Unavailable(SWARM_EXISTS)
    raise errors.NotImplementedYet("joining a swarm is not supported by Dockyard: only a single-node swarm "
                                   "(swarm init)")


async def leave(request: web.Request) -> web.Response:
    await swarm_of(request).leave(qbool(request, "force"))
    return web.Response(status=200)


async def inspect(request: web.Request) -> web.Response:
    return web.json_response(swarm_of(request).inspect())


async def update(request: web.Request) -> web.Response:
    spec = await _object(request)
    rotate = {k: qbool(request, k) for k in
              ("rotateWorkerToken", "rotateManagerToken", "rotateManagerUnlockKey")}
    swarm_of(request).update(request.query.get("version", ""), spec, rotate)
    return web.Response(status=200)


async def unlockkey(request: web.Request) -> web.Response:
    return web.json_response(swarm_of(request).unlock_key())


async def unlock(request: web.Request) -> web.Response:
    if not swarm_of(request).active:
        raise errors.Unavailable(NO_SWARM)
    raise errors.Conflict("swarm is not locked")


def _node_matches(n: dict[str, Any], wanted: filters.Filters) -> bool:
    checks: dict[str, Callable[[str], bool]] = {
        "id": lambda v: n["ID"].startswith(v),
        "name": lambda v: v in n["Description"]["Hostname"] or v in n["Spec"].get("Name", ""),
        "role": lambda v: v == n["Spec"]["Role"],
        "membership": lambda v: v == "accepted",
    }
    for key, values in wanted.items():
        if key in checks and not any(checks[key](v) for v in values):
            return False
        if key == "node.label" and not filters.labels_match(n["Spec"].get("Labels"), values):
            return False
        if key == "label" and not filters.labels_match({}, values):
            return False
    return True


async def nodes(request: web.Request) -> web.Response:
    wanted = filters.of(request, NODE_FILTERS)
    for role in wanted.get("role", []):
        if role not in ("manager", "worker"):
            raise errors.InvalidArgument(f"invalid role filter: '{role}'")
    node = swarm_of(request).node()
    return web.json_response([node] if _node_matches(node, wanted) else [])


async def node(request: web.Request) -> web.Response:
    return web.json_response(swarm_of(request).get_node(request.match_info["id"]))


async def node_update(request: web.Request) -> web.Response:
    spec = await _object(request)
    swarm_of(request).update_node(request.match_info["id"], request.query.get("version", ""), spec)
    return web.Response(status=200)


async def node_delete(request: web.Request) -> web.Response:
    n = swarm_of(request).get_node(request.match_info["id"])
    raise errors.FailedPrecondition(f"rpc error: code = FailedPrecondition desc = node {n['ID']} is a cluster "
                                    "manager and is a member of the raft cluster. It must be demoted to worker "
                                    "before removal")


async def no_objects(request: web.Request) -> web.Response:
    """Services, tasks, secrets, configs: none exist; none can be made."""
    swarm = swarm_of(request)
    if not swarm.active:
        raise errors.Unavailable(NO_SWARM)
    collection = next(p for p in request.path.split("/") if p in KINDS)
    tail = request.match_info.get("tail", "")
    if request.method == "GET" and not tail:
        filters.of(request)
        return web.json_response([])
    if request.method == "POST" and tail == "create":
        raise errors.NotImplementedYet(f"{collection} are not supported by Dockyard's single-node swarm "
                                       "(it serves swarm networks only)")
    ref = tail.split("/")[0]
    raise errors.NotFound(f"{KINDS[collection]} {ref} not found")


async def no_swarm(request: web.Request) -> web.Response:
    raise errors.Unavailable(NO_SWARM)


async def session(request: web.Request) -> web.Response:
    """``POST /session`` (BuildKit's gRPC session over an h2c upgrade): dockerd's checks of the upgrade,
    then an honest refusal, as there is no BuildKit here."""
    upgrade = request.headers.get("Upgrade", "")
    if not upgrade:
        raise errors.InvalidArgument("no upgrade proto in request")
    if upgrade != "h2c":
        raise errors.InvalidArgument(f"protocol {upgrade} not supported")
    raise errors.NotImplementedYet("interactive sessions (BuildKit) are not supported by Dockyard")


def register(app: web.Application) -> None:
    plugins.register(app)
    add(app, "POST", "/session", session)
    add(app, "POST", "/swarm/init", init)
    add(app, "POST", "/swarm/join", join)
    add(app, "POST", "/swarm/leave", leave)
    add(app, "GET", "/swarm", inspect)
    add(app, "POST", "/swarm/update", update)
    add(app, "GET", "/swarm/unlockkey", unlockkey)
    add(app, "POST", "/swarm/unlock", unlock)
    add(app, "GET", "/nodes", nodes)
    add(app, "GET", "/nodes/{id}", node)
    add(app, "POST", "/nodes/{id}/update", node_update)
    add(app, "DELETE", "/nodes/{id}", node_delete)
    for prefix in KINDS:
        add(app, "*", "/" + prefix, no_objects)
        add(app, "*", "/" + prefix + "/{tail:.*}", no_objects)
    for prefix in ("/swarm", "/nodes"):  # what is left: dockerd's routes we do not have
        add(app, "*", prefix + "/{tail:.*}", no_swarm)
