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
    if args[:1] == ["buildx"]:  # run by the docker CLI: `docker-buildx buildx <command> ...`
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


def run() -> None:
    sys.exit(main())
