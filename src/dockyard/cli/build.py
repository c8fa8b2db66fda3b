"""``dockyard build`` and ``dockyard builder prune``: the context tar (``.dockerignore`` applied here,
before anything is sent) to ``POST /build``, progress printed plainly, or as a live one-line-per-step
display on a terminal, with cache hits marked."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dockyard import errors
from dockyard.client.http import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.main import Command


def _kv(items: list[str] | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items or []:
        k, eq, v = item.partition("=")
        out[k] = v if eq else os.environ.get(k)
    return out


class Display:
    """Plain: the daemon's text as it comes (docker's classic builder, byte for byte). TTY: one
    line per step as BuildKit shows them, each ending with its time (``CACHED`` when reused),
    and the whole build's time at the end."""

    def __init__(self, tty: bool, out: Any = None, clock: Any = None) -> None:
        import time

        self.tty = tty
        self.out = out or sys.stdout
        self.clock = clock or time.monotonic
        self.began = self.clock()
        self.step = ""
        self.step_began = 0.0
        self.steps = 0
        self.cached = 0

    def _end_step(self, label: str) -> None:
        self.out.write(f"\r\x1b[K=> {label}{self.step} {self.clock() - self.step_began:.1f}s\n")
        self.step = ""

    def feed(self, text: str) -> None:
        if not self.tty:
            self.out.write(text)
            self.out.flush()
            return
        for line in text.splitlines(keepends=True):
            if line.startswith("Step "):
                self.step, self.step_began = line.strip(), self.clock()
                self.steps += 1
                self.out.write(f"\r\x1b[K=> {self.step}")
            elif line.strip() == "---> Using cache":
                self.cached += 1
                self._end_step("CACHED ")
            elif line.startswith(" ---> ") and self.step:
                if "Running in" in line or "Removed intermediate" in line:
                    continue
                self._end_step("DONE ")
            elif line.startswith("Successfully"):
                self.out.write(line)
            elif self.step:
                self.out.write(f"\r\x1b[K   {line.rstrip()}\n=> {self.step}")
        self.out.flush()

    def finish(self) -> None:
        if self.tty and self.steps:
            self.out.write(f"=> {self.steps} steps ({self.cached} cached) in {self.clock() - self.began:.1f}s\n")
            self.out.flush()


def cmd_build(c: Client, a: argparse.Namespace) -> int:
    from dockyard.buildcontext.send import make_context, only_what_the_daemon_lacks, secrets_header

    root = Path(a.path)
    if not root.is_dir():
        raise errors.InvalidArgument(f"unable to prepare context: path {a.path!r} not found")
    df_path = Path(a.file or "Dockerfile")
    if a.file and not df_path.is_absolute() and not (root / df_path).exists() and df_path.exists():
        df_path = df_path.resolve()  # -f relative to the working directory
    plan, dockerfile = make_context(root, df_path)
    params: dict[str, Any] = {
        "t": a.tag or None, "dockerfile": dockerfile, "buildargs": json.dumps(_kv(a.build_arg)) if a.build_arg else None,
        "nocache": a.no_cache or None, "pull": a.pull or None, "target": a.target or None,
        "labels": json.dumps({k: v or "" for k, v in _kv(a.label).items()}) if a.label else None,
        "cachefrom": json.dumps(a.cache_from) if a.cache_from else None, "platform": a.platform or None,
        "q": a.quiet or None, "rm": True}
    headers = {"Content-Type": "application/x-tar"}
    body: Any = only_what_the_daemon_lacks(c, root, plan, headers)  # a body that writes itself
    if a.secret:
        headers["X-Dockyard-Build-Secrets"] = secrets_header(a.secret)
    tty = sys.stdout.isatty() and a.progress in ("auto", "tty")
    display = Display(tty)
    image_id = ""
    for msg in c.json_stream("POST", "/build", params, body, headers):
        if "error" in msg or "errorDetail" in msg:
            sys.stdout.flush()
            print(f"\nERROR: {msg.get('error') or msg['errorDetail'].get('message')}", file=sys.stderr)
            return 1
        if "stream" in msg and not a.quiet:
            display.feed(msg["stream"])
        if "aux" in msg:
            image_id = msg["aux"].get("ID", "")
    display.finish()
    if a.quiet:
        print(image_id)
    if a.iidfile and image_id:
        Path(a.iidfile).write_text(image_id)
    return 0


def cmd_builder_prune(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import filters, human_size

    if not a.force:
        what = "all build cache" if a.all else "all dangling build cache"
        print(f"WARNING! This will remove {what}. Are you sure you want to continue? [y/N] ", end="", flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    params = {"all": a.all or None}
    flt = filters(a.filter)
    if flt:
        params["filters"] = json.dumps(flt)
    r = c.json("POST", "/build/prune", params)
    deleted = r.get("CachesDeleted") or []
    if deleted:
        print("Deleted build cache objects:\n" + "\n".join(deleted) + "\n")
    print(f"Total reclaimed space: {human_size(r.get('SpaceReclaimed', 0), 4)}")
    return 0


def register(cmd: Command) -> None:
    p = cmd("build", cmd_build, "Build an image from a Dockerfile")
    p.add_argument("path")
    p.add_argument("-t", "--tag", action="append")
    p.add_argument("-f", "--file")
    p.add_argument("--build-arg", action="append")
    p.add_argument("--label", action="append")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--pull", action="store_true")
    p.add_argument("--target")
    p.add_argument("--iidfile")
    p.add_argument("--cache-from", action="append")
    p.add_argument("--platform")
    p.add_argument("--secret", action="append", help="id=ID,src=PATH (or env=VAR): for RUN --mount=type=secret")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--progress", default="auto", choices=("auto", "plain", "tty"))
    p2 = cmd("builder-prune", cmd_builder_prune, "Remove build cache", usage="[OPTIONS]")
    p2.add_argument("-a", "--all", action="store_true", help="Remove all unused build cache, not just dangling ones")
    p2.add_argument("--filter", action="append", default=[], metavar="filter",
                    help="Provide filter values (e.g. 'until=24h')")
    p2.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p2.add_argument("--keep-storage", default="", metavar="bytes", help="Amount of disk space to keep for cache")
