"""``exec``: run one more process inside a running container.

Shape (runc's ``setns`` path, but forked rather than re-exec'd):

caller ──fork──▶ intermediate: non-dumpable, joins the container's cgroups
(writes its own pid while the host's /sys/fs/cgroup is still visible), then
``setns`` into every namespace of the container's init that differs from its
own, forks the process (so it is *in* the pid namespace), reports its pid and
exits.  The process is re-parented to the caller's subreaper (the shim, or the
CLI itself when it waits).  It applies the process's rlimits, console, user,
capabilities (the container's when it names none, as runc), no_new_privs and
the container's seccomp filter, closes every
descriptor but stdio, ``--preserve-fds`` and the sync socket (close-on-exec),
and ``execve``s.  The sync socket therefore reads EOF exactly when the exec
succeeded; any failure before it arrives as a typed ``error`` message, so
``exec_process`` raises *before* returning, as ``create`` does.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

from dockyard.errors import InvalidArgument

from ..container import ContainerStatus, State, WrongStatus
from ..log import debug
from ..process.channel import Channel, InitError, expect_type

SYNC_TIMEOUT = 60.0
# setns order: user first (grants the capabilities for the rest), mount last
_NS_ORDER = ("user", "ipc", "uts", "net", "pid", "cgroup", "time", "mnt")


class ExecError(InvalidArgument):
    """The process could not be started; the message is the child's own.

    ``reason`` is ``not_found`` (exit 127 in Docker), ``permission`` (126) or
    ``internal``; the first two are its kind too, which the shim passes on to the engine.
    """

    def __init__(self, message: str, reason: str = "internal") -> None:
        super().__init__(message)
        self.reason = reason
        kind = {"not_found": "not_found", "permission": "permission_denied"}.get(reason, reason)
        if kind in ("not_found", "permission_denied"):
            self.kind = kind


def exec_process(
    root: str,
    container_id: str,
    process: dict[str, Any],
    *,
    pid_file: str | None = None,
    console_socket: str | None = None,
    console: socket.socket | None = None,
    preserve_fds: int = 0,
    sub_cgroups: dict[str, str] | None = None,
    ignore_paused: bool = False,
) -> int:
    """Start ``process`` in the container; return its host pid once it has exec'd.

    stdio of the new process is the caller's fds 0-2, or a pty whose master goes to
    ``console`` (a connected socket) or to ``--console-socket``.  Raises ExecError if the
    process could not be started (missing executable, bad user, ...).
    """
    from .create import _write_pid_file, check_terminal, load_config

    state = State.load(root, container_id)
    status = state.status(root)
    if status is ContainerStatus.PAUSED and not ignore_paused:
        raise WrongStatus("cannot exec in a paused container (use --ignore-paused to override)")
    if status not in (ContainerStatus.RUNNING, ContainerStatus.CREATED, ContainerStatus.PAUSED):
        raise WrongStatus(f"cannot exec in a {status.value} container")
    cgroup_paths = exec_cgroup_paths(state.cgroup_paths, sub_cgroups or {})
    if not process.get("args"):
        raise InvalidArgument("exec: process.args must not be empty")
    config = load_config(state.bundle)
    linux = config.get("linux") or {}
    profile = linux.get("seccomp") or {}  # the agent's listenerPath, if the profile notifies one
    if profile:
        from ..linux.seccomp import SeccompError, compile
        from .create import SECCOMP_CACHE

        try:  # compiled here, before the forks; the exec'd side only installs it
            linux["seccomp"] = compile(linux["seccomp"], os.path.join(root, SECCOMP_CACHE))
        except (SeccompError, KeyError, TypeError) as err:
            raise InvalidArgument(f"linux.seccomp: {err}") from err
    own_console = None
    if process.get("terminal") and console is None:
        check_terminal(True, True, console_socket)
        own_console = console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        assert console_socket is not None  # check_terminal: a terminal without console needs one
        try:
            console.connect(console_socket)
        except OSError:
            console.close()
            raise
    try:
        pid = _spawn(state, cgroup_paths, config, process, console if process.get("terminal") else None,
                     preserve_fds, profile)
    finally:
        if own_console is not None:
            own_console.close()
    if pid_file:
        _write_pid_file(os.path.abspath(pid_file), pid)
    return pid


def exec_cgroup_paths(paths: dict[str, str], sub: dict[str, str]) -> dict[str, str]:
    """The container's cgroups, or sub-cgroups of them (runc's ``exec --cgroup``): ``{"": path}``
    for every controller, else ``{controller: path}``; a path may not leave the container's cgroup."""
    out = dict(paths)
    if "" in sub:
        targets = {key: sub[""] for key in paths}
    else:
        unknown = [c for c in sub if c not in paths]
        if unknown:
            raise InvalidArgument(f"unknown controller {unknown[0]} in SubCgroupPaths")
        targets = sub
    for key, add in targets.items():
        base = paths[key]
        joined = os.path.normpath(os.path.join(base, add.lstrip("/")))
        if joined != base and not joined.startswith(base.rstrip("/") + "/"):
            raise InvalidArgument(f"{add} is not a sub cgroup path")
        out[key] = joined
    return out


