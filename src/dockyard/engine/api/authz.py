"""Authorization plugins (``dockyardd --authorization-plugin NAME``): Docker's AuthZ protocol.

Every API request is shown to each plugin in turn (``AuthZPlugin.AuthZReq``) before it is handled;
the first denial answers 403 with the plugin's message and the request is never handled. After the
handler, each plugin sees the response (``AuthZPlugin.AuthZRes``); a denial there replaces a
response not yet sent with the 403. A response already streamed (attach, logs, pull progress)
cannot be taken back: its denial is logged, as dockerd cannot undo a hijacked stream either.
Bodies are shown only as dockerd shows them: JSON bodies up to 1 MiB, never those of ``/auth``
(they carry passwords). A plugin that fails or cannot be reached fails the request (500/503).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.engine.api.errors import error_response, status_of
from dockyard.plugins.discovery import PluginRegistry

log = logging.getLogger("dockyard.engine.api.authz")
IMPLEMENTS = "authz"
MAX_BODY = 1 << 20  # dockerd's maxBodySize


def _shows_body(path: str, content_type: str, length: int | None) -> bool:
    return (content_type.startswith("application/json") and not path.endswith("/auth")
            and length is not None and length <= MAX_BODY)


def _user(request: web.Request) -> str:
    """The TLS client certificate's common name; "" over the UNIX socket, as dockerd."""
    cert = request.transport.get_extra_info("peercert") if request.transport else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


async def _ask(registry: PluginRegistry, name: str, method: str, body: dict[str, Any]) -> None:
    plugin = await asyncio.to_thread(registry.get, name, IMPLEMENTS)
    try:
        answer = await asyncio.to_thread(plugin.call, f"AuthZPlugin.{method}", body)
    except errors.Unavailable:
        registry.forget(name)
        raise
    if answer.get("Allow") is not True:
        raise errors.PermissionDenied(f"authorization denied by plugin {name}: {answer.get('Msg') or ''}")


def middleware(registry: PluginRegistry, names: list[str]) -> Any:
    @web.middleware
    async def authz_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        user = _user(request)
        req: dict[str, Any] = {"User": user, "UserAuthNMethod": "TLS" if user else "",
                               "RequestMethod": request.method, "RequestURI": str(request.rel_url),
                               "RequestHeaders": {k: v for k, v in request.headers.items()}}
        if _shows_body(request.path, request.content_type, request.content_length):
            req["RequestBody"] = base64.b64encode(await request.read()).decode()
        try:
            for name in names:
                await _ask(registry, name, "AuthZReq", req)
        except errors.DockyardError as err:
            return error_response(status_of(err), str(err))
        resp: web.StreamResponse = await handler(request)
        res = {**req, "ResponseStatusCode": resp.status,
               "ResponseHeaders": {k: v for k, v in resp.headers.items()}}
        if isinstance(resp, web.Response) and not resp.prepared and resp.body is not None \
                and isinstance(resp.body, bytes) and len(resp.body) <= MAX_BODY:
            res["ResponseBody"] = base64.b64encode(resp.body).decode()
        try:
            for name in names:
                await _ask(registry, name, "AuthZRes", res)
        except errors.DockyardError as err:
            if resp.prepared:
                log.warning("%s %s: response already sent, cannot be withdrawn: %s", request.method,
                            request.path, err)
                return resp
            return error_response(status_of(err), str(err))
        return resp

    return authz_middleware


def install(app: web.Application, registry: PluginRegistry, names: list[str]) -> None:
    """Put the authorization check outside every other middleware (before the app is frozen)."""
    app["authorization_plugins"] = list(names)  # /info lists them, in their order
    if names:
        app.middlewares.insert(0, middleware(registry, names))
