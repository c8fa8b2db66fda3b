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


CONSOLE_HELP = ("path to an AF_UNIX socket which will receive a file descriptor referencing the master end "
                "of the console's pseudoterminal")
PRESERVE_HELP = "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)"


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from .help import RuncParser

    p = RuncParser(prog="dockyard-runc", add_help=False)
    p.version = VERSION
    p.add_argument("--debug", action="store_true", help="enable debug logging")
    p.add_argument("--log", default=None, help="set the log file to write runc logs to (default is '/dev/stderr')")
    p.add_argument("--log-format", choices=("text", "json"), default="text",
                   help="set the log format ('text' (default), or 'json')")
    p.add_argument("--root", default=DEFAULT_ROOT, help="root directory for storage of container state "
                   "(this should be located in tmpfs)")
    p.add_argument("--criu", default="criu", help="accepted for runc compatibility: checkpoint is not supported")
    p.add_argument("--systemd-cgroup", action="store_true", help="not supported: cgroupfs only")
    p.add_argument("--rootless", default="auto", help="ignore cgroup permission errors ('true', 'false', or 'auto')")
    p.add_argument("-h", "--help", action="help", help="show help")
    # a class whose __new__ builds the argparse.Action, so that argparse is imported only here
    p.add_argument("-v", "--version", action=_VersionAction, help="print the version")  # type: ignore[arg-type]
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=RuncParser)
    sub.required = True

    def verb(name: str, summary: str, arg_usage: str = "<container-id>", **kw: Any) -> argparse.ArgumentParser:
        v = sub.add_parser(name, help=summary, **kw)
        v.summary, v.arg_usage = summary, arg_usage
        return v

    def create_like(name: str, summary: str) -> argparse.ArgumentParser:
        c = verb(name, summary)
        c.add_argument("-b", "--bundle", default=".",
                       help="path to the root of the bundle directory, defaults to the current directory")
        c.add_argument("--console-socket", default=None, help=CONSOLE_HELP)
        c.add_argument("--pid-file", default=None, help="specify the file to write the process id to")
        c.add_argument("--no-pivot", action="store_true", help="do not use pivot root to jail process inside rootfs")
        c.add_argument("--no-new-keyring", action="store_true",
                       help="do not create a new session keyring for the container")
        c.add_argument("--preserve-fds", type=_non_negative, default=0, help=PRESERVE_HELP)
        c.add_argument("id", metavar="container-id")
        return c

    create_like("create", "create a container")
    r = create_like("run", "create and run a container")
    r.add_argument("-d", "--detach", action="store_true", help="detach from the container's process")
    r.add_argument("--keep", action="store_true", help="do not delete the container after it exits")
    r.add_argument("--no-subreaper", action="store_true",
                   help="disable the use of the subreaper used to reap reparented processes")
    for name, summary in (("start", "executes the user defined process in a created container"),
                          ("state", "output the state of a container"),
                          ("pause", "pause suspends all processes inside the container"),
                          ("resume", "resumes all processes that have been previously paused")):
        verb(name, summary).add_argument("id", metavar="container-id")
    k = verb("kill", "kill sends the specified signal (default: SIGTERM) to the container's init process",
             "<container-id> [signal]")
    k.add_argument("-a", "--all", action="store_true", help="send the specified signal to all processes inside the container")
    k.add_argument("id", metavar="container-id")
    k.add_argument("signal", nargs="?", default="SIGTERM")
    d = verb("delete", "delete any resources held by the container often used with detached container")
    d.add_argument("-f", "--force", action="store_true",
                   help="Forcibly deletes the container if it is still running (uses SIGKILL)")
    d.add_argument("id", metavar="container-id")
    ls = verb("list", "lists containers started by runc with the given root", "", aliases=["ls"])
    ls.add_argument("-f", "--format", choices=("table", "json"), default="table", help="select one of: table or json")
    ls.add_argument("-q", "--quiet", action="store_true", help="display only container IDs")
    s = verb("spec", "create a new specification file", "[arguments...]")
    s.add_argument("-b", "--bundle", default=".", help="path to the root of the bundle directory")
    s.add_argument("--rootless", action="store_true", help="generate a configuration for a rootless container")
    verb("features", "show the enabled features", "[arguments...]")
    e = verb("exec", "execute new process inside the container",
             "<container-id> <command> [command options]  || -p process.json <container-id>")
    e.add_argument("--console-socket", default=None, help=CONSOLE_HELP)
    e.add_argument("--cwd", default=None, help="current working directory in the container")
    e.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    e.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    e.add_argument("-u", "--user", default=None, help="UID (format: <uid>[:<gid>])")
    e.add_argument("-g", "--additional-gids", action="append", type=int, default=[], help="additional gids")
    e.add_argument("-p", "--process", default=None, help="path to the process.json")
    e.add_argument("-d", "--detach", action="store_true", help="detach from the container's process")
    e.add_argument("--pid-file", default=None, help="specify the file to write the process id to")
    e.add_argument("--process-label", default=None, help="accepted; SELinux is not supported")
    e.add_argument("--apparmor", default=None, help="accepted; AppArmor is not supported")
    e.add_argument("--no-new-privs", action="store_true", help="set the no new privileges value for the process")
    e.add_argument("-c", "--cap", action="append", default=[], help="add a capability to the bounding set for the process")
    e.add_argument("--preserve-fds", type=_non_negative, default=0, help=PRESERVE_HELP)
    e.add_argument("--cgroup", action="append", default=[],
                   help="run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.")
    e.add_argument("--ignore-paused", action="store_true", help="allow exec in a paused container")
    e.add_argument("id", metavar="container-id")
    e.add_argument("args", nargs=argparse.REMAINDER)
    ps = verb("ps", "ps displays the processes running inside a container", "<container-id> [ps options]")
    ps.add_argument("-f", "--format", choices=("table", "json"), default="table", help="select one of: table or json")
    ps.add_argument("id", metavar="container-id")
    ps.add_argument("ps_args", nargs=argparse.REMAINDER)
    u = verb("update", "update container resource constraints")
    u.add_argument("-r", "--resources", default=None, help="path to the file containing the resources to update "
                   "or '-' to read from the standard input")
    u.add_argument("--blkio-weight", type=int, default=None, help="Specifies per cgroup weight, range is from 10 to 1000")
    u.add_argument("--cpu-period", type=int, default=None, help="CPU CFS period to be used for hardcapping (in usecs)")
    u.add_argument("--cpu-quota", type=int, default=None, help="CPU CFS hardcap limit (in usecs)")
    u.add_argument("--cpu-share", "--cpu-shares", dest="cpu_shares", type=int, default=None,
                   help="CPU shares (relative weight vs. other containers)")
    u.add_argument("--cpu-rt-period", type=int, default=None, help="CPU realtime period to be used for hardcapping")
    u.add_argument("--cpu-rt-runtime", type=int, default=None, help="CPU realtime hardcap limit (in usecs)")
    u.add_argument("--cpuset-cpus", default=None, help="CPU(s) to use")
    u.add_argument("--cpuset-mems", default=None, help="Memory node(s) to use")
    u.add_argument("--memory", "-m", default=None, help="Memory limit (in bytes)")
    u.add_argument("--memory-reservation", default=None, help="Memory reservation or soft_limit (in bytes)")
    u.add_argument("--memory-swap", default=None,
                   help="Total memory usage (memory + swap); set '-1' to enable unlimited swap")
    u.add_argument("--pids-limit", type=int, default=None, help="Maximum number of pids allowed in the container")
    u.add_argument("--l3-cache-schema", default=None, help="not supported: no Intel RDT")
    u.add_argument("--mem-bw-schema", default=None, help="not supported: no Intel RDT")
    u.add_argument("id", metavar="container-id")
    ev = verb("events", "display container events such as OOM notifications, cpu, memory, and IO usage statistics")
    ev.add_argument("--interval", default="5s", help="set the stats collection interval")
    ev.add_argument("--stats", action="store_true", help="display the container's stats then exit")
    ev.add_argument("id", metavar="container-id")
    for name, summary in (("checkpoint", "checkpoint a running container"),
                          ("restore", "restore a container from a previous checkpoint")):
        c = verb(name, f"{summary} (not supported: dockyard-runc has no CRIU integration)")
        c.add_argument("rest", nargs=argparse.REMAINDER)
    return p


