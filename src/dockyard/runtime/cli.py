"""``dockyard-runc``: runc's command line, parsing only; each verb is one library call.

Imports stay lazy (``python -X importtime``): ``state`` and ``kill`` are on the
shim's hot path and must not pay for ctypes or the init code.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

DEFAULT_ROOT = "/run/dockyard-runc"
VERSION = "0.1.0"


def build_parser() -> argparse.ArgumentParser:
    import argparse

    p = argparse.ArgumentParser(prog="dockyard-runc", description="Dockyard's OCI runtime (runc command line)")
    p.add_argument("--root", default=DEFAULT_ROOT, help="state directory (default %(default)s)")
    p.add_argument("--log", default=None, help="log file (errors are also written to stderr)")
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true", help="not supported: cgroupfs only")
    p.add_argument("--rootless", default="auto", help="accepted for runc compatibility")
    p.add_argument("-v", "--version", action="version", version=f"dockyard-runc version {VERSION}\nspec: 1.0.2")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def create_like(name: str, help_: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_)
        c.add_argument("-b", "--bundle", default=".")
        c.add_argument("--pid-file", default=None)
        c.add_argument("--console-socket", default=None)
        c.add_argument("--no-pivot", action="store_true")
        c.add_argument("--no-new-keyring", action="store_true")
        c.add_argument("--preserve-fds", type=_non_negative, default=0)
        c.add_argument("id")
        return c

    create_like("create", "create a container (init waits for start)")
    r = create_like("run", "create and start a container, wait for it")
    r.add_argument("-d", "--detach", action="store_true")
    r.add_argument("--keep", action="store_true", help="do not delete the container after it exits")
    for name, help_ in (("start", "start a created container"), ("state", "print the OCI state"),
                        ("pause", "freeze all processes"), ("resume", "thaw all processes")):
        sub.add_parser(name, help=help_).add_argument("id")
    k = sub.add_parser("kill", help="send a signal to init (default SIGTERM)")
    k.add_argument("-a", "--all", action="store_true")
    k.add_argument("id")
    k.add_argument("signal", nargs="?", default="SIGTERM")
    d = sub.add_parser("delete", help="delete a container")
    d.add_argument("-f", "--force", action="store_true")
    d.add_argument("id")
    ls = sub.add_parser("list", aliases=["ls"], help="list containers")
    ls.add_argument("-f", "--format", choices=("table", "json"), default="table")
    ls.add_argument("-q", "--quiet", action="store_true")
    s = sub.add_parser("spec", help="write a default config.json")
    s.add_argument("-b", "--bundle", default=".")
    s.add_argument("--rootless", action="store_true")
    sub.add_parser("features", help="print supported features as JSON")
    e = sub.add_parser("exec", help="run a process in a running container")
    e.add_argument("-p", "--process", default=None, help="process.json (replaces ARGS and the flags)")
    e.add_argument("-t", "--tty", action="store_true")
    e.add_argument("-d", "--detach", action="store_true")
    e.add_argument("--cwd", default=None)
    e.add_argument("-e", "--env", action="append", default=[])
    e.add_argument("-u", "--user", default=None, help="uid[:gid]")
    e.add_argument("-g", "--additional-gids", action="append", type=int, default=[])
    e.add_argument("-c", "--cap", action="append", default=[])
    e.add_argument("--no-new-privs", action="store_true")
    e.add_argument("--console-socket", default=None)
    e.add_argument("--pid-file", default=None)
    e.add_argument("--preserve-fds", type=_non_negative, default=0)
    e.add_argument("--apparmor", default=None, help="accepted; AppArmor is not supported")
    e.add_argument("--process-label", default=None, help="accepted; SELinux is not supported")
    e.add_argument("id")
    e.add_argument("args", nargs=argparse.REMAINDER)
    ps = sub.add_parser("ps", help="processes of a container")
    ps.add_argument("-f", "--format", choices=("table", "json"), default="table")
    ps.add_argument("id")
    ps.add_argument("ps_args", nargs=argparse.REMAINDER, help="ignored: the table is read from /proc")
    u = sub.add_parser("update", help="update a container's resource limits")
    u.add_argument("-r", "--resources", default=None, help="LinuxResources JSON file ('-' for stdin)")
    u.add_argument("--memory", "-m", default=None)
    u.add_argument("--memory-reservation", default=None)
    u.add_argument("--memory-swap", default=None)
    u.add_argument("--cpu-shares", type=int, default=None)
    u.add_argument("--cpu-quota", type=int, default=None)
    u.add_argument("--cpu-period", type=int, default=None)
    u.add_argument("--cpuset-cpus", default=None)
    u.add_argument("--cpuset-mems", default=None)
    u.add_argument("--pids-limit", type=int, default=None)
    u.add_argument("--blkio-weight", type=int, default=None)
    u.add_argument("id")
    ev = sub.add_parser("events", help="stats and OOM events as JSON lines")
    ev.add_argument("--stats", action="store_true", help="print one stats snapshot and exit")
    ev.add_argument("--interval", default="5s", help="stats interval (e.g. 5s, 500ms)")
    ev.add_argument("id")
    for name in ("checkpoint", "restore"):
        c = sub.add_parser(name, help="not supported: dockyard-runc has no CRIU integration")
        c.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def _non_negative(v: str) -> int:
    n = int(v)
    if n < 0:
        import argparse

        raise argparse.ArgumentTypeError("must be >= 0")
    return n


SYSTEMD_REFUSAL = ("the systemd cgroup driver is not supported by dockyard-runc: "
                   "run without --systemd-cgroup (cgroupfs driver, cgroupsPath as a path)")


def dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    root = args.root
    if cmd in ("checkpoint", "restore"):
        from dockyard.errors import NotImplementedYet

        raise NotImplementedYet(f"{cmd} is not supported by dockyard-runc (no CRIU integration)")
    if getattr(args, "systemd_cgroup", False) and cmd in ("create", "run", "update"):
        from dockyard.errors import NotImplementedYet

        raise NotImplementedYet(SYSTEMD_REFUSAL)
    if cmd == "create":
        from .lifecycle.create import create

        create(root, args.id, args.bundle, pid_file=args.pid_file, console_socket=args.console_socket,
               no_pivot=args.no_pivot, preserve_fds=args.preserve_fds)
        return 0
    if cmd == "run":
        from .lifecycle.run import run

        return run(root, args.id, args.bundle, pid_file=args.pid_file, console_socket=args.console_socket,
                   no_pivot=args.no_pivot, preserve_fds=args.preserve_fds, detach=args.detach, keep=args.keep)
    if cmd == "start":
        from .lifecycle.start import start

        start(root, args.id)
        return 0
    if cmd == "state":
        from .lifecycle.state import state

        _print_json(state(root, args.id))
        return 0
    if cmd == "kill":
        from .lifecycle.kill import kill, parse_signal

        kill(root, args.id, parse_signal(args.signal), all_processes=args.all)
        return 0
    if cmd == "delete":
        from .lifecycle.delete import delete

        delete(root, args.id, force=args.force)
        return 0
    if cmd in ("pause", "resume"):
        from .lifecycle import pause as p

        getattr(p, cmd)(root, args.id)
        return 0
    if cmd in ("list", "ls"):
        from .lifecycle.state import list_containers

        _print_list(list_containers(root), args.format, args.quiet)
        return 0
    if cmd == "spec":
        return _spec(args.bundle, args.rootless)
    if cmd == "features":
        _print_json(_features())
        return 0
    if cmd == "exec":
        return _exec(args)
    if cmd == "ps":
        from .lifecycle import ps as ps_

        if args.format == "json":
            import json

            sys.stdout.write(json.dumps(ps_.pids(root, args.id)) + "\n")
        else:
            sys.stdout.write(ps_.table(root, args.id))
        return 0
    if cmd == "update":
        from .lifecycle import update as up

        res = up.load_resources(args.resources) if args.resources else up.resources_from_flags(
            memory=args.memory, memory_reservation=args.memory_reservation, memory_swap=args.memory_swap,
            cpu_shares=args.cpu_shares, cpu_quota=args.cpu_quota, cpu_period=args.cpu_period,
            cpuset_cpus=args.cpuset_cpus, cpuset_mems=args.cpuset_mems, pids_limit=args.pids_limit,
            blkio_weight=args.blkio_weight)
        up.update(root, args.id, res)
        return 0
    if cmd == "events":
        from .lifecycle import events as ev

        if args.stats:
            sys.stdout.write(ev.dumps(ev.stats_event(root, args.id)) + "\n")
            return 0
        for event in ev.stream(root, args.id, _duration(args.interval)):
            sys.stdout.write(ev.dumps(event) + "\n")
            sys.stdout.flush()
        return 0
    raise AssertionError(cmd)


def _duration(value: str) -> float:
    """Go-style durations as runc takes them: ``5s``, ``500ms``, ``1m``; a bare number is seconds."""
    from dockyard.errors import InvalidArgument

    v = value.strip()
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if v.endswith(suffix):
            v, mult = v[: -len(suffix)], scale
            break
    else:
        mult = 1.0
    try:
        seconds = float(v) * mult
    except ValueError as err:
        raise InvalidArgument(f"invalid duration {value!r}") from err
    if seconds <= 0:
        raise InvalidArgument("duration must be greater than 0")
    return seconds


def _exec(args: argparse.Namespace) -> int:
    from .container import State
    from .lifecycle.create import load_config
    from .lifecycle.exec import exec_process, process_from_cli, wait_exec
    from .linux import syscalls as sc

    cmd_args = list(args.args)
    if cmd_args and cmd_args[0] == "--":
        cmd_args = cmd_args[1:]
    config_process: dict[str, Any] = {}
    if not args.process:
        config_process = load_config(State.load(args.root, args.id).bundle).get("process") or {}
    process = process_from_cli(
        config_process, cmd_args, process_json=args.process, tty=args.tty, cwd=args.cwd, env=args.env,
        user=args.user, additional_gids=args.additional_gids, caps=args.cap, no_new_privs=args.no_new_privs,
    )
    if not args.detach:
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)  # the process is re-parented to us when the intermediate exits
    pid = exec_process(args.root, args.id, process, pid_file=args.pid_file,
                       console_socket=args.console_socket, preserve_fds=args.preserve_fds)
    if args.detach:
        return 0
    return wait_exec(pid)


def _print_json(obj: Any) -> None:
    sys.stdout.write(pretty_json(obj) + "\n")


def pretty_json(obj: Any, level: int = 0) -> str:
    """``json.dumps(obj, indent=2)`` without importing json (``state`` is a shim's hot call)."""
    from .fastjson import dumps

    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(obj, dict) and obj:
        items = ",\n".join(f"{inner}{dumps(str(k))}: {pretty_json(v, level + 1)}" for k, v in obj.items())
        return "{\n" + items + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)) and obj:
        return "[\n" + ",\n".join(inner + pretty_json(v, level + 1) for v in obj) + "\n" + pad + "]"
    return dumps(obj)


