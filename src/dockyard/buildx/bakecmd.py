"""``docker buildx bake``: the definition read and resolved (``bake.py``), each target built at once
by its own ``POST /build`` (``_Build``), progress as asked (``progress.py``), the metadata file
written when every target built."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.buildx import bake
from dockyard.buildx.progress import Progress

if TYPE_CHECKING:
    from dockyard.client.http import Client


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="docker buildx bake", description="Build from a file")
    p.add_argument("targets", nargs="*")
    p.add_argument("-f", "--file", action="append", default=[])
    p.add_argument("--progress", default="auto", choices=["auto", "plain", "tty", "quiet", "rawjson"])
    p.add_argument("--metadata-file", default="")
    p.add_argument("--allow", action="append", default=[])  # entitlements: the classic builder grants none
    p.add_argument("--builder", default="")
    p.add_argument("--sbom", default="")
    p.add_argument("--provenance", default="")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--pull", action="store_true")
    p.add_argument("--load", action="store_true")
    p.add_argument("--push", action="store_true")
    p.add_argument("--print", action="store_true")
    return p


class _Build:
    """One target's ``POST /build`` (and push), its progress written as it comes."""

    def __init__(self, c: Client, req: bake.Request, mode: str, lock: threading.Lock) -> None:
        self.c = c
        self.req = req
        self.progress = Progress(mode, sys.stderr, req.name, lock)
        self.image_id = ""
        self.error = ""

    def run(self) -> None:
        try:
            self._build()
            if self.req.push and not self.error:
                self._push()
        except errors.DockyardError as err:
            self.error = str(err)
        except OSError as err:
            self.error = f"failed to reach the daemon: {err}"
        self.progress.done(self.error)

    def _build(self) -> None:
        from dockyard.buildcontext.send import only_what_the_daemon_lacks, secrets_header

        c = self.c
        headers = {"Content-Type": "application/x-tar"}
        sent: Any = only_what_the_daemon_lacks(c, self.req.root, self.req.context, headers)  # writes itself
        if self.req.secrets:
            headers["X-Dockyard-Build-Secrets"] = secrets_header(self.req.secrets)
        params = {k: v for k, v in self.req.params.items() if v is not None}
        for msg in c.json_stream("POST", "/build", params, sent, headers):
            if "error" in msg or "errorDetail" in msg:
                self.error = str(msg.get("error") or msg["errorDetail"].get("message"))
                return
            if "stream" in msg:
                self.progress.feed(msg["stream"])
            if "aux" in msg:
                self.image_id = str(msg["aux"].get("ID", ""))
        if not self.image_id:
            self.error = "the build ended without an image ID"

    def _push(self) -> None:
        from dockyard.cli.images import auth_header, registry_domain

        c = self.c
        for ref in self.req.tags:
            name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
            self.progress.feed(f"pushing {ref}\n")
            for msg in c.json_stream("POST", f"/images/{name}/push", {"tag": tag},
                                     headers=auth_header(registry_domain(name))):
                if msg.get("error"):
                    self.error = f"push {ref}: {msg['error']}"
                    return


def cmd_bake(c: Client, argv: list[str]) -> int:
    a = _parser().parse_args(argv)
    defn = bake.load_definition(a.file or ["docker-bake.json"], sys.stdin)
    targets = bake.resolve(defn, a.targets)
    if a.print:
        print(json.dumps({"group": {"default": {"targets": sorted(targets)}}, "target": targets}, indent=2))
        return 0
    requests = [bake.request_for(name, t, a.no_cache, a.pull) for name, t in sorted(targets.items())]
    for req in requests:
        req.push = req.push or a.push
        for w in req.warnings:
            print(f"WARNING: {w}", file=sys.stderr)
    for flag, value in (("--sbom", a.sbom), ("--provenance", a.provenance)):
        if value and value.lower() not in ("false", "0"):
            print(f"WARNING: {flag}: the classic builder makes no attestations", file=sys.stderr)
    mode = progress_mode(a.progress)
    builds = run_builds(c, requests, mode)
    failed = [b for b in builds if b.error]
    for b in failed:
        print(f"ERROR: target {b.req.name}: {b.error}", file=sys.stderr)
    if a.metadata_file and not failed:
        bake.write_metadata(a.metadata_file, {b.req.name: (b.image_id, b.req.tags) for b in builds})
    return 1 if failed else 0


def progress_mode(flag: str) -> str:
    return flag if flag != "auto" else ("tty" if sys.stderr.isatty() else "plain")


def run_builds(c: Client, requests: list[bake.Request], mode: str) -> list[_Build]:
    """Each request built in a thread of its own, all at once (as bake builds its targets); the
    one-line terminal display is for one target, several print plainly."""
    mode = "plain" if mode == "tty" and len(requests) > 1 else mode
    lock = threading.Lock()
    builds = [_Build(c, req, mode, lock) for req in requests]
    threads = [threading.Thread(target=b.run, name=f"bake-{b.req.name}") for b in builds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return builds
