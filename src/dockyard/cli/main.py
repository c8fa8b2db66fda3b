"""dockyard: the client CLI, Docker's commands and flags over the Engine API.

Parsing and printing only; every action is one or two API calls, in the command
modules (``containers``, ``images``, ``system``, ...). Heavy modules are never
imported here: the CLI must start fast.
"""

from __future__ import annotations

import argparse
import os
import sys

from dockyard import errors
from dockyard.client.http import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# argparse passes every message through gettext, which stats a dozen locale paths per call
# (~3 ms of each start); Dockyard's messages are English only.
argparse._ = str  # type: ignore[attr-defined]
argparse.ngettext = lambda singular, plural, n: singular if n == 1 else plural  # type: ignore[attr-defined]


class Formatter(argparse.HelpFormatter):
    """argparse's formatter, sized with ``os.get_terminal_size``: its own default imports shutil
    (~2 ms), and add_argument builds a formatter for every flag."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            try:
                width = os.get_terminal_size().columns - 2
            except OSError:
                width = 78
        super().__init__(prog, indent_increment, max_help_position, width)


class Parser(argparse.ArgumentParser):
    """Every parser and sub-parser (``add_subparsers`` makes its own class) gets ``Formatter``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)


class _Unused:
    """Stands in for the parser of a sub-command this run does not need: takes every call."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self


class Command:
    """Adds a sub-command; each command module registers its own (``register(cmd)``).

    With ``only`` (the sub-command of a hot invocation) the other commands of the module get
    no parser: ``run`` does not pay for the ~120 flags of create, exec, ps, logs and the rest."""

    def __init__(self, sub: Any, only: str | None = None) -> None:
        self.sub = sub
        self.only = only

    def __call__(self, name: str, fn: Any, help: str, aliases: tuple[str, ...] = ()) -> argparse.ArgumentParser:
        if self.only is not None and self.only != name and self.only not in aliases:
            return _Unused()  # type: ignore[return-value]
        # run/create take -h for --hostname, as docker does; --help stays.
        own_help = name not in ("run", "create")
        sp: argparse.ArgumentParser = self.sub.add_parser(name, help=help, aliases=list(aliases), add_help=own_help)
        if not own_help:
            sp.add_argument("--help", action="help")
        sp.set_defaults(fn=fn)
        return sp


# One module per group of commands, each with ``register(cmd)``.
COMMAND_MODULES = ("containers", "exec", "manage", "images", "build", "networks", "volumes", "system", "registry", "compose")


# Global options that take a value: skipped when looking for the sub-command in argv.
_VALUED = ("-H", "--host", "--tlscacert", "--tlscert", "--tlskey")
# Sub-commands hot enough that only their own module's parser is built (the full parser costs ~40 ms).
# tests/unit/cli checks that each entry names the module that really registers the command.
_LEAN = {
    "build": "build",
    **dict.fromkeys(("run", "create", "start", "stop", "kill", "rm", "wait", "ps", "logs"), "containers"),
    **dict.fromkeys(("exec",), "exec"),
    **dict.fromkeys(("images", "pull", "push", "tag", "rmi", "import", "load", "save", "history"), "images"),
    **dict.fromkeys(("version", "info", "inspect", "system-dial-stdio"), "system"),
}


def _subcommand(argv: list[str]) -> str | None:
    """The sub-command word of ``argv`` (after the global options), if any."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _VALUED:
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return arg
    return None


def _lean_module(argv: list[str]) -> str | None:
    """The only command module ``argv`` needs, for a hot sub-command; else None (build them all)."""
    return _LEAN.get(_subcommand(argv) or "")


# Docker's management forms that map onto a top-level command: ``container ls`` is ``ps``.
_FORMS = {
    "container": {"ls": "ps", "list": "ps", "remove": "rm", "prune": "container-prune"},
    "system": {"df": "system-df", "prune": "system-prune", "info": "info", "events": "events",
               "dial-stdio": "system-dial-stdio"},
}


def _rewrite_forms(argv: list[str]) -> list[str]:
    """``container <verb>``/``system <verb>`` rewritten as the top-level command they name."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _VALUED:
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        forms = _FORMS.get(arg)
        if forms is not None and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            verb = argv[i + 1]
            return [*argv[:i], forms.get(verb, verb), *argv[i + 2:]]
        return argv
    return argv


def build_parser(only: str | None = None, command: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser: every command module's, or with ``only`` one module's (with ``command``
    only that command's parser in it)."""
    import importlib

    p = Parser(prog="dockyard", description="A Docker-compatible container engine client.")
    p.add_argument("-H", "--host", default=None, help="daemon socket (unix:///run/dockyard/dockyard.sock), tcp://host:port or ssh://[user@]host[:port]")
    p.add_argument("--tls", action="store_true", help="use TLS; implied by --tlsverify")
    p.add_argument("--tlsverify", action="store_true", help="use TLS and verify the daemon (DOCKER_TLS_VERIFY)")
    p.add_argument("--tlscacert", default="", help="trust certs signed only by this CA (DOCKER_CERT_PATH/ca.pem)")
    p.add_argument("--tlscert", default="", help="TLS certificate file (DOCKER_CERT_PATH/cert.pem)")
    p.add_argument("--tlskey", default="", help="TLS key file (DOCKER_CERT_PATH/key.pem)")
    cmd = Command(p.add_subparsers(dest="subcommand", metavar="COMMAND"), command if only else None)
    for name in (only,) if only else COMMAND_MODULES:
        qualified = f"dockyard.cli.{name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as err:
            if err.name != qualified:
                raise
            continue
        module.register(cmd)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = _rewrite_forms(sys.argv[1:] if argv is None else argv)
    lean = _lean_module(argv)
    parser = build_parser(lean, _subcommand(argv) if lean else None)
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return 0
    try:
        from dockyard.client.http import TLSConfig

        tls = TLSConfig(args.tlsverify, args.tlscacert, args.tlscert, args.tlskey, args.tls)
        return int(args.fn(Client(args.host, tls), args))
    except errors.NotFound as err:
        print(f"Error response from daemon: {err}", file=sys.stderr)
        return 125 if args.subcommand in ("run", "create") else 1
    except errors.Unavailable as err:
        print(str(err), file=sys.stderr)
        return 1
    except errors.DockyardError as err:
        print(f"Error response from daemon: {err}", file=sys.stderr)
        return 125 if args.subcommand in ("run", "create") else 1
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130


def run() -> None:
    """The ``dockyard`` command: ``main``, then a quick exit.

    Tearing the interpreter down (module cleanup, a final GC) costs ~8 ms after the command
    has finished; with the output flushed and no thread left running there is nothing for it
    to do, so the process ends at once. Anything else takes the ordinary way out."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = code or 1
    threading = sys.modules.get("threading")
    if threading is None or threading.active_count() == 1:
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
