"""The ``docker-buildx`` command: the CLI plugin protocol (``docker-cli-plugin-metadata``; under the
docker CLI the first argument is the plugin's name); ``version``; ``bake`` (``bakecmd.py``, what
Compose v2 runs); ``build`` (``buildcmd.py``, what the docker CLI runs for ``docker build`` once
buildx is installed); ``prune``, ``du``, ``ls``, ``inspect`` (``manage.py``, ``docker builder
<cmd>``). The daemon is the one ``DOCKER_HOST`` names (Compose v2 sets it for the plugins it runs),
else Dockyard's default socket."""

from __future__ import annotations

import sys

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
        args = _global_flags(args)
    except ValueError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    if args[:1] == ["buildx"]:  # run by the docker CLI: `docker-buildx [global flags] buildx <command> ...`
        args = args[1:]
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

    handlers = {"bake": bakecmd.cmd_bake, "build": buildcmd.cmd_build, **manage.COMMANDS}
    try:
        return handlers[command](rest)
    except errors.DockyardError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"ERROR: failed to reach the daemon: {err}", file=sys.stderr)
        return 1


# The docker CLI passes its own global flags on, before the plugin's name (`docker -H X build` runs
# `docker-buildx -H X buildx build`): they choose the daemon as they do for the CLI.
_WITH_VALUE = {"-H": "host", "--host": "host", "-c": "context", "--context": "context", "--config": "config",
               "-l": "log-level", "--log-level": "log-level", "--tlscacert": "tlscacert", "--tlscert": "tlscert",
               "--tlskey": "tlskey"}
_SWITCHES = {"-D", "--debug", "--tls", "--tlsverify"}


def _global_flags(args: list[str]) -> list[str]:
    """Take the docker CLI's global flags off the front of ``args``, applying them to this process's
    environment (which the client reads); the rest is returned."""
    import os

    given: dict[str, str] = {}
    while args and args[0].startswith("-"):
        flag, eq, value = args[0].partition("=")
        if flag in _SWITCHES:
            given[flag.lstrip("-")] = value or "true"
            args = args[1:]
        elif flag in _WITH_VALUE:
            if not eq:
                if len(args) < 2:
                    raise ValueError(f"flag needs an argument: {flag}")
                value, args = args[1], args[1:]
            given[_WITH_VALUE[flag]] = value
            args = args[1:]
        else:
            break
    if "config" in given:
        os.environ["DOCKER_CONFIG"] = given["config"]
    if "context" in given and "host" not in given:
        from dockyard.cli.context import endpoint
        from dockyard.cli.errors import CLIError

        try:
            host, _ = endpoint(given["context"])
        except CLIError as err:
            raise ValueError(str(err)) from None
        if host:
            given["host"] = host
    if "host" in given:
        os.environ["DOCKYARD_HOST"] = given["host"]
    if given.get("tls", "false") != "false" or given.get("tlsverify", "false") != "false":
        os.environ["DOCKER_TLS"] = "1"
    if given.get("tlsverify", "false") != "false":
        os.environ["DOCKER_TLS_VERIFY"] = "1"
    files = {given[k] for k in ("tlscacert", "tlscert", "tlskey") if k in given}
    if files:
        dirs = {os.path.dirname(f) for f in files}
        names = {os.path.basename(f) for f in files}
        if len(dirs) != 1 or not names <= {"ca.pem", "cert.pem", "key.pem"}:
            raise ValueError("--tlscacert/--tlscert/--tlskey: Dockyard's docker-buildx takes ca.pem, cert.pem and "
                             "key.pem from one directory (DOCKER_CERT_PATH)")
        os.environ["DOCKER_CERT_PATH"] = dirs.pop()
    return args


def run() -> None:
    sys.exit(main())
