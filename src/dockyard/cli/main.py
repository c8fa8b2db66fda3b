"""dockyard: the client CLI, Docker's command tree, flags and messages over the Engine API.

Parsing and printing only; every action is one or two API calls, in the command modules
(``containers``, ``images``, ``system``, ...). Heavy modules are never imported here: the CLI
must start fast, so a hot command builds only its own module's parser.
"""

from __future__ import annotations

import os
import sys

from dockyard import errors
from dockyard.cli.errors import CLIError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from dockyard.client.http import Client

PROG = "dockyard"

# argparse-based names, loaded on first use (cli/argparser.py).
_ARGPARSE_NAMES = ("Formatter", "Parser", "usage_error")


def __getattr__(name: str) -> Any:
    if name in _ARGPARSE_NAMES:
        from dockyard.cli import argparser

        return getattr(argparser, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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

    def __call__(self, name: str, fn: Any, help: str, aliases: tuple[str, ...] = (),
                 usage: str = "") -> argparse.ArgumentParser:
        if self.only is not None and self.only != name and self.only not in aliases:
            return _Unused()  # type: ignore[return-value]
        path = DOCKER_PATHS.get(name, name)
        sp: argparse.ArgumentParser = self.sub.add_parser(
            name, help=help, aliases=list(aliases), add_help=False, prog=f"{PROG} {path}",
            usage_line=f"{PROG} {path} {usage}".rstrip() if usage else "", summary=help)
        # run/create take -h for --hostname, as docker does; --help stays.
        sp.add_argument("--help", action="help", help="Print usage")
        sp.set_defaults(fn=fn)
        return sp


# One module per group of commands, each with ``register(cmd)``.
COMMAND_MODULES = ("containers", "exec", "manage", "images", "build", "networks", "volumes", "system", "registry",
                   "context", "completion", "compose", "trust", "plugins")

# Internal command names and the docker command line they stand for (prog names, help).
DOCKER_PATHS = {"system-df": "system df", "system-prune": "system prune", "container-prune": "container prune",
                "system-dial-stdio": "system dial-stdio", "builder-prune": "builder prune"}

# Global options that take a value: skipped when looking for the sub-command in argv.
_VALUED = ("-H", "--host", "--tlscacert", "--tlscert", "--tlskey", "-c", "--context", "--config", "-l",
           "--log-level")
# Sub-commands hot enough that only their own module's parser is built (the full parser costs ~40 ms).
# tests/unit/cli checks that each entry names the module that really registers the command.
_LEAN = {
    "build": "build",
    **dict.fromkeys(("run", "create", "start", "stop", "kill", "rm", "wait", "ps", "logs"), "containers"),
    **dict.fromkeys(("exec", "attach"), "exec"),
    **dict.fromkeys(("images", "pull", "push", "tag", "rmi", "import", "load", "save", "history"), "images"),
    **dict.fromkeys(("version", "info", "inspect", "system-dial-stdio"), "system"),
    **dict.fromkeys(("network",), "networks"),
    **dict.fromkeys(("volume",), "volumes"),
    **dict.fromkeys(("stats",), "manage"),
    **dict.fromkeys(("context",), "context"),
}

# Read commands parsed without argparse (cli/liteparse.py) when their argv is plain.
_LITE = frozenset(("ps", "images", "version", "info", "network", "volume", "logs", "history"))

# Docker's management commands: ``container ls`` is ``ps``. Each verb names the command that does it
# (or None: the management command's own sub-parser handles it).
MANAGEMENT: dict[str, tuple[str, dict[str, tuple[str | None, str]]]] = {
    "builder": ("Manage builds", {
        "build": ("build", "Build an image from a Dockerfile"),
        "prune": ("builder-prune", "Remove build cache")}),
    "container": ("Manage containers", {
        "attach": ("attach", "Attach local standard input, output, and error streams to a running container"),
        "commit": ("commit", "Create a new image from a container's changes"),
        "cp": ("cp", "Copy files/folders between a container and the local filesystem"),
        "create": ("create", "Create a new container"),
        "diff": ("diff", "Inspect changes to files or directories on a container's filesystem"),
        "exec": ("exec", "Run a command in a running container"),
        "export": ("export", "Export a container's filesystem as a tar archive"),
        "inspect": ("inspect --type container", "Display detailed information on one or more containers"),
        "kill": ("kill", "Kill one or more running containers"),
        "logs": ("logs", "Fetch the logs of a container"),
        "ls": ("ps", "List containers"), "list": ("ps", ""), "ps": ("ps", ""),
        "pause": ("pause", "Pause all processes within one or more containers"),
        "port": ("port", "List port mappings or a specific mapping for the container"),
        "prune": ("container-prune", "Remove all stopped containers"),
        "rename": ("rename", "Rename a container"),
        "restart": ("restart", "Restart one or more containers"),
        "rm": ("rm", "Remove one or more containers"), "remove": ("rm", ""),
        "run": ("run", "Run a command in a new container"),
        "start": ("start", "Start one or more stopped containers"),
        "stats": ("stats", "Display a live stream of container(s) resource usage statistics"),
        "stop": ("stop", "Stop one or more running containers"),
        "top": ("top", "Display the running processes of a container"),
        "unpause": ("unpause", "Unpause all processes within one or more containers"),
        "update": ("update", "Update configuration of one or more containers"),
        "wait": ("wait", "Block until one or more containers stop, then print their exit codes")}),
    "context": ("Manage contexts", {
        "create": (None, "Create a context"), "inspect": (None, "Display detailed information on one or more contexts"),
        "ls": (None, "List contexts"), "rm": (None, "Remove one or more contexts"),
        "show": (None, "Print the name of the current context"), "update": (None, "Update a context"),
        "use": (None, "Set the current docker context")}),
    "image": ("Manage images", {
        "build": ("build", "Build an image from a Dockerfile"),
        "history": (None, "Show the history of an image"), "import": (None, "Import the contents from a tarball to create a filesystem image"),
        "inspect": (None, "Display detailed information on one or more images"),
        "load": (None, "Load an image from a tar archive or STDIN"), "ls": (None, "List images"),
        "prune": (None, "Remove unused images"), "pull": (None, "Pull an image or a repository from a registry"),
        "push": (None, "Push an image or a repository to a registry"), "rm": (None, "Remove one or more images"),
        "save": (None, "Save one or more images to a tar archive (streamed to STDOUT by default)"),
        "tag": (None, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")}),
    "network": ("Manage networks", {
        "connect": (None, "Connect a container to a network"), "create": (None, "Create a network"),
        "disconnect": (None, "Disconnect a container from a network"),
        "inspect": (None, "Display detailed information on one or more networks"), "ls": (None, "List networks"),
        "prune": (None, "Remove all unused networks"), "rm": (None, "Remove one or more networks")}),
    "plugin": ("Manage plugins", {
        "create": (None, "Create a plugin from a rootfs and configuration. Plugin data directory must contain "
                         "config.json and rootfs directory."),
        "disable": (None, "Disable a plugin"), "enable": (None, "Enable a plugin"),
        "inspect": (None, "Display detailed information on one or more plugins"), "ls": (None, "List plugins"),
        "install": (None, "Install a plugin"), "push": (None, "Push a plugin to a registry"),
        "rm": (None, "Remove one or more plugins"), "set": (None, "Change settings for a plugin"),
        "upgrade": (None, "Upgrade an existing plugin")}),
    "system": ("Manage Dockyard", {
        "df": ("system-df", "Show dockyard disk usage"), "events": ("events", "Get real time events from the server"),
        "info": ("info", "Display system-wide information"), "prune": ("system-prune", "Remove unused data"),
        "dial-stdio": ("system-dial-stdio", "")}),
    "volume": ("Manage volumes", {
        "create": (None, "Create a volume"), "inspect": (None, "Display detailed information on one or more volumes"),
        "ls": (None, "List volumes"), "prune": (None, "Remove all unused local volumes"),
        "rm": (None, "Remove one or more volumes")}),
}

# The top-level commands docker lists under "Commands:" (the others are reached through MANAGEMENT).
COMMANDS = {
    "attach": "Attach local standard input, output, and error streams to a running container",
    "build": "Build an image from a Dockerfile", "commit": "Create a new image from a container's changes",
    "completion": "Generate the autocompletion script for the specified shell",
    "cp": "Copy files/folders between a container and the local filesystem", "create": "Create a new container",
    "diff": "Inspect changes to files or directories on a container's filesystem",
    "events": "Get real time events from the server", "exec": "Run a command in a running container",
    "export": "Export a container's filesystem as a tar archive", "history": "Show the history of an image",
    "images": "List images", "import": "Import the contents from a tarball to create a filesystem image",
    "info": "Display system-wide information", "inspect": "Return low-level information on Docker objects",
    "kill": "Kill one or more running containers", "load": "Load an image from a tar archive or STDIN",
    "login": "Log in to a Docker registry", "logout": "Log out from a Docker registry",
    "logs": "Fetch the logs of a container", "pause": "Pause all processes within one or more containers",
    "port": "List port mappings or a specific mapping for the container", "ps": "List containers",
    "pull": "Pull an image or a repository from a registry", "push": "Push an image or a repository to a registry",
    "rename": "Rename a container", "restart": "Restart one or more containers",
    "rm": "Remove one or more containers", "rmi": "Remove one or more images",
    "run": "Run a command in a new container",
    "save": "Save one or more images to a tar archive (streamed to STDOUT by default)",
    "search": "Search the Docker Hub for images", "start": "Start one or more stopped containers",
    "stats": "Display a live stream of container(s) resource usage statistics",
    "stop": "Stop one or more running containers", "tag": "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    "top": "Display the running processes of a container",
    "unpause": "Unpause all processes within one or more containers",
    "update": "Update configuration of one or more containers", "version": "Show the Dockyard version information",
    "wait": "Block until one or more containers stop, then print their exit codes",
}


def _command_index(argv: list[str]) -> int:
    """Where the sub-command word of ``argv`` is (after the global options), or -1."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _VALUED:
            i += 2
            continue
        if arg == "--":
            return i + 1 if i + 1 < len(argv) else -1
        if arg.startswith("-"):
            i += 1
            continue
        return i
    return -1


def _subcommand(argv: list[str]) -> str | None:
    i = _command_index(argv)
    return argv[i] if i >= 0 else None


def _lean_module(argv: list[str]) -> str | None:
    """The only command module ``argv`` needs, for a hot sub-command; else None (build them all)."""
    return _LEAN.get(_subcommand(argv) or "")


def _rewrite_forms(argv: list[str]) -> list[str]:
    """``container <verb>``/``system <verb>``/``builder <verb>`` rewritten as the top-level command they name."""
    i = _command_index(argv)
    if i < 0 or argv[i] not in MANAGEMENT or i + 1 >= len(argv):
        return argv
    verb = argv[i + 1]
    target = MANAGEMENT[argv[i]][1].get(verb, (None, ""))[0]
    if target is None:
        return argv
    return [*argv[:i], *target.split(), *argv[i + 2:]]


def _global_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, metavar="string",
                   help='Location of client config files (default "~/.docker")')
    p.add_argument("-c", "--context", default=None, metavar="string",
                   help='Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and '
                        'default context set with "dockyard context use")')
    p.add_argument("-D", "--debug", action="store_true", help="Enable debug mode")
    p.add_argument("-H", "--host", default=None, action="append", metavar="list",
                   help="Daemon socket(s) to connect to")
    p.add_argument("-l", "--log-level", default="info", metavar="string",
                   help='Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")')
    p.add_argument("--tls", action="store_true", help="Use TLS; implied by --tlsverify")
    p.add_argument("--tlscacert", default="", metavar="string", help="Trust certs signed only by this CA")
    p.add_argument("--tlscert", default="", metavar="string", help="Path to TLS certificate file")
    p.add_argument("--tlskey", default="", metavar="string", help="Path to TLS key file")
    p.add_argument("--tlsverify", action="store_true", help="Use TLS and verify the remote")
    p.add_argument("-v", "--version", action="store_true", help="Print version information and quit")
    p.add_argument("--help", "-h", action="store_true", dest="top_help", help="Print usage")


def build_parser(only: str | None = None, command: str | None = None, lite: bool = False) -> argparse.ArgumentParser:
    """The CLI's parser: every command module's, or with ``only`` one module's (with ``command``
    only that command's parser in it). ``lite``: a ``liteparse.LiteParser`` instead of argparse
    (it raises ``liteparse.Fallback`` where it cannot stand in)."""
    if lite:
        from dockyard.cli.liteparse import LiteParser as Parser
    else:
        from dockyard.cli.argparser import Parser  # type: ignore[assignment]

    p = Parser(prog=PROG, add_help=False, usage_line=f"{PROG} [OPTIONS] COMMAND",
               summary="A self-sufficient runtime for containers")
    _global_options(p)  # type: ignore[arg-type]
    sub = p.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=Parser)
    cmd = Command(sub, command if only else None)
    for name in (only,) if only else COMMAND_MODULES:
        qualified = f"dockyard.cli.{name}"
        try:
            __import__(qualified)
        except ModuleNotFoundError as err:
            if err.name != qualified:
                raise
            continue
        sys.modules[qualified].register(cmd)
    return p  # type: ignore[return-value]


def _management_help(argv: list[str]) -> str | None:
    """``dockyard system``, ``dockyard system --help``: the management command's own usage."""
    i = _command_index(argv)
    if i < 0 or argv[i] not in MANAGEMENT:
        return None
    rest = argv[i + 1:]
    if rest and rest[0] not in ("--help", "-h"):
        return None
    from dockyard.cli.help import management_help

    return management_help(argv[i])


def parse(argv: list[str]) -> argparse.Namespace:
    lean = _lean_module(argv)
    command = _subcommand(argv) if lean else None
    if command in _LITE:
        from dockyard.cli.liteparse import Fallback

        try:
            parser = build_parser(lean, command, lite=True)
            args = parser.parse_args(argv)
            args.parser = parser
            return args
        except Fallback:
            pass  # argparse words the error or prints the help
    parser = build_parser(lean, command)
    args = parser.parse_args(argv)
    args.parser = parser
    return args


def client_for(args: argparse.Namespace) -> Client:
    """The daemon the user chose: -H, DOCKER_HOST, --context, DOCKER_CONTEXT or the current context
    of config.json; a named context that does not exist is an error, never the default socket."""
    from dockyard.client.http import Client, TLSConfig

    tls = TLSConfig(args.tlsverify, args.tlscacert, args.tlscert, args.tlskey, args.tls)
    hosts = args.host or []
    if len(hosts) > 1:
        raise CLIError("Please specify only one -H")
    if args.context and hosts:
        raise CLIError("Conflicting options: either specify --host or --context, not both")
    if hosts:
        return Client(hosts[0], tls)
    if not args.context and (os.environ.get("DOCKYARD_HOST") or os.environ.get("DOCKER_HOST")):
        return Client(None, tls)
    from dockyard.cli.context import endpoint

    host, ctx_tls = endpoint(args.context, args.config)
    return Client(host, ctx_tls or tls)


def _daemon_failure(args: argparse.Namespace, err: errors.DockyardError) -> int:
    command = getattr(args, "subcommand", "") or ""
    if command in ("run", "create"):
        text = f"Error response from daemon: {err}".rstrip(".") + "."
        print(f"{PROG}: {text}\nSee '{PROG} {command} --help'.", file=sys.stderr)
        return 125
    print(f"Error response from daemon: {err}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = _rewrite_forms(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except CLIError as err:
        print(str(err), file=sys.stderr)
        return err.code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # one line, as docker prints; the traceback only when asked for
        if os.environ.get("DOCKYARD_DEBUG"):
            raise
        print(f"{PROG}: {type(err).__name__}: {err}" if not isinstance(err, errors.DockyardError) else f"{PROG}: {err}",
              file=sys.stderr)
        return 1


def _main(argv: list[str]) -> int:
    from dockyard.cli.errors import TemplateError
    from dockyard.client.errors import DaemonError

    i = _command_index(argv)
    if i >= 0 and argv[i] == "compose":
        return _compose(argv[:i], argv[i + 1:])
    if i >= 0 and argv[i] == "desktop":
        return _desktop(argv[:i], argv[i + 1:])
    if i >= 0 and argv[i] == "kube":
        return _kube(argv[:i], argv[i + 1:])
    usage = _management_help(argv)
    if usage is not None:
        print(usage)
        return 0
    args = parse(argv)
    if args.version and not args.subcommand:
        from dockyard import __version__

        print(f"Dockyard version {__version__}")
        return 0
    if not getattr(args, "fn", None):
        if args.subcommand is None and not args.top_help and _command_index(argv) < 0 and argv:
            raise UsageError("unknown flag", PROG)
        from dockyard.cli.help import top_help

        print(top_help())
        return 0
    if getattr(args, "offline", False):
        return int(args.fn(None, args))
    try:
        return int(args.fn(client_for(args), args))
    except DaemonError as err:
        return _daemon_failure(args, err)
    except TemplateError as err:
        print(str(err), file=sys.stderr)
        return err.code
    except errors.Unavailable as err:  # transport: no daemon there
        print(str(err), file=sys.stderr)
        return 1
    except errors.DockyardError as err:  # the CLI's own checks (flag values the parser cannot judge)
        command = getattr(args, "subcommand", "") or ""
        if command in ("run", "create"):
            print(f"{PROG}: {str(err).rstrip('.')}.\nSee '{PROG} {command} --help'.", file=sys.stderr)
            return 125
        print(str(err), file=sys.stderr)
        return 1


def _compose(global_argv: list[str], argv: list[str]) -> int:
    """``dockyard [OPTIONS] compose ...``: the rest of argv goes to dockyard.compose, with the daemon
    the global options chose."""
    from dockyard.cli.liteparse import Fallback, LiteParser
    from dockyard.compose.cli import main as compose_main

    try:  # argparse (and re) only when the global options need it: they cost more than a compose ps
        p: Any = LiteParser(prog=PROG, add_help=False)
        _global_options(p)
        args = p.parse_args(global_argv)
    except Fallback:
        from dockyard.cli.argparser import Parser

        p = Parser(prog=PROG, add_help=False)
        _global_options(p)
        args = p.parse_args(global_argv)
    return compose_main(argv, lambda: client_for(args))


def _desktop(global_argv: list[str], argv: list[str]) -> int:
    """``dockyard [OPTIONS] desktop ...``: the dashboard (dockyard.desktop), on the daemon the global options chose."""
    import argparse

    from dockyard.desktop.cli import main as desktop_main

    p = argparse.ArgumentParser(prog=PROG, add_help=False)
    _global_options(p)
    return desktop_main(argv, lambda: client_for(p.parse_args(global_argv)))


def _kube(global_argv: list[str], argv: list[str]) -> int:
    """``dockyard [OPTIONS] kube ...``: Kubernetes YAML (dockyard.kube), on the daemon the global options chose."""
    from dockyard.cli.argparser import Parser
    from dockyard.kube.cli import main as kube_main

    p = Parser(prog=PROG, add_help=False)
    _global_options(p)
    args = p.parse_args(global_argv)
    return kube_main(argv, lambda: client_for(args))


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
