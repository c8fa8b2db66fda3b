"""What clients probe for and Dockyard does not have: plugins and swarm mode, answered as dockerd answers
when it has no plugin installed and is not part of a swarm.

``GET /plugins`` is an empty list (its filters checked as dockerd checks them); a named plugin is not
found. Every swarm route (``/swarm*``, ``/nodes``, ``/services``, ``/tasks``, ``/secrets``, ``/configs``)
is dockerd's 503 "This node is not part of a swarm"; ``swarm init``/``join``, which would make this node
one, are refused as not implemented.
"""

from __future__ import annotations

from aiohttp import web

from dockyard import errors
from dockyard.engine.api import filters
from dockyard.engine.api.app import add

NO_SWARM = "This node is not part of a swarm"
SWARM_PREFIXES = ("/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs")


async def list_plugins(request: web.Request) -> web.Response:
    filters.boolean(filters.of(request, filters.PLUGINS), "enable")
    return web.json_response([])


async def no_such_plugin(request: web.Request) -> web.Response:
    raise errors.NotFound(f'plugin "{request.match_info["name"]}" not found')


async def plugin_or_nothing(request: web.Request) -> web.Response:
    """``/plugins/{name}`` catches ``/plugins/pull`` too: only DELETE is a plugin's route (no 405 for the rest)."""
    if request.method != "DELETE":
        raise web.HTTPNotFound()
    return await no_such_plugin(request)


async def no_swarm(request: web.Request) -> web.Response:
    raise errors.Unavailable(NO_SWARM)


async def swarm_not_supported(request: web.Request) -> web.Response:
    raise errors.NotImplementedYet("swarm mode is not supported by Dockyard")


def register(app: web.Application) -> None:
    add(app, "GET", "/plugins", list_plugins)
    add(app, "GET", "/plugins/{name:.+}/json", no_such_plugin)
    for verb in ("enable", "disable", "set", "push", "upgrade"):
        add(app, "POST", f"/plugins/{{name:.+}}/{verb}", no_such_plugin)
    add(app, "*", "/plugins/{name:.+}", plugin_or_nothing)
    add(app, "POST", "/swarm/init", swarm_not_supported)
    add(app, "POST", "/swarm/join", swarm_not_supported)
    for prefix in SWARM_PREFIXES:
        add(app, "*", prefix, no_swarm)
        add(app, "*", prefix + "/{tail:.*}", no_swarm)
