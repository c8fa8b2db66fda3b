"""The ``docker-buildx`` command: the CLI plugin protocol (``docker-cli-plugin-metadata``; under the
docker CLI the first argument is the plugin's name); ``version``; ``bake`` (``bakecmd.py``, what
Compose v2 runs); ``build`` (``buildcmd.py``, what the docker CLI runs for ``docker build`` once
buildx is installed); ``prune``, ``du``, ``ls``, ``inspect`` (``manage.py``, ``docker builder
<cmd>``). The daemon is chosen as the docker CLI chooses it (``endpoint.py``): the docker CLI's global
flags passed on, ``DOCKER_HOST`` (Compose v2 sets it for the plugins it runs), a context, else
``unix:///var/run/docker.sock``, never Dockyard's own socket."""

from __future__ import annotations

import os
import sys
from typing import Any

# Compose v2 refuses a buildx older than 0.17 (`compose build requires buildx 0.17 or later`)
VERSION = "v0.17.1"
COMMANDS = ("bake", "build", "prune", "du", "ls", "inspect", "version")
# The CLI plugin manager runs `docker-buildx docker-cli-plugin-metadata` (Compose twice a build):
# answered before anything is imported.
METADATA = ('{"SchemaVersion": "0.1.0", "Vendor": "Dockyard", "Version": "' + VERSION + '", '
            '"ShortDescription": "Docker Buildx (Dockyard: bake over the classic builder)"}')


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["docker-cli-plugin-metadata"]:
        print(METADATA)
        return 0
    try:
        flags, args = _global_flags(args)
    except ValueError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    if args[:1] == ["buildx"]:  # run by the docker CLI: `docker-buildx [global flags] buildx <command> ...`
        args = args[1:]
    try:
        root_builder, args = _root_builder(args)
    except ValueError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "version":
        print(f"github.com/docker/buildx {VERSION} dockyard")
        return 0
    if command not in COMMANDS:
        print(f"ERROR: unknown command {command!r}: Dockyard's docker-buildx implements {', '.join(COMMANDS)}"
              if command else f"Usage: docker buildx [{'|'.join(COMMANDS)}]", file=sys.stderr)
        return 1
    from dockyard import errors
    from dockyard.buildx import bakecmd, buildcmd, manage
    from dockyard.cli.errors import CLIError
    from dockyard.client.errors import TransportError

    handlers = {"bake": bakecmd.cmd_bake, "build": buildcmd.cmd_build, **manage.COMMANDS}
    try:
        if command != "ls":  # buildx ls lists every builder, whichever is asked for
            check_builder(builder_name(command, rest, root_builder), flags)
        return handlers[command](client_of(flags), rest)
    except (errors.DockyardError, CLIError) as err:
        text = str(err)
        if isinstance(err, TransportError):  # the docker CLI's daemon, in its words (buildx prints the CLI's)
            text = text.replace("the Dockyard daemon", "the Docker daemon").replace("dockyard daemon", "docker daemon")
        print(f"ERROR: {text}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"ERROR: failed to reach the daemon: {err}", file=sys.stderr)
        return 1


# The docker CLI passes its own global flags on, before the plugin's name (`docker -H X build` runs
# `docker-buildx -H X buildx build`): they choose the daemon as they do for the docker CLI (`endpoint.py`).
_WITH_VALUE = {"-H": "host", "--host": "host", "-c": "context", "--context": "context", "--config": "config",
               "-l": "log_level", "--log-level": "log_level", "--tlscacert": "tlscacert", "--tlscert": "tlscert",
               "--tlskey": "tlskey"}
_SWITCHES = {"-D": "debug", "--debug": "debug", "--tls": "tls", "--tlsverify": "tlsverify"}


def _global_flags(args: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Take the docker CLI's global flags off the front of ``args``, as the CLI's own options (what
    ``client_of`` reads); the rest is returned. ``DOCKER_TLS`` asks for TLS as ``--tls`` does."""
    import os

    flags: dict[str, Any] = {"host": None, "context": None, "config": None, "debug": False, "log_level": "info",
                             "tls": bool(os.environ.get("DOCKER_TLS")), "tlsverify": False, "tlscacert": "",
                             "tlscert": "", "tlskey": ""}
    while args and args[0].startswith("-"):
        flag, eq, value = args[0].partition("=")
        if flag in _SWITCHES:
            flags[_SWITCHES[flag]] = (value or "true") != "false"
            args = args[1:]
        elif flag in _WITH_VALUE:
            if not eq:
                if len(args) < 2:
                    raise ValueError(f"flag needs an argument: {flag}")
                value, args = args[1], args[1:]
            name = _WITH_VALUE[flag]
            flags[name] = [*(flags[name] or []), value] if name == "host" else value
            args = args[1:]
        else:
            break
    if flags["config"]:  # also where a push's registry credentials are read (cli/config.py)
        os.environ["DOCKER_CONFIG"] = flags["config"]
    return flags, args


def _root_builder(args: list[str]) -> tuple[str, list[str]]:
    """buildx's own global ``--builder`` (``docker buildx --builder X bake``), before the command;
    ``BUILDX_BUILDER`` is its default."""
    builder = os.environ.get("BUILDX_BUILDER", "")
    while args and args[0].partition("=")[0] == "--builder":
        flag, eq, value = args[0].partition("=")
        if not eq:
            if len(args) < 2:
                raise ValueError("flag needs an argument: --builder")
            value, args = args[1], args[1:]
        builder, args = value, args[1:]
    return builder, args


def builder_name(command: str, rest: list[str], root: str) -> str:
    """The builder the command asks for: its own ``--builder`` (the last one), ``inspect``'s NAME,
    else the root one."""
    name, positional = "", ""
    i = 0
    while i < len(rest):
        flag, eq, value = rest[i].partition("=")
        if flag == "--builder":
            if not eq and i + 1 < len(rest):
                value, i = rest[i + 1], i + 1
            name = value
        elif not rest[i].startswith("-") and not positional:
            positional = rest[i]
        i += 1
    return name or (positional if command == "inspect" else "") or root


def check_builder(name: str, flags: dict[str, Any]) -> None:
    from dockyard.buildx import builders
    from dockyard.buildx.endpoint import context_name

    builders.check(name, context_name(flags), flags.get("config"))


def client_of(flags: dict[str, Any]) -> Any:
    """The daemon the global flags choose, as the docker CLI chooses it (one -H; a context's TLS)."""
    from dockyard.buildx.endpoint import client_of as resolve

    return resolve(flags)


def run() -> None:
    sys.exit(main())
