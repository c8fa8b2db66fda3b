"""Error kinds to HTTP status codes, once, for every route: Docker's ``{"message": ...}`` shape."""

from __future__ import annotations

import json

from aiohttp import web

from dockyard import errors

STATUS: dict[type[errors.DockyardError], int] = {
    errors.NotFound: 404,
    errors.AlreadyExists: 409,
    errors.Conflict: 409,
    errors.InvalidArgument: 400,
    errors.FailedPrecondition: 409,
    errors.Unavailable: 503,
    errors.PermissionDenied: 403,
    errors.NotImplementedYet: 501,
}


def status_of(err: errors.DockyardError) -> int:
    for kind, status in STATUS.items():
        if isinstance(err, kind):
            return status
    return 500


def error_response(status: int, message: str) -> web.Response:
    # Exactly "application/json", no charset: the docker CLI compares the header verbatim and
    # otherwise prints the raw body ('Error response from daemon: {"message": ...}').
    return web.Response(body=json.dumps({"message": message}).encode(), status=status, content_type="application/json")
