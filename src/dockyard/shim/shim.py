"""dockyard-shim: the process between containerd and the runtime, for one container or a pod.

Why it exists (as containerd-shim does): it is the parent (child subreaper) of the
containers' init processes, so it collects their exit statuses; it holds the stdio FIFOs
open so a container never gets EPIPE while a daemon restarts; and it outlives both
daemons, which reconnect to its socket. It is single-threaded, since it forks the
containers' processes.

A shim holds one task (an engine container) or every task of a pod (containerd's
``tasks/manager.py`` groups a CRI pod's containers by their sandbox ID, as containerd's
runc v2 shim does): each request names its task by ``id``; ``add`` joins another task to
a running shim; the shim exits once its last task is deleted or shut down. A task's own
state and verbs are ``shim/task.py``; how the process is forked (directly or from the
template) is ``shim/template.py``; its terminals are ``shim/tty.py``.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import selectors
import signal
import socket
from collections.abc import Callable
from typing import Any, NoReturn

from dockyard.shim.protocol import METHODS, decode, encode
from dockyard.shim.task import ShimError, Task
from dockyard.shim.tty import Terminals

PR_SET_CHILD_SUBREAPER = 36
PR_SET_NAME = 15

TASK_METHODS = tuple(m for m in METHODS if m not in ("add", "wait", "shutdown"))  # those the shim answers itself

__all__ = ["Shim", "ShimError", "Task", "become_shim", "set_process_title"]


class Shim:
    """The shim process: its tasks, the children it reaps for them, its socket loop."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.socket_path: str = args.socket
        self.tasks: dict[str, Task] = {}
        self.first: str = args.id  # the task a request without an ``id`` means (one-task shims)
        self.reaped: dict[int, int] = {}
        self.running = True
        self.sel = selectors.DefaultSelector()
        self.terminals = Terminals(self.sel)  # keyed "<task>/<exec>" ("<task>/" is init's console)
        self._consoles = 0
        self.add(args.id, args.bundle, args.runtime, args.runtime_root)

    # -- tasks -----------------------------------------------------------------------

    def add(self, id: str, bundle: str, runtime: str = "dockyard-runc", runtime_root: str = "") -> dict[str, Any]:
        """Take another task (of the same pod) into this shim; ``create`` it next."""
        if not id or not bundle or not runtime_root:
            raise ShimError("invalid_argument", "add needs id, bundle and runtime_root")
        if not self.running:  # its last task left: the caller starts a new shim for the pod
            raise ShimError("unavailable", "this shim is exiting")
        if id in self.tasks:
            raise ShimError("already_exists", f"task {id} already exists in this shim")
        self.tasks[id] = Task(self, id, bundle, runtime, runtime_root)
        with open(os.path.join(bundle, "shim.pid"), "w") as f:
            f.write(str(os.getpid()))
        return {}

    def task(self, id: str | None) -> Task:
        """The request's task. One this shim does not hold was deleted, or its shim died and this one
        took the pod's socket over: to the caller that shim is gone ("unavailable", as a dead shim's
        refused connection), so it reads the task's exit from its bundle."""
        try:
            return self.tasks[id or self.first]
        except KeyError:
            raise ShimError("unavailable", f"task {id or self.first}: not in this shim") from None

    def remove(self, task: Task) -> None:
        """A deleted (or shut down) task leaves; the shim goes with its last task."""
        self.tasks.pop(task.id, None)
        if not self.tasks:
            self.running = False

    def console_path(self) -> str:
        self._consoles += 1
        return f"{self.socket_path}.c{self._consoles}"

    # -- exits -----------------------------------------------------------------------

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.reaped[pid] = os.waitstatus_to_exitcode(status)
            self.check_reaped()

    def check_reaped(self) -> None:
        for task in list(self.tasks.values()):
            task.check_reaped()

    # -- the socket loop -------------------------------------------------------------

    def reply(self, conn: socket.socket, msg: dict[str, Any]) -> None:
        try:
            conn.sendall(encode(msg))
        except OSError:
            pass
        self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        try:
            self.sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()

    def _wait(self, conn: socket.socket, task: Task, exec_id: str = "") -> None:
        """Answer at the exit: now if it happened, else once reaped (only the exit speaks to conn then)."""
        if exec_id:
            p = task.proc_of(exec_id)
            if p.status == "stopped":
                self.reply(conn, {"result": {"exit_status": p.exit_status, "exited_at": p.exited_at}})
                return
            p.waiters.append(conn)
        elif task.status == "stopped":
            self.reply(conn, {"result": task.exit_result()})
            return
        else:
            task.waiters.append(conn)
        self.sel.unregister(conn)

    def handle(self, conn: socket.socket, buf: bytes) -> None:
        try:
            req = decode(buf)
            method = req.get("method")
            params = req.get("params") or {}
            if method == "add":
                result = self.add(**params)
            elif method == "wait":
                self._wait(conn, self.task(req.get("id")), **params)
                return
            elif method == "shutdown":
                task = self.task(req.get("id"))
                if task.status in ("running", "created", "paused"):
                    raise ShimError("failed_precondition", "task is still alive")
                self.remove(task)
                result = {}
            elif method in TASK_METHODS:
                task = self.task(req.get("id"))
                result = getattr(task, method)(**params)
                if method == "delete" and not params.get("exec_id"):
                    self.remove(task)
            else:
                raise ShimError("invalid_argument", f"unknown shim method {method!r}")
            self.reply(conn, {"result": result})
        except ShimError as err:
            self.reply(conn, {"error": {"kind": err.kind, "message": str(err)}})
        except (ValueError, TypeError) as err:
            self.reply(conn, {"error": {"kind": "invalid_argument", "message": str(err)}})

    def serve(self, listener: socket.socket) -> None:
        bound = os.stat(self.socket_path)
        rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wfd)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: None)  # we live as long as the container
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self.sel.register(listener, selectors.EVENT_READ, "listen")
        self.sel.register(rfd, selectors.EVENT_READ, "signal")
        buffers: dict[socket.socket, bytes] = {}
        self.reap()
        while self.running:
            for key, _ in self.sel.select():
                if isinstance(key.data, tuple):
                    if key.data[0] == "pty":
                        self.terminals.pty_out(key.data[1])
                    else:
                        self.terminals.pty_in(key.data[1])
                    continue
                if key.data == "signal":
                    try:
                        os.read(rfd, 512)
                    except BlockingIOError:
                        pass
                    self.reap()
                elif key.data == "listen":
                    conn, _ = listener.accept()
                    conn.setblocking(True)
                    self.sel.register(conn, selectors.EVENT_READ, "conn")
                    buffers[conn] = b""
                else:
                    conn = key.fileobj  # type: ignore[assignment]
                    chunk = conn.recv(65536)
                    if not chunk:
                        buffers.pop(conn, None)
                        self._drop(conn)
                        continue
                    buf = buffers[conn] + chunk
                    if b"\n" in buf:
                        buffers.pop(conn, None)
                        self.handle(conn, buf.split(b"\n", 1)[0])
                    else:
                        buffers[conn] = buf
        listener.close()
        self._unlink_socket(bound)

    def _unlink_socket(self, bound: os.stat_result) -> None:
        """Unlink our socket, unless a new shim of the same pod has bound the path since."""
        try:
            now = os.stat(self.socket_path)
            if (now.st_dev, now.st_ino) == (bound.st_dev, bound.st_ino):
                os.unlink(self.socket_path)
        except FileNotFoundError:
            pass