class _VersionAction:
    """``-v``: runc's version lines (argparse's own action would join them into one)."""

    def __new__(cls, *args: Any, **kw: Any) -> Any:
        import argparse

        class Action(argparse.Action):
            def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
                super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=kwargs.get("help"))

            def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
                from .help import version_text

                sys.stdout.write(version_text(VERSION))
                parser.exit(0)

        return Action(*args, **kw)


def _non_negative(v: str) -> int:
    n = int(v)
    if n < 0:
        import argparse

        raise argparse.ArgumentTypeError("must be >= 0")
    return n


SYSTEMD_REFUSAL = ("the systemd cgroup driver is not supported by dockyard-runc: "
                   "run without --systemd-cgroup (cgroupfs driver, cgroupsPath as a path)")


def _flag(rest: list[str], name: str) -> str:
    for i, arg in enumerate(rest):
        if arg == name and i + 1 < len(rest):
            return rest[i + 1]
        if arg.startswith(name + "="):
            return arg[len(name) + 1:]
    return ""


def check_parent_path(rest: list[str]) -> None:
    """runc's checks of ``checkpoint --parent-path`` (a pre-dump inside the image directory),
    made before anything else is: a bad one is the caller's mistake, told as such."""
    import os

    from dockyard.errors import InvalidArgument

    parent = _flag(rest, "--parent-path")
    if not parent:
        return

    if os.path.isabs(parent):
        raise InvalidArgument("--parent-path must be relative")
    real = os.path.normpath(os.path.join(_flag(rest, "--image-path") or os.path.join(os.getcwd(), "checkpoint"), parent))
    if not os.path.isdir(real):
        reason = "not a directory" if os.path.exists(real) else "no such file or directory"
        raise InvalidArgument(f"invalid --parent-path: stat {real}: {reason}")


