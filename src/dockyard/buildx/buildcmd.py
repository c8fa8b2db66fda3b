"""``docker buildx build``: the docker CLI runs it for ``docker build`` once a buildx plugin is
installed (BuildKit is its default on Linux). Its flags become one bake target, built as bake
builds; ``-q`` prints the image ID, ``--iidfile`` and ``--metadata-file`` write it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard import errors
from dockyard.buildx import bake
from dockyard.compose.shapes import from_env

if TYPE_CHECKING:
    from dockyard.client.http import Client


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="docker buildx build", description="Start a build")
    p.add_argument("path")
    p.add_argument("-t", "--tag", action="append", default=[])
    p.add_argument("-f", "--file", default="")
    p.add_argument("--build-arg", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--target", default="")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--pull", action="store_true")
    p.add_argument("--platform", action="append", default=[])
    p.add_argument("--network", default="")
    p.add_argument("--add-host", action="append", default=[])
    p.add_argument("--cache-from", action="append", default=[])
    p.add_argument("--secret", action="append", default=[])
    p.add_argument("--progress", default="auto", choices=["auto", "plain", "tty", "quiet", "rawjson"])
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--iidfile", default="")
    p.add_argument("--metadata-file", default="")
    p.add_argument("--load", action="store_true")
    p.add_argument("--push", action="store_true")
    p.add_argument("-o", "--output", action="append", default=[])
    p.add_argument("--builder", default="")
    p.add_argument("--provenance", default="")
    p.add_argument("--sbom", default="")
    return p


def _labels(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (item.partition("=") for item in items)}


def _hosts(items: list[str]) -> dict[str, str]:
    """``--add-host name:ip`` (or ``name=ip``) as bake's ``extra-hosts``: name -> ips, comma-joined."""
    out: dict[str, str] = {}
    for item in items:
        name, _, ip = item.partition("=") if "=" in item.split(":", 1)[0] else item.partition(":")
        out[name] = f"{out[name]},{ip}" if name in out else ip
    return out


def target_of(a: argparse.Namespace, stdin_dockerfile: str = "") -> dict[str, object]:
    """The flags as a bake target (``-f`` is relative to the working directory, as docker build's)."""
    if a.path == "-":
        raise errors.InvalidArgument("a build context from stdin is not supported; give a directory")
    t: dict[str, object] = {
        "context": a.path, "tags": a.tag, "args": from_env(a.build_arg, os.environ), "labels": _labels(a.label),
        "target": a.target, "no-cache": a.no_cache, "pull": a.pull, "network": a.network,
        "platforms": [p for flag in a.platform for p in flag.split(",") if p], "cache-from": a.cache_from,
        "secret": a.secret, "output": a.output + (["type=registry"] if a.push else []),
        "extra-hosts": _hosts(a.add_host)}
    if a.file == "-":
        t["dockerfile-inline"] = stdin_dockerfile
    elif a.file:
        t["dockerfile"] = os.path.abspath(a.file)
    return t


def cmd_build(c: Client, argv: list[str]) -> int:
    from dockyard.buildx.bakecmd import progress_mode, run_builds

    a = _parser().parse_args(argv)
    req = bake.request_for("default", target_of(a, sys.stdin.read() if a.file == "-" else ""))
    for w in req.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    (build,) = run_builds(c, [req], "quiet" if a.quiet else progress_mode(a.progress))
    if build.error:
        print(f"ERROR: {build.error}", file=sys.stderr)
        return 1
    if a.quiet:
        print(build.image_id)
    if a.iidfile:
        Path(a.iidfile).write_text(build.image_id)
    if a.metadata_file:
        bake.write_json(a.metadata_file, bake.metadata_of(build.image_id, req.tags))
    return 0