def _print_list(items: list[dict[str, Any]], fmt: str, quiet: bool) -> None:
    if quiet:
        sys.stdout.write("".join(f"{c['id']}\n" for c in items))
    elif fmt == "json":
        import json

        sys.stdout.write(json.dumps(items) + "\n")
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(c["id"], str(c["pid"]), c["status"], c["bundle"], c["created"], c["owner"]) for c in items]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            sys.stdout.write("   ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n")


def _spec(bundle: str, rootless: bool) -> int:
    import json
    import os

    from dockyard.errors import AlreadyExists
    from dockyard.oci.runtime_spec import default_spec, rootless_spec

    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise AlreadyExists(f"File {path} exists. Remove it first")
    spec = default_spec(["sh"], terminal=True, hostname="dockyard")
    if rootless:
        spec = rootless_spec(spec)
    with open(path, "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")
    return 0


def _features() -> dict[str, Any]:
    from .linux.capabilities import CAPABILITIES
    from .linux.mountopts import _FLAGS, PROPAGATION

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.0.2",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": sorted(set(_FLAGS) | set(PROPAGATION)),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": sorted(CAPABILITIES),
            "cgroup": {"v1": True, "v2": True, "systemd": False},
            "seccomp": {"enabled": True},
        },
    }


class _Args:
    """What argparse would return, for the fast path (attribute bag)."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


_GLOBAL_VALUE = {"--root": "root", "--log": "log", "--log-format": "log_format"}
_FAST_VALUE = {
    "create": {"-b": "bundle", "--bundle": "bundle", "--pid-file": "pid_file", "--console-socket": "console_socket",
               "--preserve-fds": "preserve_fds"},
    "start": {}, "state": {}, "delete": {}, "kill": {},
}
_FAST_FLAG = {"create": {"--no-pivot": "no_pivot", "--no-new-keyring": "no_new_keyring"},
              "delete": {"-f": "force", "--force": "force"}, "kill": {"-a": "all", "--all": "all"},
              "start": {}, "state": {}}


def fast_parse(argv: list[str]) -> _Args | None:
    """The shim's hot verbs (create/start/state/kill/delete) without building argparse (~15 ms).

    Anything unusual (help, unknown flags, other verbs) returns None: argparse then
    parses, and reports errors, exactly as before.
    """
    ns: dict[str, Any] = {"root": DEFAULT_ROOT, "log": None, "log_format": "text", "debug": False}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        opt, eq, val = argv[i].partition("=")
        if opt == "--debug" and not eq:
            ns["debug"] = True
        elif opt in _GLOBAL_VALUE:
            if not eq:
                i += 1
                if i >= len(argv):
                    return None
                val = argv[i]
            ns[_GLOBAL_VALUE[opt]] = val
        else:
            return None
        i += 1
    if i >= len(argv) or argv[i] not in _FAST_VALUE:
        return None
    cmd = argv[i]
    ns["command"] = cmd
    values, flags = _FAST_VALUE[cmd], _FAST_FLAG[cmd]
    for dest in values.values():
        ns[dest] = None
    for dest in flags.values():
        ns[dest] = False
    if cmd == "create":
        ns.update(bundle=".", preserve_fds=0)
    positional: list[str] = []
    i += 1
    while i < len(argv):
        a = argv[i]
        if a.startswith("-") and len(a) > 1 and not (cmd == "kill" and positional):
            opt, eq, val = a.partition("=")
            if opt in flags and not eq:
                ns[flags[opt]] = True
            elif opt in values:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        return None
                    val = argv[i]
                ns[values[opt]] = val
            else:
                return None
        else:
            positional.append(a)
        i += 1
    want = (1, 2) if cmd == "kill" else (1, 1)
    if not want[0] <= len(positional) <= want[1]:
        return None
    ns["id"] = positional[0]
    if cmd == "kill":
        ns["signal"] = positional[1] if len(positional) > 1 else "SIGTERM"
    if cmd == "create":
        try:
            ns["preserve_fds"] = int(ns["preserve_fds"] or 0)
        except ValueError:
            return None
        if ns["preserve_fds"] < 0:
            return None
    if ns["log_format"] not in ("text", "json"):
        return None
    return _Args(**ns)


def main(argv: list[str] | None = None) -> int:
    """Run one verb.  As a command (``argv`` None) it leaves through ``os._exit``.

    Interpreter finalization (module teardown and a full GC over everything the
    verb imported) measured ~40% of a ``create`` under py-spy; the runtime has
    nothing to finalize beyond stdout/stderr, which are flushed first.
    """
    if argv is None:
        code = _main(sys.argv[1:])
        import os

        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                code = code or 1
        os._exit(code)
    return _main(argv)


def _main(raw: list[str]) -> int:
    args = fast_parse(raw)
    if args is None:
        parser = build_parser()
        args, unknown = parser.parse_known_args(raw)
        if unknown and args.command not in ("checkpoint", "restore"):  # those are refused whatever their flags
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    from .log import RuntimeLog

    log = RuntimeLog(args.log, args.log_format, args.debug)
    try:
        return dispatch(args)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI alone maps errors to exit codes
        log.error(_message(args.command, err))
        if args.debug:
            import traceback

            traceback.print_exc()
        return 1


def _message(command: str, err: Exception) -> str:
    from dockyard.errors import DockyardError

    if isinstance(err, DockyardError):
        msg = str(err)
    elif isinstance(err, OSError) and err.strerror:
        msg = err.strerror + (f": {err.filename}" if err.filename else "")
    else:
        msg = f"{type(err).__name__}: {err}"
    return f"{command} failed: {msg}" if command in ("create", "run", "exec") else msg


if __name__ == "__main__":
    sys.exit(main())
