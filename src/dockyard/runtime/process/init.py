"""The container's init: runs forked from ``create``, as PID 1 of the new pid namespace.

Every step that can fail runs *before* ``ready`` is sent, so ``create`` fails
with the real reason (missing executable included, like runc's ``LookPath``
before the exec fifo).  After ``ready`` init blocks opening the exec fifo for
writing until ``start`` opens it for reading, then execs.  Nothing but stdio
and ``--preserve-fds`` survive the exec (CVE-2024-21626 class).
"""

from __future__ import annotations

import _signal  # signal.py and socket.py import enum (~7 ms): the C modules suffice here
import _socket
import errno
import os
import stat
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from socket import socket
    from typing import Any, NoReturn

    from ..linux.seccomp import Program

from ..linux import syscalls as sc
from ..linux.namespaces import NamespacePlan
from ..linux.seccomp_notify import hand_over
from ..log import debug
from .channel import Channel

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class InitOptions:
    """What init needs besides config.json (plain class: no dataclasses import on the hot path)."""

    def __init__(
        self,
        container_id: str,
        bundle: str,
        rootfs: str,
        fifo_path: str,
        no_pivot: bool = False,
        preserve_fds: int = 0,
        cgroup_paths: dict[str, str] | None = None,
        console: socket | None = None,
        fifo_fd: int = -1,
        seccomp: Program | None = None,
    ) -> None:
        self.container_id = container_id
        self.seccomp = seccomp
        self.bundle = bundle
        self.rootfs = rootfs
        self.fifo_path = fifo_path
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds
        self.cgroup_paths = dict(cgroup_paths or {})
        self.console = console
        self.fifo_fd = fifo_fd


class ExecNotFound(OSError):
    """The process's executable is missing or not executable: its kind goes to the caller with the
    message (``not_found`` or ``permission_denied``), which makes it exit code 127 or 126."""

    @property
    def kind(self) -> str:
        return "permission_denied" if self.errno == errno.EACCES else "not_found"


def lookup_executable(arg0: str, env: list[str]) -> str:
    """PATH lookup with the *container's* PATH, reporting errors the way runc (Go exec) does."""
    if "/" in arg0:
        candidates = [arg0]
    else:
        path = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
        candidates = [os.path.join(d or ".", arg0) for d in path.split(":")]
    for cand in candidates:
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and os.access(cand, os.X_OK):
            return cand
        if "/" in arg0:
            raise ExecNotFound(errno.EACCES, f'exec: "{arg0}": permission denied')
    if "/" in arg0:
        raise ExecNotFound(errno.ENOENT, f'exec: "{arg0}": stat {arg0}: no such file or directory')
    raise ExecNotFound(errno.ENOENT, f'exec: "{arg0}": executable file not found in $PATH')


def chdir_cwd(cwd: str, before_user: bool) -> bool:
    """runc's order: chdir while still root (a cwd only the runtime may enter works), and once
    more as the user if root was refused (a cwd only the user may enter); True: try again."""
    try:
        os.chdir(cwd)
    except PermissionError:
        if before_user:
            return True
        raise OSError(errno.EACCES, f"chdir to cwd ({cwd!r}) set in config.json failed: permission denied") from None
    except OSError as err:
        raise OSError(err.errno, f"chdir to cwd ({cwd!r}) set in config.json failed: {err.strerror}") from err
    return False


def set_oom_score_adj(value: int | None) -> None:
    """Our oom_score_adj, unless it is that already: the intermediate sets it while host root,
    before any user namespace (as runc's nsexec), and its children inherit it; the root of a user
    namespace may not open the file of a non-dumpable process."""
    if value is None:
        return
    with open("/proc/self/oom_score_adj") as f:
        if f.read().strip() == str(int(value)):
            return
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write(str(int(value)))


def _set_rlimits(rlimits: list[dict[str, Any]]) -> None:
    import resource

    for rl in rlimits:
        name = rl["type"]
        res = getattr(resource, name, None)
        if res is None:
            raise OSError(errno.EINVAL, f"unknown rlimit {name}")
        soft, hard = int(rl["soft"]), int(rl["hard"])
        try:
            resource.setrlimit(res, (soft, hard))
        except (OSError, ValueError) as err:
            cur = resource.getrlimit(res)
            raise OSError(
                errno.EPERM,
                f"setrlimit {name} soft={soft} hard={hard} (current {cur[0]}/{cur[1]}): {err}",
            ) from err


