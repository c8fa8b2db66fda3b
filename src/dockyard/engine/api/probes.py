"""What clients probe for and Dockyard does not have: swarm mode, answered as dockerd answers when it
is not part of a swarm (the ``/plugins`` routes are ``plugins.py``'s).

Every swarm route (``/swarm*``, ``/nodes``, ``/services``, ``/tasks``, ``/secrets``, ``/configs``)
is dockerd's 503 "This node is not part of a swarm"; ``swarm init``/``join``, which would make this node
one, are refused as not implemented; so is ``POST /session`` (after dockerd's checks of its upgrade).
"""

from __future__ import annotations

from aiohttp import web

from dockyard import errors
from dockyard.engine.api.app import add

NO_SWARM = "This node is not part of a swarm"
SWARM_PREFIXES = ("/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs")


async def no_swarm(request: web.Request) -> web.Response:
    raise errors.Unavailable(NO_SWARM)


async def swarm_not_supported(request: web.Request) -> web.Response:
    raise errors.NotImplementedYet("swarm mode is not supported by Dockyard")


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
    from dockyard.engine.api import plugins

    plugins.register(app)
    add(app, "POST", "/session", session)
    add(app, "POST", "/swarm/init", swarm_not_supported)
    add(app, "POST", "/swarm/join", swarm_not_supported)
    for prefix in SWARM_PREFIXES:
        add(app, "*", prefix, no_swarm)
        add(app, "*", prefix + "/{tail:.*}", no_swarm)
