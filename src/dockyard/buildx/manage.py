"""The rest of what the docker CLI (23+) hands to an installed buildx: ``docker builder <cmd>`` runs
``docker-buildx buildx <cmd>``. ``prune`` and ``du`` are the classic builder's cache (``POST
/build/prune``, ``GET /system/df``'s ``BuildCache``); ``ls`` and ``inspect`` show the one builder
there is, the daemon's own."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.client.http import Client


def cmd_prune(c: Client, argv: list[str]) -> int:
    from dockyard.cli.build import cmd_builder_prune

    p = argparse.ArgumentParser(prog="docker buildx prune", description="Remove build cache")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--builder", default="")
    for flag in ("--keep-storage", "--reserved-space", "--max-used-space", "--min-free-space"):
        p.add_argument(flag, default="")
    a = p.parse_args(argv)
    if a.keep_storage or a.reserved_space or a.max_used_space or a.min_free_space:
        print("WARNING: the classic builder's cache has no size targets: every match is removed", file=sys.stderr)
    return cmd_builder_prune(c, a)


def cmd_du(c: Client, argv: list[str]) -> int:
    from dockyard.cli.format import ago, human_size, table
    from dockyard.timefmt import parse_rfc3339

    p = argparse.ArgumentParser(prog="docker buildx du", description="Disk usage")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.add_argument("--builder", default="")
    p.parse_args(argv)
    rows = c.json("GET", "/system/df", {"type": "build-cache"}).get("BuildCache") or []
    lines = [[r["ID"] + ("*" if r.get("Shared") else ""), "false" if r.get("InUse") else "true",
              human_size(r.get("Size", 0)), ago(parse_rfc3339(r["LastUsedAt"])) if r.get("LastUsedAt") else ""]
             for r in sorted(rows, key=lambda r: -int(r.get("Size", 0)))]
    if lines:
        print(table(["ID", "RECLAIMABLE", "SIZE", "LAST ACCESSED"], lines))
    total = sum(int(r.get("Size", 0)) for r in rows)
    reclaimable = sum(int(r.get("Size", 0)) for r in rows if not r.get("InUse"))
    print(table(["Reclaimable:", human_size(reclaimable)], [["Total:", human_size(total)]]))
    return 0


def cmd_ls(c: Client, argv: list[str]) -> int:
    from dockyard.cli.format import table

    p = argparse.ArgumentParser(prog="docker buildx ls", description="List builder instances")
    p.add_argument("--format", default="")
    p.add_argument("--no-trunc", action="store_true")
    p.parse_args(argv)
    info = c.json("GET", "/version")
    platform = f"{info.get('Os', 'linux')}/{info.get('Arch', 'amd64')}"
    print(table(["NAME/NODE", "DRIVER/ENDPOINT", "STATUS", "BUILDKIT", "PLATFORMS"],
                [["default*", "docker", "", "", ""],
                 [" \\_ default", " \\_ default", "running", "classic", platform]]))
    return 0


def cmd_inspect(c: Client, argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="docker buildx inspect", description="Inspect current builder instance")
    p.add_argument("name", nargs="?", default="")
    p.add_argument("--bootstrap", action="store_true")
    p.add_argument("--builder", default="")
    a = p.parse_args(argv)
    name = a.builder or a.name or "default"  # checked by the plugin (builders.check): the current context's
    info = c.json("GET", "/version")
    print(f"Name:          {name}\nDriver:        docker\n\nNodes:\nName:          {name}\nEndpoint:      {name}\n"
          f"Status:        running\nBuildKit:      classic (Dockyard {info.get('Version', '')})\n"
          f"Platforms:     {info.get('Os', 'linux')}/{info.get('Arch', 'amd64')}")
    return 0


COMMANDS = {"prune": cmd_prune, "du": cmd_du, "ls": cmd_ls, "inspect": cmd_inspect}
