"""Who may drive the dashboard: the holder of the per-run token, from our own origin.

- every request carries the token: the ``dockyard_desktop_<port>`` cookie (set when the printed
  URL's ``?token=`` is first visited; named by port, so two dashboards keep their own), or an
  ``X-Dockyard-Token`` header for scripts. Browsers scope cookies by host, not port, so a page
  served on another local port is sent the cookie too: a limit of cookies, the token lives for
  this run only;
- the ``Host`` must be the address we serve (a DNS-rebinding page has its own name there);
- a mutating request or a WebSocket upgrade with an ``Origin`` (or ``Sec-Fetch-Site``) from
  elsewhere is refused, even with the cookie (SameSite=Strict is the browser's half of this).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

COOKIE = "dockyard_desktop_{port}"
HEADER = "X-Dockyard-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    return secrets.token_urlsafe(24)


def allowed_hosts(host: str, port: int) -> set[str]:
    names = {host, "localhost", "127.0.0.1", "[::1]"} if host in ("127.0.0.1", "localhost", "::1") else {host}
    return {f"{name}:{port}" for name in names}


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _refuse(message: str) -> web.Response:
    return web.json_response({"message": message}, status=403)


def guard(token: str, hosts: set[str], port: int) -> Middleware:
    """The middleware: Host, token, then Origin for anything that may change the engine."""
    cookie = COOKIE.format(port=port)

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Host", "") not in hosts:
            return _refuse("foreign Host refused")
        offered = request.query.get("token")
        if offered is not None and request.method == "GET" and request.path == "/":
            if not _same(offered, token):
                return _refuse("wrong token")
            resp = web.HTTPFound("/")  # the token leaves the address bar and the history
            resp.set_cookie(cookie, token, httponly=True, samesite="Strict", path="/")
            return resp
        presented = request.cookies.get(cookie) or request.headers.get(HEADER, "")
        if not presented or not _same(presented, token):
            return _refuse("this dashboard needs the token `dockyard desktop` printed")
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if request.method not in SAFE_METHODS or upgrade:
            origin = request.headers.get("Origin")
            if origin is not None and origin.removeprefix("http://") not in hosts:
                return _refuse("cross-origin request refused")
            if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
                return _refuse("cross-site request refused")
        return await handler(request)

    return check
