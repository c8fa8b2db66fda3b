"""The distribution spec's error codes, and the one translation from Dockyard's kinds.

Handlers raise ``RegistryError`` with a spec code; anything else that escapes a
handler is mapped once, in ``app.py``, through ``from_dockyard``.
"""

from __future__ import annotations

from typing import Any

from dockyard import errors

# code -> HTTP status (distribution-spec "Error Codes" table, plus Docker's extras)
STATUS: dict[str, int] = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400,
    "TAG_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
    "RANGE_INVALID": 416,
    "UNAVAILABLE": 503,
}


class RegistryError(Exception):
    """One spec error: ``code`` picks the HTTP status unless ``status`` overrides it."""

    def __init__(self, code: str, message: str, detail: Any = None, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail
        self.status = status if status is not None else STATUS.get(code, 500)
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            err["detail"] = self.detail
        return {"errors": [err]}


def from_dockyard(err: errors.DockyardError) -> RegistryError:
    """Map a library error (content store, metadata) to the nearest spec code."""
    if isinstance(err, errors.NotFound):
        return RegistryError("BLOB_UNKNOWN", str(err))
    if isinstance(err, errors.InvalidArgument):
        return RegistryError("DIGEST_INVALID", str(err))
    if isinstance(err, errors.FailedPrecondition):
        return RegistryError("DIGEST_INVALID", str(err))
    if isinstance(err, errors.PermissionDenied):
        return RegistryError("DENIED", str(err))
    if isinstance(err, errors.Unavailable):
        return RegistryError("UNAVAILABLE", str(err))
    return RegistryError("UNKNOWN", str(err), status=500)
