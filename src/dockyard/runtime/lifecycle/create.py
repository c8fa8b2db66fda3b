"""``create``: set the container up and leave init blocked on the exec fifo.

Every partial step registers its undo on an ``_Undo`` stack (state dir, cgroup,
init process); ``pop_all`` on success.  A failed create leaves nothing behind.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any

from dockyard.errors import FailedPrecondition, InvalidArgument, NotFound

from ..container import EXEC_FIFO, ContainerExists, State, proc_starttime, remove_state_dir, validate_id
from ..fastjson import loads
from ..process.channel import InitError


class CreateError(InvalidArgument):
    """create failed in init; the message is init's own, and so is the kind when init named one
    (``not_found``, ``permission_denied``: the process's executable)."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        if kind in ("not_found", "permission_denied"):
            self.kind = kind


SECCOMP_CACHE = ".seccomp-cache"  # compiled filters; never a container: it has no state.json


def load_config(bundle: str) -> dict[str, Any]:
    path = os.path.join(bundle, "config.json")
    try:
        with open(path) as f:
            config: dict[str, Any] = loads(f.read())
    except FileNotFoundError as err:
        raise NotFound(f"JSON specification file {path} not found") from err
    except ValueError as err:  # json.JSONDecodeError
        raise InvalidArgument(f"invalid config.json {path}: {err}") from err
    if not isinstance(config, dict) or "process" not in config or "root" not in config:
        raise InvalidArgument(f"config.json {path}: 'process' and 'root' are required")
    return config


def validate_sysctls(linux: dict[str, Any], plan: Any) -> None:
    """runc's rule: only sysctls of a namespace the container owns (a joined network namespace
    that is the host's is the host's)."""
    from dockyard.oci.sysctl import refusals

    host_net = not plan.has("network") or any(t == "network" and _same_ns(path, "/proc/self/ns/net")
                                               for t, path in plan.join)
    refused = refusals(linux["sysctl"], linux.get("namespaces") or [], host_net)
    if refused:
        raise InvalidArgument("; ".join(refused))


def _same_ns(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False  # a path that does not open fails at the join, with its own message
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def check_terminal(terminal: bool, detach: bool, console_socket: str | None) -> None:
    """runc's rule: a detached terminal needs --console-socket, and only a detached terminal takes one."""
    if detach and terminal and not console_socket:
        raise InvalidArgument("cannot allocate tty if runc will detach without setting console socket")
    if (not detach or not terminal) and console_socket:
        raise InvalidArgument("cannot use console socket if runc will not detach or allocate tty")


def _write_pid_file(path: str, pid: int) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


def create(
    root: str,
    container_id: str,
    bundle: str,
    *,
    pid_file: str | None = None,
    console_socket: str | None = None,
    console: socket.socket | None = None,
    no_pivot: bool = False,
    preserve_fds: int = 0,
) -> State:
    """``console``: a connected socket for the pty master instead of ``console_socket`` (foreground run)."""
    from ..cgroups.detect import manager_for
    from ..hooks import run_hooks
    from ..linux.namespaces import plan as ns_plan
    from ..process.init import InitOptions
    from ..process.main import spawn_init

    validate_id(container_id)
    bundle = os.path.abspath(bundle)
    config = load_config(bundle)
    terminal = bool((config.get("process") or {}).get("terminal"))
    if console is None:
        check_terminal(terminal, True, console_socket)
    plan = ns_plan((config.get("linux") or {}).get("namespaces"))
    if plan.has("user") or (config.get("linux") or {}).get("uidMappings"):
        from ..linux.userns import validate

        validate(config.get("linux") or {}, "user" in plan.new, plan.has("user"))
    if (config.get("linux") or {}).get("sysctl"):
        validate_sysctls(config["linux"], plan)
    root_path = (config.get("root") or {}).get("path") or "rootfs"
    rootfs = os.path.realpath(os.path.join(bundle, root_path))
    if not os.path.isdir(rootfs):
        raise NotFound(f"rootfs {rootfs} does not exist")

    linux = config.get("linux") or {}
    cgroups = manager_for(linux.get("cgroupsPath"), container_id)
    if cgroups.version == 1 and (linux.get("resources") or {}).get("unified") is not None:
        raise InvalidArgument("invalid configuration: cannot use unified on cgroup v1")
    check_existing_cgroup(cgroups)

    os.makedirs(root, mode=0o700, exist_ok=True)
    state_dir = State.dir_for(root, container_id)
    try:
        os.mkdir(state_dir, 0o700)  # state.json: for root alone (init reopens exec.fifo by fd)
    except FileExistsError as err:
        raise ContainerExists(f"container with id exists: {container_id}") from err

    with _Undo() as undo:
        undo.callback(remove_state_dir, state_dir)
        fifo = os.path.join(state_dir, EXEC_FIFO)
        os.mkfifo(fifo, 0o622)
        os.chmod(fifo, 0o622)  # not the umask's 0600: init may be another uid (user namespace)
        undo.callback(_quiet, cgroups.remove)
        try:
            cgroups.create()
            cgroups.apply(with_default_device_rules(linux.get("resources") or {}, always=cgroups.version == 2))
            if "user" in plan.new:
                _delegate_cgroup(cgroups, linux)
        except OSError as err:
            raise InvalidArgument(f"cgroup setup failed: {err.strerror or err}") from err
        state = State(
            id=container_id,
            bundle=bundle,
            rootfs=rootfs,
            created=_utc_now(),
            annotations=dict(config.get("annotations") or {}),
            cgroup_paths=cgroups.paths(),
            cgroup_version=cgroups.version,
            config_hooks={k: v for k, v in (config.get("hooks") or {}).items() if k in ("poststart", "poststop")},
            status_hint="creating",
        )
        state.save(root)
        if not terminal:
            console = None
        elif console is None:
            import socket

            console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            undo.callback(console.close)
            assert console_socket is not None  # check_terminal above: a terminal without console needs one
            console.connect(console_socket)

        # init inherits an O_PATH fd: in a user namespace it may not search the path to --root
        fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
        undo.callback(os.close, fifo_fd)
        opts = InitOptions(
            container_id=container_id,
            bundle=bundle,
            rootfs=rootfs,
            fifo_path=fifo,
            fifo_fd=fifo_fd,
            no_pivot=no_pivot,
            preserve_fds=preserve_fds,
            cgroup_paths=cgroups.paths(),
            console=console,
        )
        if linux.get("seccomp"):
            from ..linux.seccomp import SeccompError, compile

            try:
                opts.seccomp = compile(linux["seccomp"], os.path.join(root, SECCOMP_CACHE))
            except (SeccompError, KeyError, TypeError) as err:
                raise InvalidArgument(f"linux.seccomp: {err}") from err
        hooks = config.get("hooks") or {}

        def on_hooks(pid: int) -> None:
            hs = {"ociVersion": "1.0.2", "id": container_id, "status": "creating", "pid": pid, "bundle": bundle}
            run_hooks("prestart", hooks.get("prestart"), hs)
            run_hooks("createRuntime", hooks.get("createRuntime"), hs)

        try:
            pid = spawn_init(config, plan, opts, cgroups.add_task, on_hooks)
        except InitError as err:
            raise CreateError(f"unable to start container process: {err}", err.kind) from err
        undo.callback(_kill, pid)
        state.pid = pid
        state.pid_starttime = proc_starttime(pid) or 0
        state.status_hint = "created"
        state.save(root)
        if pid_file:
            _write_pid_file(os.path.abspath(pid_file), pid)
        undo.pop_all()
        os.close(fifo_fd)
    return state


def check_existing_cgroup(cgroups: Any) -> None:
    """runc's checks of a cgroup that exists before the container: processes in it are warned
    about; a frozen one is refused (joining it would leave init stuck in the freezer, unkillable
    by the runtime's own timeouts)."""
    paths = cgroups.paths()
    if cgroups.version == 2:
        base = paths.get("", "")
        frozen = _read_first(os.path.join(base, "cgroup.freeze")) == "1"
    else:
        base = paths.get("devices") or next(iter(paths.values()), "")
        frozen = _read_first(os.path.join(paths.get("freezer", ""), "freezer.state")) in ("FROZEN", "FREEZING")
    if frozen:  # on v1 the freezer hierarchy alone may hold the cgroup: checked whatever the others hold
        raise FailedPrecondition("container's cgroup unexpectedly frozen")
    if not base or not os.path.isdir(base):
        return
    try:
        count = len(cgroups.pids())
    except OSError:
        return  # removed meanwhile
    if count:
        import logging

        logging.getLogger("dockyard.runtime").warning("container's cgroup is not empty: %d process(es) found", count)


def _read_first(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


# runc appends these to every device cgroup (specconv AllowedDevices): the spec's default
# devices (/dev/null, zero, ...) must stay usable even under a bare "deny all" rule.
DEFAULT_ALLOWED_DEVICES: tuple[dict[str, Any], ...] = (
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
)


def with_default_device_rules(resources: dict[str, Any], always: bool = False) -> dict[str, Any]:
    """The spec's device rules followed by runc's default allow list: on v1 only when any rule
    denies; ``always`` on v2, as runc (its device program starts from "deny all")."""
    rules = resources.get("devices") or []
    if not always and not any(not r.get("allow") for r in rules):
        return resources
    out = dict(resources)
    out["devices"] = list(rules) + [r for r in DEFAULT_ALLOWED_DEVICES if r not in rules]
    return out


class _Undo:
    """The part of ``contextlib.ExitStack`` create needs (contextlib costs ~4 ms to import)."""

    def __init__(self) -> None:
        self._calls: list[tuple[Any, tuple[Any, ...]]] = []

    def callback(self, fn: Any, *args: Any) -> None:
        self._calls.append((fn, args))

    def pop_all(self) -> None:
        self._calls = []

    def __enter__(self) -> _Undo:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        """Undo in reverse order; a failing undo never hides the error that caused it."""
        first: BaseException | None = None
        while self._calls:
            fn, args = self._calls.pop()
            try:
                fn(*args)
            except BaseException as err:  # noqa: BLE001
                first = first or err
        if first is not None and exc_type is None:
            raise first


def _delegate_cgroup(cgroups: Any, linux: dict[str, Any]) -> None:
    """cgroup v2 + user namespace: hand the cgroup to the container's root, as runc and crun do."""
    if cgroups.version != 2:
        return  # v1: the container sees read-only binds; nothing to delegate
    from ..linux.userns import host_id

    uid = host_id(linux.get("uidMappings"), 0)
    gid = host_id(linux.get("gidMappings"), 0)
    if uid is None or gid is None:
        return
    base = cgroups.paths()[""]
    for name in ("", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
        path = os.path.join(base, name) if name else base
        if os.path.exists(path):
            os.chown(path, uid, gid)


def _quiet(fn: Any) -> None:
    try:
        fn()
    except OSError:
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


def _utc_now() -> str:
    """RFC 3339 with microseconds, like runc's ``created`` (datetime costs an import)."""
    import time

    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