def parse_cgroup_args(args: list[str]) -> dict[str, str]:
    """``--cgroup [<controller>[,<controller>]:]<path>``, as runc reads them."""
    paths: dict[str, str] = {}
    for arg in args:
        parts = arg.split(":", 2)
        if len(parts) > 2:
            raise InvalidArgument(f"invalid --cgroup argument: {arg}")
        if len(parts) == 1:
            if len(args) != 1:
                raise InvalidArgument(f"invalid --cgroup argument: {arg} (missing <controller>: prefix)")
            paths[""] = arg
            continue
        for ctrl in parts[0].split(","):
            paths[ctrl] = parts[1]
    return paths


def _spawn(state: State, cgroup_paths: dict[str, str], config: dict[str, Any], process: dict[str, Any],
           console: socket.socket | None, preserve_fds: int, profile: dict[str, Any]) -> int:
    parent, child = Channel.pair()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            parent.close()
            _intermediate(child, state, cgroup_paths, config, process, console, preserve_fds)
        finally:
            os._exit(1)
    child.close()
    proc_pid = 0
    try:
        msg = parent.recv(SYNC_TIMEOUT)
        listener = None  # the process may send its seccomp listener before the intermediate its pid
        if msg["type"] == "seccomp":
            listener, msg = msg, parent.recv(SYNC_TIMEOUT)
        proc_pid = int(expect_type(msg, "pid")["pid"])
        _reap(pid)
        pid = 0
        msg = listener or parent.recv(SYNC_TIMEOUT)
        if msg["type"] == "seccomp":
            _deliver_listener(parent, msg, state, profile, proc_pid)
            msg = parent.recv(SYNC_TIMEOUT)
        if msg["type"] == "eof":
            return proc_pid  # the close-on-exec sync socket closed: execve succeeded
        if msg["type"] == "error":
            proc_pid = 0  # it exits by itself; the subreaper reaps it
            raise ExecError(msg.get("message", "unknown error"), msg.get("kind", "internal"))
        raise ExecError(f"unexpected sync message {msg['type']!r}")
    except InitError as err:
        raise ExecError(str(err), err.kind) from err
    except BaseException:
        if proc_pid:
            try:
                os.kill(proc_pid, 9)
            except ProcessLookupError:
                pass
        raise
    finally:
        if pid:
            _reap(pid)
        parent.close()


def _deliver_listener(ch: Channel, msg: dict[str, Any], state: State, profile: dict[str, Any], pid: int) -> None:
    """The process's seccomp listener to the profile's agent (runc: the container's state, running)."""
    from ..linux.seccomp_notify import deliver

    oci = {"ociVersion": "1.0.2", "id": state.id, "status": "running", "pid": state.pid, "bundle": state.bundle}
    if state.annotations:
        oci["annotations"] = state.annotations
    try:
        deliver(ch, msg, profile, pid, oci)
    except OSError as err:
        raise ExecError(err.strerror or str(err)) from err


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # a caller with its own SIGCHLD reaper got there first