def dispatch(args: argparse.Namespace | _Args) -> int:
    cmd = args.command
    root = args.root
    if cmd in ("checkpoint", "restore"):
        from dockyard.errors import NotImplementedYet

        if cmd == "checkpoint":
            check_parent_path(args.rest)
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

        kill(root, args.id, parse_signal(args.signal, allow_zero=True), all_processes=args.all)
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

            sys.stdout.write(json.dumps(ps_.pids(root, args.id) or None, separators=(",", ":")) + "\n")
        else:
            sys.stdout.write(ps_.table(root, args.id, _ps_args(args.ps_args)))
        return 0
    if cmd == "update":
        from .lifecycle import update as up

        res = up.load_resources(args.resources) if args.resources else up.resources_from_flags(
            memory=args.memory, memory_reservation=args.memory_reservation, memory_swap=args.memory_swap,
            cpu_shares=args.cpu_shares, cpu_quota=args.cpu_quota, cpu_period=args.cpu_period,
            cpuset_cpus=args.cpuset_cpus, cpuset_mems=args.cpuset_mems, pids_limit=args.pids_limit,
            blkio_weight=args.blkio_weight, cpu_rt_period=args.cpu_rt_period, cpu_rt_runtime=args.cpu_rt_runtime)
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


def _ps_args(rest: list[str]) -> list[str]:
    return rest[1:] if rest[:1] == ["--"] else rest


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


def _exec(args: argparse.Namespace | _Args) -> int:
    from .console import ForegroundTerminal
    from .container import State
    from .lifecycle.create import check_terminal, load_config
    from .lifecycle.exec import exec_process, parse_cgroup_args, process_from_cli, wait_exec
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
    terminal = bool(process.get("terminal"))
    check_terminal(terminal, args.detach, args.console_socket)
    if not args.detach:
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)  # the process is re-parented to us when the intermediate exits
    tty = ForegroundTerminal() if terminal and not args.detach else None
    try:
        if tty is not None:
            process.setdefault("consoleSize", tty.size())
            tty.receive_in_background()
        pid = exec_process(args.root, args.id, process, pid_file=args.pid_file, console_socket=args.console_socket,
                           console=tty.child if tty else None, preserve_fds=args.preserve_fds,
                           sub_cgroups=parse_cgroup_args(args.cgroup), ignore_paused=args.ignore_paused)
        if tty is not None:
            tty.child.close()
            tty.wait_attached()
        if args.detach:
            return 0
        return wait_exec(pid, tty)
    finally:
        if tty is not None:
            tty.close()


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

        # runc: compact, its containerState field order, annotations only when there are any, null for none
        rows = [{k: c[k] for k in ("ociVersion", "id", "pid", "status", "bundle", "rootfs", "created")}
                | ({"annotations": c["annotations"]} if c.get("annotations") else {}) | {"owner": c["owner"]}
                for c in items]
        sys.stdout.write(json.dumps(rows or None, separators=(",", ":")) + "\n")
    else:
        table: list[tuple[str, ...]] = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        table += [(c["id"], str(c["pid"]), c["status"], c["bundle"], c["created"], c["owner"]) for c in items]
        widths = [max(len(r[i]) for r in table) for i in range(6)]
        for r in table:
            sys.stdout.write("   ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n")


def _spec(bundle: str, rootless: bool) -> int:
    from .lifecycle.spec import write_spec

    write_spec(bundle, rootless)
    return 0


def _features() -> dict[str, Any]:
    from dockyard.oci.capabilities import CAPABILITIES

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

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any: ...


_GLOBAL_VALUE = {"--root": "root", "--log": "log", "--log-format": "log_format", "--criu": "criu"}
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
    ns: dict[str, Any] = {"root": DEFAULT_ROOT, "log": None, "log_format": "text", "debug": False, "criu": "criu"}
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
    args: argparse.Namespace | _Args | None = fast_parse(raw)
    if args is None:
        parser = build_parser()
        code = _help_only(parser, raw)
        if code is not None:
            return code
        args, unknown = parser.parse_known_args(raw)
        if args.command in ("checkpoint", "restore"):  # refused whatever their flags (a few checked first)
            args.rest = [*unknown, *(args.rest or [])]
        elif unknown:
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
        return 255 if args.command == "exec" else 1  # runc: 255 tells a failed exec from its process's 1


def _help_only(parser: argparse.ArgumentParser, raw: list[str]) -> int | None:
    """``help [verb]``, ``h``, and ``-h`` on a verb that does not exist, answered as runc answers them."""
    from .help import no_help_topic

    verbs = _verbs(parser)
    code = no_help_topic(raw, verbs)
    if code is not None:
        return code
    words = [a for a in raw if not a.startswith("-")]
    if words and words[0] in ("help", "h") and not any(a.startswith("-") for a in raw):
        target = verbs.get(words[1]) if len(words) > 1 else parser
        sys.stdout.write((target or parser).format_help())
        return 0
    return None


def _verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


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