def _sysctl(values: dict[str, str]) -> None:
    """Write ``linux.sysctl`` (validated at create: namespaced ones only) under /proc/sys."""
    if not values:
        return
    from dockyard.oci.sysctl import proc_path  # preloaded: we are past the pivot

    for key, value in values.items():
        rel = proc_path(key)
        if any(part in ("", ".", "..") for part in rel.split("/")):
            raise OSError(errno.EINVAL, f"invalid sysctl {key}")
        try:
            fd = os.open(f"/proc/sys/{rel}", os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as err:
            raise OSError(err.errno, f"sysctl {key}={value}: {err.strerror}") from err
        try:
            os.write(fd, str(value).encode())
        except OSError as err:
            raise OSError(err.errno, f"sysctl {key}={value}: {err.strerror}") from err
        finally:
            os.close(fd)


def _reset_signals() -> None:
    """Python ignores SIGPIPE/SIGXFSZ; ignored dispositions survive exec, so restore defaults."""
    for sig in (_signal.SIGPIPE, _signal.SIGXFSZ, _signal.SIGINT, _signal.SIGTERM, _signal.SIGCHLD):
        try:
            _signal.signal(sig, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])


def preload(config: dict[str, Any]) -> None:
    """Import (and dlopen) everything init needs, before the fork.

    After pivot_root the host's site-packages are gone, and inside a user
    namespace the interpreter's own tree may be unsearchable already (here it
    lives under /root, mode 0700, which the mapped root cannot enter).
    """
    import resource  # noqa: F401 - used by _set_rlimits

    from ..cgroups import fs, v1  # noqa: F401 - the v1 cgroup mount reads mountinfo
    from ..hooks import run_hooks  # noqa: F401
    from ..linux import capabilities, rootfs  # noqa: F401
    from ..linux.network import link_up  # noqa: F401

    if (config.get("process") or {}).get("terminal"):
        from ..console import setup_console  # noqa: F401 - socket, termios: only for a terminal
    if (config.get("linux") or {}).get("sysctl"):
        from dockyard.oci import sysctl  # noqa: F401 - _sysctl runs after the pivot
    hooks = config.get("hooks") or {}
    if hooks.get("startContainer") or hooks.get("createContainer"):
        import json  # noqa: F401 - the hooks need these after the pivot
        import subprocess  # noqa: F401


