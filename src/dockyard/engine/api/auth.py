"""``POST /auth``: check credentials against a registry, as ``docker login`` does."""

from __future__ import annotations

import re

from aiohttp import web

from dockyard import errors
from dockyard.engine.api import decode
from dockyard.engine.api.app import add, engine
from dockyard.engine.images import registry_options

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_REGISTRY_HOST = re.compile(rf"(\[[0-9A-Fa-f:.]+\]|{_LABEL}(\.{_LABEL})*)(:[0-9]{{1,5}})?")  # host[:port]


def _is_ipv4(name: str) -> bool:
    parts = name.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) <= 255 for p in parts)


async def auth(request: web.Request) -> web.Response:
    body = await request.json()
    if not isinstance(body, dict):
        raise errors.InvalidArgument("auth: body must be a JSON object")
    body = decode.check(decode.AUTH_CONFIG, body, "AuthConfig")
    server = body.get("serveraddress", "")
    host = server.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else ""
    numeric = bool(name) and all(c.isdigit() or c == "." for c in name)  # "0" is no host name: a dotted IPv4
    if server and (not _REGISTRY_HOST.fullmatch(host) or (numeric and not _is_ipv4(name))):  # 400, not a 503
        raise errors.InvalidArgument(f"invalid registry address {server!r}: want host[:port]")
    eng = engine(request)
    opts = registry_options(body, list(getattr(eng, "insecure_registries", []) or []))
    try:
        resp = await eng.images.cd.login(body.get("serveraddress", ""), opts)
    except errors.PermissionDenied as err:
        raise errors.PermissionDenied(f"login attempt failed with status: 401 Unauthorized ({err})") from None
    return web.json_response({"Status": resp.status, "IdentityToken": resp.identity_token})


def register(app: web.Application) -> None:
    add(app, "POST", "/auth", auth)