def _set_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def set_process_title(title: str) -> None:
    """Make ``ps`` show this shim as itself, not as the template it was forked from.

    /proc/<pid>/cmdline is the process's original argv area (``arg_start``..``arg_end``
    in /proc/self/stat); the title is written over it, NUL-padded, truncated to
    its length. ``comm`` (what ``top`` shows) is set with PR_SET_NAME.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NAME, ctypes.c_char_p(b"dockyard-shim"), 0, 0, 0)
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[48 - 3]), int(fields[49 - 3])
    except (OSError, ValueError, IndexError):
        return
    if not 0 < start < end:
        return
    raw = title.encode()[:end - start - 1]
    ctypes.memmove(start, raw + b"\0" * (end - start - len(raw)), end - start)


def become_shim(args: argparse.Namespace, report: Callable[[str | None], None]) -> NoReturn:
    """In a freshly forked child: leave the caller's session, listen, ``report`` readiness (None)
    or the error that stopped it, serve."""
    try:
        os.setsid()
        log = os.open(os.path.join(args.bundle, "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(log, 2)
        os.close(devnull)
        os.close(log)
        os.chdir(args.bundle)
        _set_subreaper()
        set_process_title(f"dockyard-shim -namespace {args.namespace} -id {args.id}")
        try:
            os.unlink(args.socket)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(args.socket)
        os.chmod(args.socket, 0o600)
        listener.listen(64)
        shim = Shim(args)  # writes shim.pid into the first task's bundle
    except Exception as err:  # report any start failure to the waiting caller
        report(f"dockyard-shim: {err}\n")
        os._exit(1)
    report(None)
    try:
        shim.serve(listener)
    except Exception as err:
        os.write(2, f"dockyard-shim {args.id}: fatal: {err!r}\n".encode())
        os._exit(1)
    os._exit(0)
