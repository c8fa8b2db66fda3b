"""The Engine API application: routes under ``/`` and ``/v1.NN/``, errors in Docker's shape."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from dockyard import errors
from dockyard.engine.api.errors import error_response, status_of
from dockyard.engine.daemon import Engine

log = logging.getLogger("dockyard.engine.api")

API_VERSION = "1.56"
MIN_API_VERSION = "1.24"
CURRENT = (1, 56)
MINIMUM = (1, 24)
ENGINE_KEY: web.AppKey[Engine] = web.AppKey("engine", Engine)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_VERSION_PREFIX = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")


def engine(request: web.Request) -> Engine:
    return request.app[ENGINE_KEY]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.DockyardError as err:
        return error_response(status_of(err), str(err))
    except web.HTTPException as exc:
        if exc.status >= 400:
            return error_response(exc.status, exc.reason if exc.status != 404 else "page not found")
        raise
    except ValueError as err:  # malformed JSON bodies and query values
        return error_response(400, str(err))
    except RecursionError:  # a body nested deeper than a parser can follow (decode.loads says so first)
        return error_response(400, "invalid JSON: exceeded max depth")


def version_of(request: web.Request) -> tuple[int, int]:
    """The API version a request asked for in its ``/v1.NN/`` prefix; without one, the current."""
    v = request.match_info.get("version")
    if not v:
        return CURRENT
    major, minor = v.split(".")
    return int(major), int(minor)


@web.middleware
async def version_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    v = request.match_info.get("version")
    if v:
        major, minor = (int(x) for x in v.split("."))
        if (major, minor) > CURRENT:
            return error_response(400, f"client version {v} is too new. Maximum supported API version is {API_VERSION}")
        if (major, minor) < MINIMUM:
            return error_response(400, f"client version {v} is too old. Minimum supported API version is "
                                       f"{MIN_API_VERSION}, please upgrade your client to a newer version")
    return await handler(request)


def add(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Serve a route both bare and under the ``/v{version}`` prefix, as dockerd does."""
    app.router.add_route(method, path, handler)
    app.router.add_route(method, r"/v{version:\d+\.\d+}" + path, handler)


# One module per resource, each with ``register(app)``; a resource whose module is not
# written yet is simply not served (dockerd answers 404 page not found for those too).
ROUTE_MODULES = ("system", "containers", "attach_ws", "exec", "images", "build", "networks", "volumes", "auth",
                 "events", "probes")


def build_app(eng: Engine) -> web.Application:
    app = web.Application(middlewares=[errors_middleware, version_middleware], client_max_size=0)
    app[ENGINE_KEY] = eng
    for name in ROUTE_MODULES:
        qualified = f"dockyard.engine.api.{name}"
        if importlib.util.find_spec(qualified) is not None:
            importlib.import_module(qualified).register(app)
    return app
