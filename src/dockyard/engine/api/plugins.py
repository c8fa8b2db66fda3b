"""Plugin routes (``/plugins``): managed plugins made from a directory (``docker plugin create``) or
pulled from a registry, enabled, disabled, set, inspected, pushed, upgraded and removed (thin over
``plugins.managed`` and ``plugins.distribution``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.engine.api import decode, filters
from dockyard.engine.api.app import add, engine
from dockyard.engine.api.images import insecure_registries, registry_auth
from dockyard.plugins import distribution
from dockyard.plugins.managed import remote_ref


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
    args = await decode.read_json(request) or []  # dockerd's ReadJSON: Content-Type, Go's messages
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise errors.InvalidArgument("plugin set: the body must be a list of KEY=VALUE strings")
    engine(request).managed_plugins.set(request.match_info["name"], args)
    return web.Response(status=204)


def _remote(request: web.Request) -> str:
    remote = request.query.get("remote") or ""
    if not remote:
        raise errors.InvalidArgument("a remote reference is required (?remote=)")
    return remote_ref(remote)


async def _granted(request: web.Request) -> list[dict[str, object]]:
    """The privileges the request grants (its body), as dockerd: none sent is none granted."""
    granted = await decode.read_json(request) or []  # dockerd's ReadJSON: Content-Type, Go's messages
    if not isinstance(granted, list) or not all(isinstance(g, dict) for g in granted):
        raise errors.InvalidArgument("the body must be a JSON list of privileges")
    return granted


HEAD = ("Pulling from ", "The push refers to ")  # sent once the registry has answered something more


async def _progress(request: web.Request, job: Callable[[Callable[[dict[str, Any]], None]], None]
                    ) -> web.StreamResponse:
    """Run ``job(progress)`` in a thread and stream each message it tells as it comes. Until the
    registry has answered (the first message after the ``HEAD`` one) nothing is sent, so an early
    failure is the request's status; after, a failure is the stream's last line, as dockerd's
    write-flusher does."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def tell(msg: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, msg)

    task = asyncio.ensure_future(asyncio.to_thread(job, tell))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    resp: web.StreamResponse | None = None
    held: list[dict[str, Any]] = []
    while (msg := await queue.get()) is not None:
        held.append(msg)
        if resp is None and str(msg.get("status", "")).startswith(HEAD):
            continue
        resp = resp or await _started(request)
        for m in held:
            await resp.write(json.dumps(m).encode() + b"\n")
        held.clear()
    try:
        task.result()
    except errors.DockyardError as err:
        if resp is None:
            raise
        await resp.write(json.dumps({"errorDetail": {"message": str(err)}, "error": str(err)}).encode() + b"\n")
    resp = resp or await _started(request)
    for m in held:
        await resp.write(json.dumps(m).encode() + b"\n")
    await resp.write_eof()
    return resp


async def _started(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    return resp


async def privileges(request: web.Request) -> web.Response:
    _, _, cfg, _ = await asyncio.to_thread(distribution.fetch_config, _remote(request), registry_auth(request),
                                           insecure_registries(request))
    return web.json_response(distribution.privileges(cfg))


async def pull(request: web.Request) -> web.StreamResponse:
    granted = await _granted(request)  # the body first, as dockerd
    remote = _remote(request)
    plugins, name, auth = engine(request).managed_plugins, request.query.get("name", ""), registry_auth(request)
    insecure = insecure_registries(request)
    return await _progress(request, lambda progress: plugins.pull(remote, name, granted, auth, progress, insecure))


async def upgrade(request: web.Request) -> web.StreamResponse:
    granted = await _granted(request)  # the body first, as dockerd
    remote = _remote(request)
    plugins, name, auth = engine(request).managed_plugins, request.match_info["name"], registry_auth(request)
    insecure = insecure_registries(request)
    return await _progress(request, lambda progress: plugins.upgrade(name, remote, granted, auth, progress, insecure))


async def push(request: web.Request) -> web.StreamResponse:
    plugins, name, auth = engine(request).managed_plugins, request.match_info["name"], registry_auth(request)
    insecure = insecure_registries(request)
    return await _progress(request, lambda progress: plugins.push(name, auth, progress, insecure))


def register(app: web.Application) -> None:
    add(app, "GET", "/plugins", list_plugins)
    add(app, "POST", "/plugins/create", create)
    add(app, "POST", "/plugins/pull", pull)
    add(app, "GET", "/plugins/privileges", privileges)
    add(app, "GET", "/plugins/{name:.+}/json", inspect)
    add(app, "POST", "/plugins/{name:.+}/enable", enable)
    add(app, "POST", "/plugins/{name:.+}/disable", disable)
    add(app, "POST", "/plugins/{name:.+}/set", set_env)
    add(app, "POST", "/plugins/{name:.+}/push", push)
    add(app, "POST", "/plugins/{name:.+}/upgrade", upgrade)
    add(app, "DELETE", "/plugins/{name:.+}", remove)
