"""Plugin routes (``/plugins``): managed plugins made from a directory (``docker plugin create``),
enabled, disabled, set, inspected and removed (thin over ``plugins.managed``). Pulling, pushing and
upgrading plugins from a registry are not served yet (501)."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from dockyard import errors
from dockyard.engine.api import filters
from dockyard.engine.api.app import add, engine


def _truthy(request: web.Request, key: str) -> bool:
    return request.query.get(key, "").lower() in ("1", "true")


async def list_plugins(request: web.Request) -> web.Response:
    wanted = filters.of(request, filters.PLUGINS)
    enabled = filters.boolean(wanted, "enabled" if "enabled" in wanted else "enable")
    out = []
    for p in engine(request).managed_plugins.list():
        if enabled is not None and p["Enabled"] != enabled:
            continue
        caps = [t.split(".", 1)[-1].split("/")[0] for t in p["Config"]["Interface"]["Types"]]
        if wanted.get("capability") and not any(c in caps for c in wanted["capability"]):
            continue
        out.append(p)
    return web.json_response(out)


async def inspect(request: web.Request) -> web.Response:
    return web.json_response(engine(request).managed_plugins.get(request.match_info["name"]))


async def create(request: web.Request) -> web.Response:
    name = request.query.get("name") or ""
    if not name:
        raise errors.InvalidArgument("plugin create: a name is required (?name=)")
    context = await request.read()
    await asyncio.to_thread(engine(request).managed_plugins.create, name, context)
    return web.Response(status=204)


async def enable(request: web.Request) -> web.Response:
    try:
        timeout = float(request.query.get("timeout") or 30) or 30.0
    except ValueError:
        raise errors.InvalidArgument(f"invalid timeout {request.query.get('timeout')!r}") from None
    await engine(request).managed_plugins.enable(request.match_info["name"], timeout)
    return web.Response(status=200)


async def disable(request: web.Request) -> web.Response:
    eng = engine(request)
    p = eng.managed_plugins.get(request.match_info["name"])
    if not _truthy(request, "force"):
        users = [v["Name"] for v in eng.volumes.plugin_volumes.list() if v["Driver"] in (p["Name"], p["Name"]
                                                                                       .removesuffix(":latest"))]
        if users:
            raise errors.FailedPrecondition(f"plugin {p['Name']} is in use (volumes {', '.join(users)})")
    await eng.managed_plugins.disable(p["Id"], force=_truthy(request, "force"))
    return web.Response(status=200)


async def remove(request: web.Request) -> web.Response:
    await engine(request).managed_plugins.remove(request.match_info["name"], _truthy(request, "force"))
    return web.Response(status=200)


async def set_env(request: web.Request) -> web.Response:
    args = json.loads(await request.read() or b"[]")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise errors.InvalidArgument("plugin set: the body must be a list of KEY=VALUE strings")
    engine(request).managed_plugins.set(request.match_info["name"], args)
    return web.Response(status=204)


async def not_served(request: web.Request) -> web.Response:
    raise errors.NotImplementedYet("plugins from a registry (pull, push, upgrade, privileges) are not supported "
                                   "by Dockyard yet")


def register(app: web.Application) -> None:
    add(app, "GET", "/plugins", list_plugins)
    add(app, "POST", "/plugins/create", create)
    add(app, "POST", "/plugins/pull", not_served)
    add(app, "GET", "/plugins/privileges", not_served)
    add(app, "GET", "/plugins/{name:.+}/json", inspect)
    add(app, "POST", "/plugins/{name:.+}/enable", enable)
    add(app, "POST", "/plugins/{name:.+}/disable", disable)
    add(app, "POST", "/plugins/{name:.+}/set", set_env)
    for verb in ("push", "upgrade"):
        add(app, "POST", f"/plugins/{{name:.+}}/{verb}", not_served)
    add(app, "DELETE", "/plugins/{name:.+}", remove)
