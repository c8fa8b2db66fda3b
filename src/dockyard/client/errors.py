"""The client's errors, split as httpx splits them: what the daemon answered (``DaemonError``, an
HTTP status >= 400, one class per ``dockyard.errors`` kind so ``except errors.NotFound`` still
works) and what went wrong on the way (``TransportError``: no daemon, a dropped connection).

The CLI prints only a ``DaemonError`` as ``Error response from daemon: ...``."""

from __future__ import annotations

from dockyard import errors


class DaemonError(errors.DockyardError):
    """The daemon's answer was an error status; ``str()`` is its message."""

    status = 500


class TransportError(errors.Unavailable):
    """The request never got an answer: connect, TLS, ssh, or a connection closed early."""


class DaemonInvalidArgument(DaemonError, errors.InvalidArgument):
    status = 400


class DaemonPermissionDenied(DaemonError, errors.PermissionDenied):
    status = 403


class DaemonNotFound(DaemonError, errors.NotFound):
    status = 404


class DaemonConflict(DaemonError, errors.Conflict):
    status = 409


class DaemonInternal(DaemonError, errors.Internal):
    status = 500


class DaemonNotImplemented(DaemonError, errors.NotImplementedYet):
    status = 501


class DaemonUnavailable(DaemonError, errors.Unavailable):
    status = 503


BY_STATUS: dict[int, type[DaemonError]] = {
    cls.status: cls for cls in (DaemonInvalidArgument, DaemonPermissionDenied, DaemonNotFound, DaemonConflict,
                                DaemonInternal, DaemonNotImplemented, DaemonUnavailable)}


def from_status(status: int, message: str) -> DaemonError:
    err = BY_STATUS.get(status, DaemonInternal)(message)
    err.status = status
    return err
