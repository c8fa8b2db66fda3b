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
        become_shim(args, ready_w)
    os.close(ready_w)
    os.waitpid(pid, 0)
    return _await_ready(ready_r) or ""


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


def fork_spare(listener: socket.socket) -> tuple[int, int]:
    """Fork the next container's shim ahead of time: (fd to send it its arguments, fd it answers on).

    The spare is double-forked at once (re-parented away from the template, as ``spawn`` does)
    and waits for one JSON line of shim arguments; it then becomes that shim (``become_shim``),
    which answers "ok" or an error on the second fd. The two forks, ~3 ms, are then paid after
    a container starts rather than while it starts. EOF instead of arguments (the template
    went away) makes the spare exit."""
    args_r, args_w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            listener.close()
            os.close(args_w)
            os.close(ready_r)
            if os.fork() != 0:
                os._exit(0)
            data = b""
            while chunk := os.read(args_r, 65536):
                data += chunk
            os.close(args_r)
            if not data:
                os._exit(0)
            become_shim(_shim_args(decode(data)), ready_w)
        finally:
            os._exit(1)
    os.close(args_r)
    os.close(ready_w)
    os.waitpid(pid, 0)
    return args_w, ready_r


def _shim_args(req: dict[str, Any]) -> argparse.Namespace:
    return argparse.Namespace(namespace=req.get("namespace", "default"), id=req["id"], bundle=req["bundle"],
                              runtime=req.get("runtime", "dockyard-runc"), runtime_root=req["runtime_root"],
                              socket=req["socket"])


def _start_spare(spare: tuple[int, int], req: dict[str, Any]) -> dict[str, Any]:
    """Hand ``req`` to the spare and wait for it to listen; the reply for containerd."""
    args_w, ready_r = spare
    try:
        os.write(args_w, encode(req))
    except OSError as err:
        os.close(ready_r)
        return {"error": f"shim failed to start: {err}"}
    finally:
        os.close(args_w)
    error = _await_ready(ready_r)
    return {"ok": True} if error is None else {"error": error}


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
        used = False
        with conn:
            try:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                req = decode(data)
                _shim_args(req)  # a bad request fails here, before it reaches the spare
                used = True
                reply = _start_spare(spare, req)
            except (KeyError, ValueError) as err:
                reply = {"error": f"bad request: {err}"}
            try:
                conn.sendall(encode(reply))
            except OSError:
                pass
        if used:
            spare = fork_spare(listener)  # for the next container, once this one has its shim
