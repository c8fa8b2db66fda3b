"""Launching shims: directly (``spawn``, the command line's path) or from the shim template.

The template (``dockyard-shim --template SOCKET``, started by containerd) is a pre-imported,
single-threaded process that forks shims on request, keeping the next one forked ahead
(``fork_spare``). Requests are one JSON line of shim arguments; the reply is
``{"ok": true}`` or ``{"error": "..."}``. See docs/architecture.md, "Shims are forked
from a template".
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import sys
from typing import Any, NoReturn

from dockyard.shim.protocol import decode, encode
from dockyard.shim.shim import become_shim


def spawn(args: argparse.Namespace) -> str:
    """Start a shim that outlives us: fork twice so it is re-parented away; '' or an error text."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        if os.fork() != 0:
            os._exit(0)
        become_shim(args, _PipeReport(ready_w))
    os.close(ready_w)
    os.waitpid(pid, 0)
    return _await_ready(ready_r) or ""


class _PipeReport:
    """``become_shim``'s report on a pipe to ``spawn``: "ok", or the error's text."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __call__(self, error: str | None) -> None:
        os.write(self.fd, b"ok" if error is None else error.encode())
        os.close(self.fd)


def _await_ready(ready_r: int) -> str | None:
    """What a starting shim wrote on ``ready_r`` (closed here): None for "ok", else its error."""
    msg = b""
    while chunk := os.read(ready_r, 4096):
        msg += chunk
        if msg.startswith(b"ok"):
            break
    os.close(ready_r)
    if msg.startswith(b"ok"):
        return None
    return msg.decode(errors="replace").strip() or "dockyard-shim: failed to start; see its shim.log"


def fork_spare(listener: socket.socket) -> socket.socket:
    """Fork the next container's shim ahead of time: the socket to hand it its request on.

    The spare is double-forked at once (re-parented away from the template, as ``spawn`` does)
    and waits for one JSON line of shim arguments with the caller's connection passed along
    (SCM_RIGHTS); it then becomes that shim (``become_shim``) and answers the caller itself,
    ``{"ok": true}`` once it listens or ``{"error": ...}``. So the template neither waits for a
    shim to start nor pays the two forks (~3 ms) while a container starts: a burst of creates
    has its shims starting side by side. EOF instead of a request (the template went away)
    makes the spare exit."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        try:
            listener.close()
            ours.close()
            if os.fork() != 0:
                os._exit(0)
            _serve_one(theirs)
        finally:
            os._exit(1)
    theirs.close()
    os.waitpid(pid, 0)
    return ours


def _serve_one(handover: socket.socket) -> NoReturn:
    """In the spare: receive the request and the caller's connection, become the shim."""
    data, fds = b"", []
    while not data.endswith(b"\n"):
        chunk, got, _, _ = socket.recv_fds(handover, 65536, 1)
        fds += got
        if not chunk:
            break
        data += chunk
    handover.close()
    if not data.endswith(b"\n") or not fds:
        os._exit(0)
    caller = socket.socket(fileno=fds[0])
    for fd in fds[1:]:
        os.close(fd)
    become_shim(_shim_args(decode(data)), _CallerReport(caller))


class _CallerReport:
    """What ``become_shim`` reports on, for a shim forked from the template: the JSON reply on the
    caller's connection (a direct ``spawn`` reports on a pipe instead)."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn

    def __call__(self, error: str | None) -> None:
        try:
            self.conn.sendall(encode({"ok": True} if error is None else {"error": error.strip()}))
        except OSError:
            pass
        self.conn.close()


def _shim_args(req: dict[str, Any]) -> argparse.Namespace:
    return argparse.Namespace(namespace=req.get("namespace", "default"), id=req["id"], bundle=req["bundle"],
                              runtime=req.get("runtime", "dockyard-runc"), runtime_root=req["runtime_root"],
                              socket=req["socket"])


def _hand_over(spare: socket.socket, data: bytes, conn: socket.socket) -> str | None:
    """Give the spare the request and the caller's connection; None once it has them, else the error."""
    try:
        socket.send_fds(spare, [data], [conn.fileno()])
    except OSError as err:
        return f"shim failed to start: {err}"
    finally:
        spare.close()
    return None


def serve_template(socket_path: str) -> NoReturn:
    """The shim template: a pre-imported, single-threaded process that forks shims on request.

    A forked shim skips the interpreter start-up and the imports (about 50 ms and a
    few MB of private memory per container); it shares the template's pages until
    it writes them. Requests are one JSON line of shim arguments; the reply is
    ``{"ok": true}`` or ``{"error": "..."}``.
    """
    from dockyard.runtime.warm import warm

    warm()  # the in-process runtime's imports and libraries, paid once here instead of in every shim

    import gc

    gc.collect()
    gc.freeze()  # keep the collector from writing to (and so copying) the shared pages in every shim
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG: go when containerd goes
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        os.unlink(socket_path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    os.chmod(socket_path, 0o600)
    listener.listen(64)
    spare = fork_spare(listener)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        conn, _ = listener.accept()
        with conn:
            try:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                _shim_args(decode(data))  # a bad request fails here, before it reaches the spare
            except (KeyError, ValueError) as err:
                _reply(conn, {"error": f"bad request: {err}"})
                continue
            error = _hand_over(spare, data, conn)  # the shim answers the caller itself
            if error is not None:
                _reply(conn, {"error": error})
        spare = fork_spare(listener)  # for the next container, while this one's shim starts


def _reply(conn: socket.socket, reply: dict[str, Any]) -> None:
    try:
        conn.sendall(encode(reply))
    except OSError:
        pass
