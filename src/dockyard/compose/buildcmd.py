"""``compose build`` with Compose v2's flags, on the classic builder (``POST /build``).

``--build-arg`` wins over the services' ``build.args`` (``KEY`` alone takes the value from the
project's environment, dropped when it has none), ``--with-dependencies`` adds the services
named ones depend on (transitively), ``--push`` pushes every built service that names an
``image``, ``-q`` prints neither the progress lines nor the build output, ``-m`` is the build
containers' memory limit. The BuildKit-only flags are refused with v2's words for its classic
builder.
"""

from __future__ import annotations

import sys

from dockyard import errors
from dockyard.compose import project
from dockyard.compose.project import order

TYPE_CHECKING = False  # typing imports re: ~3 ms of every command's start
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

    from dockyard.compose.ops import Compose

_BUILDKIT_ONLY = (("ssh", "the classic builder doesn't support SSH keys, set DOCKER_BUILDKIT=1 to use BuildKit"),
                  ("check", "--check is only supported with BuildKit, set DOCKER_BUILDKIT=1 to use BuildKit"),
                  ("print", "--print is only supported with Bake, set COMPOSE_BAKE=true to use Bake"),
                  ("sbom", "--sbom is only supported with BuildKit, set DOCKER_BUILDKIT=1 to use BuildKit"),
                  ("provenance", "--provenance is only supported with BuildKit, set DOCKER_BUILDKIT=1 to use BuildKit"))


def register(cmd: Callable[[str, str], Any]) -> None:
    b = cmd("build", "Build or rebuild services")
    b.add_argument("--build-arg", dest="build_arg", action="append", default=[], metavar="KEY=VALUE")
    b.add_argument("--builder", default="")
    b.add_argument("--check", action="store_true")
    b.add_argument("-m", "--memory", default="")
    b.add_argument("--no-cache", action="store_true")
    b.add_argument("--print", action="store_true")
    b.add_argument("--provenance", default="")
    b.add_argument("--pull", action="store_true")
    b.add_argument("--push", action="store_true")
    b.add_argument("-q", "--quiet", action="store_true")
    b.add_argument("--sbom", default="")
    b.add_argument("--ssh", default="")
    b.add_argument("--with-dependencies", dest="with_dependencies", action="store_true")
    b.add_argument("services", nargs="*")


def selected(services: dict[str, Any], named: list[str], with_dependencies: bool) -> list[str]:
    """The services to build, in dependency order: those named (all without names), with what
    they depend on when asked; only those with a ``build``."""
    wanted = project.with_dependencies(services, named, with_dependencies)
    return [s for s in order(services) if s in wanted and services[s].get("build")]


def _memory(value: str) -> int:
    if not value:
        return 0
    from dockyard.compose import shapes

    return int(shapes.bytes_value(value))


def cmd_build(cp: Compose, a: argparse.Namespace) -> int:
    for flag, message in _BUILDKIT_ONLY:
        if getattr(a, flag):
            raise errors.InvalidArgument(message)
    p = cp.need_project()
    from dockyard.compose.shapes import from_env

    args = from_env(a.build_arg, p.environment)
    cp.builder = a.builder or cp.builder  # checked by the first build, as buildx checks v2's `bake --builder`
    memory = _memory(a.memory)
    if a.quiet:
        cp.out = lambda line: None
    show = None if a.quiet else _stdout
    built = selected(p.services, a.services, a.with_dependencies)
    for s in built:
        cp.build(s, a.no_cache, a.pull, args=args, memory=memory, show=show)
    for s in built:
        cp.out(f" {s}  Built")
    if a.push:
        for s in p.services:
            if not p.services[s].get("build") or not p.services[s].get("image"):
                cp.out(f" {s} Skipped ")
                continue
            cp.push(s)
    return 0


def _stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