def container_init(ch: Channel, config: dict[str, Any], plan: NamespacePlan, opts: InitOptions) -> NoReturn:
    """Set the container up, report ``ready``, wait on the exec fifo, exec. Never returns."""
    from ..hooks import run_hooks
    from ..linux import capabilities, rootfs
    from ..linux.network import link_up

    debug("child process in init()")
    preload(config)
    process = config.get("process") or {}
    linux = config.get("linux") or {}
    hooks = config.get("hooks") or {}
    seccomp = opts.seccomp  # compiled by `create` before the fork: init only installs it
    nnp = bool(process.get("noNewPrivileges"))
    sc.set_name("dockyard-init")
    ch.expect("go")
    # The parent moves us into the container's cgroups while we set up the rootfs (see
    # spawn_init); a new cgroup namespace is rooted where we are, so that one waits for the move.
    joined = False
    if "cgroup" in plan.new:
        ch.expect("joined")
        joined = True
        sc.unshare(sc.CLONE_NEWCGROUP)
    if not plan.has("mount"):
        raise OSError(errno.EINVAL, "a mount namespace is required (linux.namespaces has no 'mount')")
    fifo_fd = opts.fifo_fd if opts.fifo_fd >= 0 else os.open(opts.fifo_path, os.O_PATH | os.O_CLOEXEC)

    late_root = plan.has("user") and os.getuid() != 0  # see _intermediate: a privileged caller's userns
    # our own mounts only: no container code runs yet
    root = rootfs.prepare(config, opts.rootfs, opts.cgroup_paths, late_root)
    if not joined:
        ch.expect("joined")  # in the container's cgroups before any hook or container process runs
    if hooks.get("prestart") or hooks.get("createRuntime"):
        ch.send("hooks")
        ch.expect("hooks-done")
    run_hooks("createContainer", hooks.get("createContainer"), _hook_state(opts, "created"), cwd=root)
    rootfs.pivot(root, opts.no_pivot)

    if plan.has("uts"):  # new or joined by path: runc sets the hostname in either (not the host's)
        if config.get("hostname"):
            _socket.sethostname(config["hostname"])
        if config.get("domainname"):
            sc.setdomainname(config["domainname"])
    elif config.get("hostname"):
        raise OSError(errno.EINVAL, "unable to set hostname without a private UTS namespace")
    _sysctl(linux.get("sysctl") or {})
    if "network" in plan.new:
        link_up("lo")
    rootfs.finalize(config)

    set_oom_score_adj(process.get("oomScoreAdj"))
    _set_rlimits(process.get("rlimits") or [])
    if process.get("terminal"):
        if opts.console is None:
            raise OSError(errno.EINVAL, "process.terminal is set but no --console-socket was given")
        from ..console import setup_console

        setup_console(opts.console, process.get("consoleSize"))
    cwd = process.get("cwd") or "/"
    os.makedirs(cwd, mode=0o755, exist_ok=True)

    if seccomp and not nnp:  # needs CAP_SYS_ADMIN without no_new_privs: before the caps drop
        hand_over(ch, seccomp.install())
    later = chdir_cwd(cwd, before_user=True)
    capabilities.switch_user(process.get("user") or {}, process.get("capabilities"))
    if later:
        chdir_cwd(cwd, before_user=False)
    args = process.get("args") or []
    if not args:
        raise OSError(errno.EINVAL, "process.args must not be empty")
    env = list(process.get("env") or [])
    exe = lookup_executable(args[0], env)
    if nnp:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        if seccomp:  # as runc: before `ready`, so startContainer hooks run under the filter
            hand_over(ch, seccomp.install())

    ch.send("ready")
    debug("init: closing the pipe to signal completion")
    ch.close()
    keep = 3 + opts.preserve_fds
    wfd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)  # blocks until `start`
    os.write(wfd, b"0")
    # wfd stays open until the exec closes it (O_CLOEXEC): `start` returns at that EOF, once the
    # container's program runs, so a signal sent right after the start meets the program, not init
    wfd = _above(wfd, keep)
    os.close(fifo_fd)

    run_hooks("startContainer", hooks.get("startContainer"), _hook_state(opts, "running"))
    os.umask(int((process.get("user") or {}).get("umask", 0o022)))
    _reset_signals()
    for fd in range(3, keep):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass
    os.closerange(keep, wfd)
    os.closerange(wfd + 1, _max_fd())
    envmap = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    os.execve(exe, args, envmap)


def _above(fd: int, keep: int) -> int:
    """``fd`` moved past the preserved fds, which the exec inherits (close-on-exec kept)."""
    if fd >= keep:
        return fd
    import fcntl

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, keep)
    os.close(fd)
    return moved


def _max_fd() -> int:
    try:
        return max(int(n) for n in os.listdir("/proc/self/fd")) + 1
    except (OSError, ValueError):
        return os.sysconf("SC_OPEN_MAX")


def _hook_state(opts: InitOptions, status: str) -> dict[str, Any]:
    return {"ociVersion": "1.0.2", "id": opts.container_id, "status": status, "pid": 1, "bundle": opts.bundle}


def run_init(ch: Channel, config: dict[str, Any], plan: NamespacePlan, opts: InitOptions) -> NoReturn:
    """Wrapper that turns any failure into a typed ``error`` message, then exits."""
    try:
        container_init(ch, config, plan, opts)
    except BaseException as err:  # noqa: BLE001 - every failure must reach `create`
        msg = _describe(err)
        try:
            ch.send("error", message=msg, kind=getattr(err, "kind", "internal"))
        except OSError:
            # after `ready` nobody listens on the channel any more: runc prints to stderr
            try:
                sys.stderr.write(f"dockyard-runc init: {msg}\n")
                sys.stderr.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(127 if isinstance(err, ExecNotFound) else 1)
    os._exit(1)


def _describe(err: BaseException) -> str:
    if isinstance(err, ExecNotFound):
        return err.strerror or str(err)
    if isinstance(err, OSError) and err.strerror:
        return err.strerror if err.filename is None else f"{err.strerror}: {err.filename}"
    return str(err) or type(err).__name__
