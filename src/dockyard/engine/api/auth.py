"""``POST /auth``: check credentials against a registry, as ``docker login`` does."""

from __future__ import annotations

from aiohttp import web

from dockyard import errors
from dockyard.engine.api.app import add, engine
from dockyard.engine.images import registry_options


async def auth(request: web.Request) -> web.Response:
    body = await request.json()
    if not isinstance(body, dict):
        raise errors.InvalidArgument("auth: body must be a JSON object")
    eng = engine(request)
    opts = registry_options(body, list(getattr(eng, "insecure_registries", []) or []))
    try:
        resp = await eng.images.cd.login(body.get("serveraddress", ""), opts)
    except errors.PermissionDenied as err:
        raise errors.PermissionDenied(f"login attempt failed with status: 401 Unauthorized ({err})") from None
    return web.json_response({"Status": resp.status, "IdentityToken": resp.identity_token})


def register(app: web.Application) -> None:
    add(app, "POST", "/auth", auth)
