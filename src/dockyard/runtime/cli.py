"""``dockyard-runc``: runc's command line, parsing only; each verb is one library call.

Imports stay lazy (``python -X importtime``): ``state`` and ``kill`` are on the
shim's hot path and must not pay for ctypes or the init code.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_ROOT = "/run/dockyard-runc"
VERSION = "0.1.0"


def build_parser() -> argparse.ArgumentParser:
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
    return p


def _non_negative(v: str) -> int:
    n = int(v)
    if n < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return n


def dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    root = args.root
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
    raise AssertionError(cmd)


def _print_json(obj: Any) -> None:
    import json

    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


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
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "uts"],
            "capabilities": sorted(CAPABILITIES),
            "cgroup": {"v1": True, "v2": True, "systemd": False},
            "seccomp": {"enabled": True},
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
    return f"{command} failed: {msg}" if command in ("create", "run") else msg


if __name__ == "__main__":
    sys.exit(main())
