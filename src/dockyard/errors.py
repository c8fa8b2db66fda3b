"""One error taxonomy for every layer (after containerd's errdefs).

Subsystems subclass a kind (``class ImageNotFound(NotFound)``); each boundary
translates errors once through a table: HTTP status in ``engine/api``, gRPC
status codes in ``containerd``, the ``{"kind", "message"}`` JSON of the shim.
"""

from __future__ import annotations


class DockyardError(Exception):
    """Base of every error Dockyard raises on purpose."""

    kind = "internal"


class NotFound(DockyardError):
    kind = "not_found"


class AlreadyExists(DockyardError):
    kind = "already_exists"


class InvalidArgument(DockyardError):
    kind = "invalid_argument"


class FailedPrecondition(DockyardError):
    """The object is in the wrong state for the operation (start of a running container)."""

    kind = "failed_precondition"


class Conflict(DockyardError):
    kind = "conflict"


class Unavailable(DockyardError):
    kind = "unavailable"


class PermissionDenied(DockyardError):
    kind = "permission_denied"


class NotImplementedYet(DockyardError):
    kind = "not_implemented"


class ResourceExhausted(DockyardError):
    """No room left: the disk (or a quota) is full. A containerd service answers a full disk with the
    gRPC status RESOURCE_EXHAUSTED and the client raises this for it, so callers far away (the engine)
    know the kind without reading the message."""

    kind = "resource_exhausted"


class Internal(DockyardError):
    kind = "internal"


class SpecRefused(Internal):
    """A container's start refused while its spec is made, as dockerd's createSpec (a System error): a 500
    with the message as it is, where a runtime's failure is a 400 "failed to create task ..."."""


KINDS: dict[str, type[DockyardError]] = {
    cls.kind: cls
    for cls in (
        NotFound,
        AlreadyExists,
        InvalidArgument,
        FailedPrecondition,
        Conflict,
        Unavailable,
        PermissionDenied,
        NotImplementedYet,
        ResourceExhausted,
        Internal,
    )
}


def from_kind(kind: str, message: str) -> DockyardError:
    """Rebuild an error from its wire form (``kind`` + ``message``)."""
    return KINDS.get(kind, Internal)(message)
