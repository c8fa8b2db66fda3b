"""Typed sync messages between the runtime (parent) and the container's init.

A ``SOCK_SEQPACKET`` socketpair keeps message boundaries, so each message is
one small JSON object ``{"type": ...}``.  EOF (the peer died) is reported as an
error message rather than an exception, so ``create`` can say what happened.
Types: userns, userns-done, pid, go, hooks, hooks-done, seccomp (carries the
seccomp listener fd: SCM_RIGHTS), seccomp-done, ready, error.
"""

from __future__ import annotations

import _socket
import os
import sys

from ..fastjson import dumps, loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# _socket, not socket: socket.py imports enum and selectors (~10 ms per runtime call)
_AF_UNIX = _socket.AF_UNIX
_SOCK_SEQPACKET = _socket.SOCK_SEQPACKET

MAX_MESSAGE = 1 << 16
_FD_SPACE = _socket.CMSG_SPACE(4)  # room for one fd (kernel closes any beyond: MSG_CTRUNC)


def _received_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds += [int.from_bytes(data[i:i + 4], sys.byteorder) for i in range(0, len(data) - len(data) % 4, 4)]
    return fds


class Channel:
    def __init__(self, sock: Any) -> None:
        self.sock = sock

    @staticmethod
    def pair() -> tuple[Channel, Channel]:
        a, b = _socket.socketpair(_AF_UNIX, _SOCK_SEQPACKET)
        return Channel(a), Channel(b)

    def send(self, type_: str, **fields: Any) -> None:
        self.sock.send(dumps({"type": type_, **fields}).encode())

    def send_fd(self, type_: str, fd: int, **fields: Any) -> None:
        """One message with ``fd`` attached; the receiver finds it as ``msg["fd"]``."""
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]
        self.sock.sendmsg([dumps({"type": type_, **fields}).encode()], rights)

    def recv(self, timeout: float | None = None) -> dict[str, Any]:
        self.sock.settimeout(timeout)
        try:
            raw, ancillary, _, _ = self.sock.recvmsg(MAX_MESSAGE, _FD_SPACE, _socket.MSG_CMSG_CLOEXEC)
        except TimeoutError:
            return {"type": "error", "message": "timed out waiting for container init"}
        fds = _received_fds(ancillary)
        if not raw:
            for fd in fds:
                os.close(fd)
            return {"type": "eof"}
        msg: dict[str, Any] = loads(raw)
        if fds:
            msg["fd"] = fds[0]
            for extra in fds[1:]:
                os.close(extra)
        return msg

    def expect(self, type_: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait for ``type_``; an error/eof from the peer raises InitError with its message."""
        return expect_type(self.recv(timeout), type_)

    def fileno(self) -> int:
        return int(self.sock.fileno())

    def close(self) -> None:
        self.sock.close()


def expect_type(msg: dict[str, Any], type_: str) -> dict[str, Any]:
    """``msg`` if it is a ``type_``; an error/eof from the peer raises InitError with its message."""
    if msg["type"] == type_:
        return msg
    if msg["type"] == "error":
        raise InitError(msg.get("message", "unknown error"), msg.get("kind", "internal"))
    if msg["type"] == "eof":
        raise InitError("container init exited before it was ready")
    raise InitError(f"unexpected sync message {msg['type']!r} (wanted {type_!r})")


class InitError(Exception):
    """The container init failed; ``str()`` is init's own message."""

    def __init__(self, message: str, kind: str = "internal") -> None:
        super().__init__(message)
        self.kind = kind
