"""``dockyard compose`` / ``dockyard-compose``: Compose v2's command line over ``loader`` and ``engine``.

Parsing and printing only. The daemon is reached through ``dockyard.client`` (``-H``,
``DOCKYARD_HOST``/``DOCKER_HOST``, or the client factory ``dockyard compose`` passes in).
"""

from __future__ import annotations

import os
import sys

from dockyard import errors

TYPE_CHECKING = False  # typing imports re: ~3 ms of every command's start
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

    from dockyard.compose.project import Project

PROG = "dockyard compose"
# the global options that take a value (the command is the first word that is none of these nor their value)
_VALUED = ("-f", "--file", "-p", "--project-name", "--project-directory", "--env-file", "--profile", "--ansi",
           "--progress", "--parallel", "-H", "--host")


class UsageError(errors.InvalidArgument):
    pass


def _argparse_class() -> Any:
    """argparse, raising ``UsageError``, with the CLI's formatter (argparse's own imports shutil)."""
    import argparse

    from dockyard.cli.argparser import Formatter

    class Parser(argparse.ArgumentParser):
        def __init__(self, *args: Any, **kw: Any) -> None:
            kw.setdefault("formatter_class", Formatter)
            super().__init__(*args, **kw)

        def error(self, message: str) -> Any:
            raise UsageError(message)

    return Parser


class _Unused:
    """What a command the command line does not name gets for its parser: its flags are not built."""

    def add_argument(self, *args: Any, **kw: Any) -> None:
        return None


def command_word(argv: list[str]) -> str | None:
    """The command ``argv`` names, found without parsing it."""
    it = iter(argv)
    for word in it:
        if word == "--":
            return None
        if word in _VALUED:
            next(it, None)
        elif not word.startswith("-"):
            return word
    return None


def _parser(only: str | None = None, lite: bool = False) -> Any:
    """The command line's parser; with ``only``, the flags of that command alone are built (the
    rest stay names), as building all ~30 costs more than the command itself. ``lite``: the CLI's
    ``LiteParser`` (no argparse, no ``re``), which raises ``Fallback`` where argparse must answer."""
    parser_class: Any
    if lite:
        from dockyard.cli.liteparse import LiteParser

        parser_class = LiteParser
    else:
        parser_class = _argparse_class()
    p = parser_class(prog=PROG, description="Define and run multi-container applications")
    p.add_argument("-f", "--file", action="append", default=[], help="Compose configuration files")
    p.add_argument("-p", "--project-name", default=None, help="Project name")
    p.add_argument("--project-directory", default=None, help="Alternate working directory")
    p.add_argument("--env-file", action="append", default=None, help="Alternate environment files")
    p.add_argument("--profile", action="append", default=[], help="Profiles to enable")
    p.add_argument("--ansi", default="auto", choices=("never", "always", "auto"))
    p.add_argument("--progress", default="auto")
    p.add_argument("--parallel", type=int, default=-1)
    p.add_argument("-H", "--host", default=None, help="Daemon socket to connect to")
    p.add_argument("--dry-run", action="store_true", help="Execute command in dry run mode")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=parser_class)

    def cmd(name: str, help: str) -> Any:
        if only is not None and name != only:
            return _Unused()
        return sub.add_parser(name, help=help)

    c = cmd("config", "Parse, resolve and render compose file in canonical format")
    c.add_argument("--format", default="yaml", choices=("yaml", "json"))
    c.add_argument("--services", action="store_true")
    c.add_argument("--volumes", action="store_true")
    c.add_argument("--networks", action="store_true")
    c.add_argument("--images", action="store_true")
    c.add_argument("--models", action="store_true")
    c.add_argument("--profiles", action="store_true")
    c.add_argument("-q", "--quiet", action="store_true")
    c.add_argument("--no-interpolate", action="store_true")
    c.add_argument("-o", "--output", default=None)
    c.add_argument("services_", nargs="*", metavar="SERVICE")

    from dockyard.compose import commands

    commands.register(cmd)
    return p


def _names() -> set[str]:
    """Every command's name."""
    from dockyard.compose import commands

    names = {"config"}

    def note(name: str, help: str) -> Any:
        names.add(name)
        return _Unused()

    commands.register(note)
    return names


def load_project(args: argparse.Namespace, services: list[str] | None = None, interpolate: bool = True,
                 cached: bool = True) -> Project:
    """The project the options name; from ``projcache`` when nothing it was made from changed."""
    from dockyard.compose import projcache

    profiles = [p for v in args.profile for p in v.split(",")]
    options = (list(args.file), args.project_name, args.project_directory, args.env_file, profiles, interpolate,
               list(services or []))
    key = projcache.key(repr(options), os.environ)
    project = projcache.load(key, os.environ) if cached else None
    if project is not None:
        return project

    def make() -> Project:
        from dockyard.compose import loader

        return loader.load(loader.Options(files=args.file, project_name=args.project_name,
                                          project_directory=args.project_directory, env_files=args.env_file,
                                          profiles=profiles, interpolate=interpolate, services=list(services or [])))

    return projcache.recorded(key, os.environ, make)


def config(args: argparse.Namespace) -> int:
    from dockyard.compose import configout

    project = load_project(args, args.services_, interpolate=not args.no_interpolate, cached=False)
    if args.quiet:
        return 0
    if args.services:
        print("\n".join(project.services))
        return 0
    if args.volumes:
        print("\n".join(project.volumes))
        return 0
    if args.networks:
        print("\n".join(project.networks))
        return 0
    if args.profiles:
        names = sorted({p for s in [*project.services.values(), *project.disabled.values()]
                        for p in s.get("profiles") or []})
        print("\n".join(names))
        return 0
    if args.models:
        print("\n".join(m["model"] for m in project.models.values() if m.get("model")))
        return 0
    if args.images:
        from dockyard.compose.engine import image_name

        print("\n".join(image_name(project, n) for n in project.services))
        return 0
    if args.services_:
        project.services = {k: v for k, v in project.services.items() if k in args.services_}
    data = configout.model(project, args.format == "json", escape=not args.no_interpolate)
    text = configout.to_json(data) if args.format == "json" else configout.to_yaml(data)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text if text.endswith("\n") or args.format == "json" else text + "\n")  # v2's JSON: none
    return 0


def _parse(argv: list[str]) -> Any:
    word = command_word(argv)
    if word not in _names():
        return _parser().parse_args(argv)
    from dockyard.cli.liteparse import Fallback

    try:
        return _parser(word, lite=True).parse_args(argv)
    except Fallback:
        return _parser(word).parse_args(argv)  # argparse words the error or prints the help


def main(argv: list[str], client_factory: Callable[[], Any] | None = None) -> int:
    try:
        args = _parse(argv)
        if args.command is None:
            _parser().print_help()
            return 0
        if args.command == "config":
            return config(args)
        from dockyard.compose import commands

        if client_factory is None or args.host:
            from dockyard.client.http import Client

            host = args.host
            client_factory = lambda: Client(host)  # noqa: E731
        return commands.run(args, client_factory)
    except UsageError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except errors.DockyardError as err:
        if os.environ.get("DOCKYARD_DEBUG"):
            raise
        from dockyard.client.errors import DaemonError

        # as v2 (the Docker client's words): a refusal by the daemon says so
        print(f"Error response from daemon: {err}" if isinstance(err, DaemonError) else str(err), file=sys.stderr)
        return 1


def run() -> None:
    """The ``dockyard-compose`` command."""
    sys.exit(main(sys.argv[1:]))
