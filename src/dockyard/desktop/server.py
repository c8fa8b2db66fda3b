"""The dashboard's web server: one aiohttp application, loopback only unless told otherwise."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import webbrowser
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from dockyard import errors
from dockyard.desktop import api, commands, files, pods, security, streams, terminal, volumes
from dockyard.desktop.cli import DEFAULT_CRI
from dockyard.desktop.engine import Engine

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("dockyard.desktop")

STATUS: dict[type[errors.DockyardError], int] = {
    errors.NotFound: 404, errors.AlreadyExists: 409, errors.Conflict: 409, errors.InvalidArgument: 400,
    errors.FailedPrecondition: 409, errors.Unavailable: 503, errors.PermissionDenied: 403,
    errors.NotImplementedYet: 501,
}
HEADERS = {
    # style-src: xterm.js themes its rows with <style> elements it writes (scripts stay 'self' only)
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
}


def _status(err: errors.DockyardError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(err, kind)), 500)


@web.middleware
async def messages(request: web.Request,
                   handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Errors as ``{"message": ...}`` with their status: a message for the page, never a traceback."""
    try:
        resp = await handler(request)
    except errors.DockyardError as err:
        return web.json_response({"message": str(err)}, status=_status(err))
    except web.HTTPException:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"message": "internal error (see the dashboard's log)"}, status=500)
    if not resp.prepared:
        resp.headers.update(HEADERS)
    return resp


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers=HEADERS)


def create_app(engine: Engine, token: str, host: str, port: int, cri: str = DEFAULT_CRI) -> web.Application:
    app = web.Application(middlewares=[security.guard(token, security.allowed_hosts(host, port), port), messages])
    app["engine"] = engine
    app["cri"] = cri
    app.router.add_get("/", index)
    app.router.add_static("/static", STATIC)
    api.register(app)
    streams.register(app)
    terminal.register(app)
    files.register(app)
    commands.register(app)
    volumes.register(app)
    pods.register(app)

    async def close_engine(app: web.Application) -> None:
        await engine.close()

    app.on_cleanup.append(close_engine)
    return app


def parse_addr(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise errors.InvalidArgument(f"--addr wants HOST:PORT, not {addr!r}")
    return host.strip("[]"), int(port)


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise errors.Unavailable(f"cannot listen on {host}:{port}: {err.strerror}") from err
    sock.listen(128)
    return sock


def serve(engine: Engine, addr: str, open_browser: bool, cri: str = DEFAULT_CRI) -> int:
    """Serve until SIGINT/SIGTERM; prints the URL (with the token) once the socket listens."""
    host, port = parse_addr(addr)
    sock = listen(host, port)
    port = sock.getsockname()[1]
    token = security.new_token()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/?token={token}"
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s, not loopback: anyone who can reach it and has the token drives the engine",
                    host)
    asyncio.run(_run(create_app(engine, token, host, port, cri), sock, url, open_browser))
    return 0


async def _run(app: web.Application, sock: socket.socket, url: str, open_browser: bool) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await web.SockSite(runner, sock, shutdown_timeout=1).start()
        print(f"Dockyard Desktop: {url}", flush=True)
        if open_browser:
            webbrowser.open(url)
        await stop.wait()
    finally:
        await runner.cleanup()
