"""One task (container) of a shim: its init, its execs, its stdio and its exit.

A shim process (``shim/shim.py``) holds one task, or every task of a pod: the pod's
containers are grouped by the ``io.kubernetes.cri.sandbox-id`` annotation, as containerd's
runc v2 shim groups them (``containerd/tasks/manager.py``). What a task shares with the
others of its shim (the selector, the terminals, the reaped children, the reply path) is
the shim's; everything else is here.

The built-in runtime (``dockyard-runc``) runs in-process, its library called as its CLI
would call it (imported by the template before the fork, ``runtime/warm.py``); any other
runtime (runc, crun) is driven through its command line
(``create``/``start``/``kill``/``delete``/``exec``/``pause``/``resume``).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from dockyard.shim import sigsettle
from dockyard.shim.execpath import program_missing
from dockyard.shim.tty import Tty, console_listener, receive_master, set_size

if TYPE_CHECKING:
    from dockyard.shim.shim import Shim


class ShimError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Task:
    def __init__(self, shim: Shim, id: str, bundle: str, runtime: str, runtime_root: str) -> None:
        self.shim = shim
        self.id = id
        self.bundle = bundle
        self.runtime = runtime
        self.runtime_root = runtime_root
        self.pid = 0
        self.status = "unknown"
        self.exit_status: int | None = None
        self.exited_at = 0
        self.started = float("-inf")  # time.monotonic() of the start (sigsettle.py)
        self.oom_killed = False  # the kernel OOM-killed a process of the task's cgroup (known at the exit)
        self.waiters: list[socket.socket] = []
        self.held_fds: list[int] = []  # O_RDWR ends of the stdio FIFOs, closed when init exits
        self.execs: dict[str, Proc] = {}

    def _tty_key(self, exec_id: str) -> str:
        """The key of a terminal in the shim's table (all its tasks'): ``<task id>/<exec id>``, the
        exec id "" for init's console."""
        return f"{self.id}/{exec_id}"

    # -- the runtime: in-process for the built-in one, else its command line -----

    @property
    def builtin(self) -> bool:
        """The built-in runtime runs in-process: the same library its CLI calls, minus two
        interpreter start-ups per container (see docs/benchmarks.md)."""
        return os.path.basename(self.runtime) == "dockyard-runc"

    def _builtin(self, verb: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from dockyard.errors import DockyardError

        try:
            return fn(*args, **kwargs)
        except DockyardError as err:
            raise ShimError(err.kind, f"runtime {verb} failed: {err}") from err
        except OSError as err:
            raise ShimError("internal", f"runtime {verb} failed: {err}") from err

    def _with_stdio(self, stdin: int, stdout: int, stderr: int, verb: str, fn: Any, *args: Any,
                    **kwargs: Any) -> Any:
        """The new process inherits our fds 0-2, so they are the FIFOs for the call's duration."""
        saved = [os.dup(fd) for fd in (0, 1, 2)]
        try:
            for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
                os.dup2(fd, target)
            return self._builtin(verb, fn, *args, **kwargs)
        finally:
            for target, fd in enumerate(saved):
                os.dup2(fd, target)
                os.close(fd)

    def _builtin_create(self, pid_file: str, stdin: int, stdout: int, stderr: int,
                        console_socket: str | None = None) -> None:
        """``create`` runs in a short-lived child: what the runtime code writes to memory (refcounts,
        its objects) would otherwise stay as private pages of this long-lived shim. init is
        re-parented to us (we are its subreaper) when the child exits."""
        from dockyard.runtime.lifecycle.create import create

        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            reply: dict[str, Any] = {}
            try:
                os.chdir(self.bundle)
                self._with_stdio(stdin, stdout, stderr, "create", create, self.runtime_root, self.id, self.bundle,
                                 pid_file=pid_file, console_socket=console_socket)
            except ShimError as err:
                reply = {"kind": err.kind, "message": str(err)}
            except BaseException as err:  # noqa: BLE001 - reported to the shim, which answers the caller
                reply = {"kind": "internal", "message": f"runtime create failed: {err}"}
            os.write(w, json.dumps(reply).encode())
            os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)  # then read: init, forked by the child, still holds the write end
        os.set_blocking(r, False)
        try:
            data = os.read(r, 65536)
        except BlockingIOError:
            data = b""
        os.close(r)
        reply = json.loads(data or b'{"kind": "internal", "message": "runtime create died"}')
        if reply:
            raise ShimError(reply["kind"], reply["message"])


    def _runtime(self, *argv: str, stdin: int | None = None, stdout: int | None = None,
                 stderr: int | None = None) -> None:
        cmd = [self.runtime, "--root", self.runtime_root, "--log", os.path.join(self.bundle, "runtime.log"),
               "--log-format", "json", *argv]
        # The runtime's own error text goes to the log; its stderr may be the container's FIFO.
        proc = subprocess.run(cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                              stdout=stdout if stdout is not None else subprocess.DEVNULL,
                              stderr=stderr if stderr is not None else subprocess.PIPE,
                              close_fds=True, cwd=self.bundle)
        if proc.returncode != 0:
            raise ShimError("failed_precondition", self._runtime_error(argv[0], proc.stderr))

    def _runtime_error(self, verb: str, stderr: bytes | None) -> str:
        """The last error line the runtime logged, so the caller sees init's real reason."""
        message = ""
        try:
            with open(os.path.join(self.bundle, "runtime.log"), "rb") as f:
                lines = f.read().splitlines()
            for line in reversed(lines):
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("level") == "error":
                    message = str(entry.get("msg", ""))
                    break
        except OSError:
            pass
        if not message and stderr:
            message = stderr.decode(errors="replace").strip()
        return f"runtime {verb} failed: {message or 'unknown error'}"

    # -- methods -------------------------------------------------------------------

    def _open_stdio(self, stdin: str, stdout: str, stderr: str, held: list[int]) -> list[int]:
        """Open our ends of the caller's FIFOs: (stdin, stdout, stderr) for the new process."""
        fds = [_open_fifo(stdin, os.O_RDONLY) if stdin else os.open(os.devnull, os.O_RDONLY)]
        for path in (stdout, stderr):
            if path:
                # Our own read-write end keeps the FIFO alive for the container if the
                # engine goes away, and lets the container's write end open at once.
                held.append(os.open(path, os.O_RDWR | os.O_CLOEXEC))
                fds.append(os.open(path, os.O_WRONLY))
            else:
                fds.append(os.open(os.devnull, os.O_WRONLY))
        return fds

    def _console_listener(self) -> tuple[socket.socket, str]:
        # beside the shim's socket: bundle paths are too long for a UNIX socket (108 bytes)
        path = self.shim.console_path()
        return console_listener(path), path

    def _receive_console(self, key: str, lsock: socket.socket, path: str, stdin: str, stdout: str) -> None:
        """Take the pty master the runtime sent and copy it to and from the FIFOs in the shim's loop."""
        master = receive_master(lsock, path)
        if master is None:
            raise ShimError("internal", "runtime sent no console")
        self.shim.terminals.add(self._tty_key(key), Tty(master, os.open(stdout, os.O_WRONLY) if stdout else -1,
                                                        _open_fifo(stdin, os.O_RDONLY) if stdin else -1))

    def create(self, stdin: str = "", stdout: str = "", stderr: str = "", terminal: bool = False) -> dict[str, Any]:
        if self.status != "unknown":
            raise ShimError("failed_precondition", f"task {self.id} already created")
        fds: list[int] = []
        console: tuple[socket.socket, str] | None = None
        try:
            fds = self._open_stdio("" if terminal else stdin, stdout, stderr, self.held_fds)
            pid_file = os.path.join(self.bundle, "init.pid")
            if terminal:
                console = self._console_listener()
            if self.builtin:
                self._builtin_create(pid_file, fds[0], fds[1], fds[2], console[1] if console else None)
            else:
                extra = ["--console-socket", console[1]] if console else []
                self._runtime("create", "--bundle", self.bundle, "--pid-file", pid_file, *extra, self.id,
                              stdin=fds[0], stdout=fds[1], stderr=fds[2])
            self.pid = _read_pid(pid_file)
            if console:
                self._receive_console("", *console, stdin, stdout)
                console = None
        except OSError as err:
            raise ShimError("internal", f"task {self.id}: {err}") from err
        finally:
            _close_setup(fds, console)
        self.status = "created"
        self.check_reaped()
        return self.state()

    def exec(self, exec_id: str, process: dict[str, Any], stdin: str = "", stdout: str = "", stderr: str = "",
             terminal: bool = False) -> dict[str, Any]:
        if self.status != "running":
            raise ShimError("failed_precondition", f"task {self.id} is {self.status}, not running")
        if exec_id in self.execs:
            raise ShimError("already_exists", f"exec {exec_id} already exists")
        proc = Proc()
        fds: list[int] = []
        console: tuple[socket.socket, str] | None = None
        process = {**process, "terminal": bool(terminal)}
        try:
            fds = self._open_stdio("" if terminal else stdin, stdout, stderr, proc.held_fds)
            if terminal:
                console = self._console_listener()
            if self.builtin:
                from dockyard.runtime.lifecycle.exec import exec_process

                proc.pid = self._with_stdio(fds[0], fds[1], fds[2], "exec", exec_process, self.runtime_root,
                                            self.id, process, console_socket=console[1] if console else None)
            else:
                spec = os.path.join(self.bundle, f"exec-{exec_id}.json")
                with open(spec, "w") as f:
                    json.dump(process, f)
                pid_file = os.path.join(self.bundle, f"exec-{exec_id}.pid")
                extra = ["--console-socket", console[1]] if console else []
                self._runtime("exec", "--process", spec, "--pid-file", pid_file, "--detach", *extra, self.id,
                              stdin=fds[0], stdout=fds[1], stderr=fds[2])
                proc.pid = _read_pid(pid_file)
            if console:
                self._receive_console(exec_id, *console, stdin, stdout)
                console = None
        except ShimError as err:
            for fd in proc.held_fds:
                os.close(fd)
            # the built-in runtime names the kind; a runtime's command line exits 1 whatever
            # the cause, so the container is asked whether the program is there
            if not self.builtin and program_missing(self.pid, process):
                raise ShimError("not_found", str(err)) from err
            raise
        except OSError as err:
            for fd in proc.held_fds:
                os.close(fd)
            raise ShimError("internal", f"exec {exec_id}: {err}") from err
        finally:
            _close_setup(fds, console)
        self.execs[exec_id] = proc
        self.check_reaped()
        return {"pid": proc.pid, "status": proc.status, "exit_status": 0, "exited_at": 0}

    def resize(self, width: int, height: int, exec_id: str = "") -> dict[str, Any]:
        tty = self.shim.terminals.get(self._tty_key(exec_id))
        if tty is None:
            raise ShimError("not_found", f"no terminal for {'exec ' + exec_id if exec_id else 'the task'}")
        set_size(tty, width, height)
        return {}

    def close_io(self, exec_id: str = "") -> dict[str, Any]:
        return {}

    def pause(self) -> dict[str, Any]:
        self._verb("pause")
        self.status = "paused"
        return {}

    def resume(self) -> dict[str, Any]:
        self._verb("resume")
        self.status = "running"
        return {}

    def _verb(self, verb: str) -> None:
        if self.builtin:
            from dockyard.runtime.lifecycle import pause as lc

            self._builtin(verb, getattr(lc, verb), self.runtime_root, self.id)
        else:
            self._runtime(verb, self.id)

    def pids(self) -> dict[str, Any]:
        from dockyard.runtime.lifecycle.ps import pids

        return {"pids": self._builtin("ps", pids, self.runtime_root, self.id)}

    def stats(self) -> dict[str, Any]:
        from dockyard.runtime.lifecycle.events import stats_event

        return self._builtin("stats", stats_event, self.runtime_root, self.id)["data"]  # type: ignore[no-any-return]

    def update(self, resources: dict[str, Any]) -> dict[str, Any]:
        from dockyard.runtime.lifecycle.update import update

        self._builtin("update", update, self.runtime_root, self.id, resources)
        return {}

    def start(self) -> dict[str, Any]:
        if self.status != "created":
            raise ShimError("failed_precondition", f"task {self.id} is {self.status}, not created")
        if self.builtin:
            from dockyard.runtime.lifecycle.start import start

            self._builtin("start", start, self.runtime_root, self.id)
        else:
            self._runtime("start", self.id)
        if self.status == "created":
            self.status = "running"
            self.started = time.monotonic()
        self.check_reaped()
        return self.state()

    def kill(self, signal: int = 15, all: bool = False, exec_id: str = "") -> dict[str, Any]:
        if exec_id:
            proc = self.proc_of(exec_id)
            if proc.status == "stopped":
                raise ShimError("not_found", f"exec {exec_id}: process already finished")
            os.kill(proc.pid, signal)
            return {}
        if self.status == "stopped":
            raise ShimError("not_found", f"task {self.id}: process already finished")
        sigsettle.settle(self.pid, signal, self.started)  # just started: let its program catch the signal first
        if self.builtin:
            from dockyard.runtime.lifecycle.kill import kill

            self._builtin("kill", kill, self.runtime_root, self.id, signal, all_processes=all)
        else:
            self._runtime(*(["kill"] + (["--all"] if all else []) + [self.id, str(signal)]))
        return {}

    def proc_of(self, exec_id: str) -> Proc:
        """The exec's process; not_found for an exec the task does not have."""
        try:
            return self.execs[exec_id]
        except KeyError:
            raise ShimError("not_found", f"exec {exec_id}: not found") from None

    def state(self, exec_id: str = "") -> dict[str, Any]:
        if exec_id:
            p = self.proc_of(exec_id)
            return {"pid": p.pid, "status": p.status, "exit_status": p.exit_status or 0, "exited_at": p.exited_at}
        return {"pid": self.pid, "status": self.status,
                "exit_status": self.exit_status if self.exit_status is not None else 0,
                "exited_at": self.exited_at, "oom_killed": self.oom_killed}

    def delete(self, exec_id: str = "") -> dict[str, Any]:
        if exec_id:
            p = self.proc_of(exec_id)
            if p.status != "stopped":
                raise ShimError("failed_precondition", f"exec {exec_id} is still running")
            del self.execs[exec_id]
            return {"exit_status": p.exit_status or 0, "exited_at": p.exited_at}
        if self.status in ("running", "paused"):
            raise ShimError("failed_precondition", f"task {self.id} is {self.status}: kill it first")
        if self.status != "unknown":
            if self.builtin:
                from dockyard.runtime.lifecycle.delete import delete

                self._builtin("delete", delete, self.runtime_root, self.id, force=True)
            else:
                self._runtime("delete", "--force", self.id)
        return {"exit_status": self.exit_status or 0, "exited_at": self.exited_at, "oom_killed": self.oom_killed}

    # -- exit handling ---------------------------------------------------------------

    def exit_result(self) -> dict[str, Any]:
        """The task's exit as ``wait`` answers it and ``exit.json`` keeps it."""
        return {"exit_status": self.exit_status, "exited_at": self.exited_at, "oom_killed": self.oom_killed}

    def _oom_killed(self) -> bool:
        """Whether the kernel OOM-killed a process of the task's cgroup during its run (the cgroup
        is made at create and removed at delete, so its counter is this run's): v1
        ``memory.oom_control``, v2 ``memory.events`` ``oom_kill``. Read from the cgroup the
        bundle's spec names, so it holds for every runtime using the cgroupfs layout."""
        from dockyard.errors import DockyardError
        from dockyard.runtime.cgroups.stats import oom_killed_in

        try:
            with open(os.path.join(self.bundle, "config.json")) as f:
                cgroups_path = (json.load(f).get("linux") or {}).get("cgroupsPath")
            return oom_killed_in(cgroups_path, self.id)
        except (OSError, ValueError, DockyardError) as err:
            print(f"dockyard-shim: oom check of {self.id}: {err}", file=sys.stderr, flush=True)
            return False

    def check_reaped(self) -> None:
        """Take this task's exits (init's, its execs') from the children the shim reaped."""
        reaped = self.shim.reaped
        for exec_id, p in self.execs.items():
            if p.status == "running" and p.pid in reaped:
                code = reaped.pop(p.pid)
                p.exit_status = code if code >= 0 else 128 - code
                p.exited_at = time.time_ns()
                p.status = "stopped"
                self.shim.terminals.drain(self._tty_key(exec_id))
                for fd in p.held_fds:
                    os.close(fd)
                p.held_fds.clear()
                for conn in p.waiters:
                    self.shim.reply(conn, {"result": {"exit_status": p.exit_status, "exited_at": p.exited_at}})
                p.waiters.clear()
        if not self.pid or self.pid not in reaped or self.status == "stopped":
            return
        code = reaped.pop(self.pid)
        self.exit_status = code if code >= 0 else 128 - code
        self.exited_at = time.time_ns()
        self.status = "stopped"
        self.oom_killed = self._oom_killed()
        tmp = os.path.join(self.bundle, "exit.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.exit_result(), f)
        os.replace(tmp, os.path.join(self.bundle, "exit.json"))
        self.shim.terminals.drain(self._tty_key(""))
        for fd in self.held_fds:
            os.close(fd)
        self.held_fds.clear()
        for conn in self.waiters:
            self.shim.reply(conn, {"result": self.exit_result()})
        self.waiters.clear()


class Proc:
    """An exec'd process: its pid, exit and waiters (the shim reaps it as subreaper)."""

    def __init__(self) -> None:
        self.pid = 0
        self.status = "running"
        self.exit_status: int | None = None
        self.exited_at = 0
        self.waiters: list[socket.socket] = []
        self.held_fds: list[int] = []


def _open_fifo(path: str, flags: int) -> int:
    fd = os.open(path, flags | os.O_NONBLOCK)
    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, fl & ~os.O_NONBLOCK)
    return fd


def _read_pid(pid_file: str) -> int:
    with open(pid_file) as f:
        return int(f.read().strip())


def _close_setup(fds: list[int], console: tuple[socket.socket, str] | None) -> None:
    """After a create or an exec: close the stdio fds handed to the runtime and a console listener
    that did not receive its terminal."""
    for fd in fds:
        os.close(fd)
    if console:
        console[0].close()