def _namespace_fds(init_pid: int) -> list[tuple[str, int]]:
    """Open the init's namespaces that differ from ours (setns into our own user ns is EINVAL)."""
    fds: list[tuple[str, int]] = []
    try:
        for ns in _NS_ORDER:
            path = f"/proc/{init_pid}/ns/{ns}"
            try:
                theirs = os.stat(path)
            except FileNotFoundError:
                continue  # kernel without this namespace type
            mine = os.stat(f"/proc/self/ns/{ns}")
            if (theirs.st_dev, theirs.st_ino) == (mine.st_dev, mine.st_ino):
                continue
            fds.append((ns, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
    except BaseException:
        for _, fd in fds:
            os.close(fd)
        raise
    return fds


def _intermediate(ch: Channel, state: State, cgroup_paths: dict[str, str], config: dict[str, Any],
                  process: dict[str, Any], console: socket.socket | None, preserve_fds: int) -> NoReturn:
    from ..container import proc_starttime
    from ..linux import syscalls as sc

    try:
        debug("nsexec container setup")
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        # import now: after setns(mnt) the host's site-packages are out of reach
        import resource  # noqa: F401

        from ..console import setup_console  # noqa: F401
        from ..linux import capabilities  # noqa: F401
        from ..process import init as _init  # noqa: F401

        fds = _namespace_fds(state.pid)
        _init.set_oom_score_adj(process.get("oomScoreAdj"))  # while host root, before the user namespace
        if proc_starttime(state.pid) != state.pid_starttime and state.pid_starttime:
            raise OSError(3, "container init exited")
        for path in dict.fromkeys(cgroup_paths.values()):
            procs = os.path.join(path, "cgroup.procs")
            try:
                with open(procs, "w") as f:
                    f.write(str(os.getpid()))
            except OSError as err:
                reason = (err.strerror or "").lower()
                raise OSError(err.errno, f"error adding pid {os.getpid()} to cgroups: {procs}: {reason}") from err
        for ns, fd in fds:
            try:
                sc.setns(fd, 0)
            except OSError as err:
                raise OSError(err.errno, f"join {ns} namespace of pid {state.pid}: {os.strerror(err.errno or 0)}") from err
            os.close(fd)
        pid = os.fork()
        if pid == 0:
            _run_process(ch, config, process, console, preserve_fds)
        ch.send("pid", pid=pid)
    except BaseException as err:  # noqa: BLE001
        try:
            ch.send("error", message=getattr(err, "strerror", None) or str(err))
        finally:
            os._exit(1)
    os._exit(0)


def _run_process(ch: Channel, config: dict[str, Any], process: dict[str, Any],
                 console: socket.socket | None, preserve_fds: int) -> NoReturn:
    try:
        _setup_and_exec(ch, config, process, console, preserve_fds)
    except BaseException as err:  # noqa: BLE001 - every failure must reach the caller
        from ..process.init import ExecNotFound, _describe

        reason = "internal"
        if isinstance(err, ExecNotFound):
            reason = "not_found" if err.errno == 2 else "permission"
        try:
            ch.send("error", message=_describe(err), kind=reason)
        except OSError:
            pass
        os._exit(127 if reason == "not_found" else 126 if reason == "permission" else 1)
    os._exit(1)


def _setup_and_exec(ch: Channel, config: dict[str, Any], process: dict[str, Any],
                    console: socket.socket | None, preserve_fds: int) -> NoReturn:
    from ..console import setup_console
    from ..linux import capabilities
    from ..linux import syscalls as sc
    from ..linux.seccomp_notify import hand_over
    from ..process.init import _max_fd, _reset_signals, _set_rlimits, chdir_cwd, lookup_executable, set_oom_score_adj

    debug("child process in init()")
    sc.set_name("dockyard-exec")
    keep = 3 + preserve_fds
    # the sync socket must survive the fd sweep and vanish at execve
    sync_fd = fcntl.fcntl(ch.fileno(), fcntl.F_DUPFD_CLOEXEC, max(keep, 3))
    os.close(ch.sock.detach())
    ch.sock = socket.socket(fileno=sync_fd)  # in place: the caller reports errors through ``ch``

    seccomp = (config.get("linux") or {}).get("seccomp")  # a Program: see exec_process
    nnp = bool(process.get("noNewPrivileges", (config.get("process") or {}).get("noNewPrivileges")))
    set_oom_score_adj(process.get("oomScoreAdj"))
    _set_rlimits(process.get("rlimits") or [])
    if process.get("terminal"):
        if console is None:
            raise OSError(22, "process.terminal is set but no --console-socket was given")
        setup_console(console, process.get("consoleSize"))
    elif console is not None:
        console.close()
    env = list(process.get("env") or [])
    args = list(process["args"])
    cwd = process.get("cwd") or "/"
    later = chdir_cwd(cwd, before_user=True)
    if seccomp and not nnp:  # needs CAP_SYS_ADMIN without no_new_privs: before the caps drop
        hand_over(ch, seccomp.install())
    capabilities.switch_user(process.get("user") or {}, exec_capabilities(config, process))
    if later:
        chdir_cwd(cwd, before_user=False)
    exe = lookup_executable(args[0], env)
    if nnp:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        if seccomp:
            hand_over(ch, seccomp.install())
    os.umask(int((process.get("user") or {}).get("umask", 0o022)))
    _reset_signals()
    for fd in range(3, keep):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass
    debug("setns_init: about to exec")
    top = _max_fd()
    os.closerange(keep, sync_fd)
    os.closerange(sync_fd + 1, max(top, sync_fd + 1))
    envmap = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    os.execve(exe, args, envmap)


def exec_capabilities(config: dict[str, Any], process: dict[str, Any]) -> dict[str, Any] | None:
    """runc's rule: a process without ``capabilities`` gets the container's, never the runtime's own."""
    if process.get("capabilities") is not None:
        return dict(process["capabilities"])
    return (config.get("process") or {}).get("capabilities")


def process_from_cli(
    config_process: dict[str, Any],
    args: list[str],
    *,
    process_json: str | None = None,
    tty: bool = False,
    cwd: str | None = None,
    env: list[str] | None = None,
    user: str | None = None,
    additional_gids: list[int] | None = None,
    caps: list[str] | None = None,
    no_new_privs: bool = False,
) -> dict[str, Any]:
    """runc's ``getProcess``: ``-p process.json`` as is, else the container's process with overrides."""
    import copy
    import json

    if process_json:
        with open(process_json) as f:
            proc: dict[str, Any] = json.load(f)
        return proc
    if not args:
        raise InvalidArgument("exec: no command given (ARGS or -p process.json)")
    proc = copy.deepcopy(config_process)
    proc["args"] = list(args)
    proc["terminal"] = tty
    proc.pop("consoleSize", None)
    if cwd:
        proc["cwd"] = cwd
    if env:
        proc["env"] = list(proc.get("env") or []) + list(env)
    if user:
        uid, _, gid = user.partition(":")
        try:
            u = proc.setdefault("user", {})
            u["uid"] = int(uid)
            u["gid"] = int(gid) if gid else 0
        except ValueError as err:
            raise InvalidArgument(f"--user must be uid[:gid] (numeric), got {user!r}") from err
    if additional_gids:
        proc.setdefault("user", {})["additionalGids"] = list(additional_gids)
    if caps:
        c = proc.setdefault("capabilities", {})
        for name in caps:
            n = name.upper() if name.upper().startswith("CAP_") else "CAP_" + name.upper()
            for key in ("bounding", "effective", "permitted"):
                c.setdefault(key, [])
                if n not in c[key]:
                    c[key].append(n)
            if c.get("inheritable") is not None and n not in c.setdefault("ambient", []):
                c["ambient"].append(n)
    if no_new_privs:
        proc["noNewPrivileges"] = True
    return proc


def wait_exec(pid: int, tty: Any = None) -> int:
    """Wait for an exec'd process (we are its subreaper), forwarding signals; return its status, runc style."""
    from .run import wait_forwarding

    return wait_forwarding(pid, tty)
