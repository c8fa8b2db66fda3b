"""Typed sync messages between the runtime (parent) and the container's init.

A ``SOCK_SEQPACKET`` socketpair keeps message boundaries, so each message is
one small JSON object ``{"type": ...}``.  EOF (the peer died) is reported as an
error message rather than an exception, so ``create`` can say what happened.
Types: userns, userns-done, pid, go, hooks, hooks-done, ready, error.
"""

from __future__ import annotations

import _socket

from ..fastjson import dumps, loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# _socket, not socket: socket.py imports enum and selectors (~10 ms per runtime call)
_AF_UNIX = _socket.AF_UNIX
_SOCK_SEQPACKET = _socket.SOCK_SEQPACKET

MAX_MESSAGE = 1 << 16


class Channel:
    def __init__(self, sock: Any) -> None:
        self.sock = sock

    @staticmethod
    def pair() -> tuple[Channel, Channel]:
        a, b = _socket.socketpair(_AF_UNIX, _SOCK_SEQPACKET)
        return Channel(a), Channel(b)

    def send(self, type_: str, **fields: Any) -> None:
        self.sock.send(dumps({"type": type_, **fields}).encode())

    def recv(self, timeout: float | None = None) -> dict[str, Any]:
        self.sock.settimeout(timeout)
        try:
            raw = self.sock.recv(MAX_MESSAGE)
        except TimeoutError:
            return {"type": "error", "message": "timed out waiting for container init"}
        if not raw:
            return {"type": "eof"}
        msg: dict[str, Any] = loads(raw)
        return msg

    def expect(self, type_: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait for ``type_``; an error/eof from the peer raises InitError with its message."""
        msg = self.recv(timeout)
        if msg["type"] == type_:
            return msg
        if msg["type"] == "error":
            raise InitError(msg.get("message", "unknown error"), msg.get("kind", "internal"))
        if msg["type"] == "eof":
            raise InitError("container init exited before it was ready")
        raise InitError(f"unexpected sync message {msg['type']!r} (wanted {type_!r})")

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


class InitError(Exception):
    """The container init failed; ``str()`` is init's own message."""

    def __init__(self, message: str, kind: str = "internal") -> None:
        super().__init__(message)
        self.kind = kind
