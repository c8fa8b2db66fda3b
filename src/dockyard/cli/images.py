"""Image commands: images, import, rmi."""

from __future__ import annotations

import argparse
import json
import sys

from dockyard import errors
from dockyard.cli.format import ago, human_size, short_id, table
from dockyard.client.http import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.main import Command


def cmd_images(c: Client, a: argparse.Namespace) -> int:
    params = {"filters": json.dumps({"reference": [a.reference]})} if a.reference else None
    rows = c.json("GET", "/images/json", params)
    if a.quiet:
        for r in rows:
            print(short_id(r["Id"]))
        return 0
    out = []
    for r in rows:
        tags = r["RepoTags"] or ["<none>:<none>"]
        for tag in tags:
            repo, _, t = tag.rpartition(":")
            out.append([repo, t, short_id(r["Id"]), ago(r["Created"]), human_size(r["Size"])])
    print(table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], out))
    return 0


def cmd_import(c: Client, a: argparse.Namespace) -> int:
    f = sys.stdin.buffer if a.file == "-" else open(a.file, "rb")
    with f:
        body = iter(lambda: f.read(1 << 20), b"")
        params: dict[str, Any] = {"fromSrc": "-", "repo": a.reference or None, "changes": a.change or None,
                                  "message": a.message or None}
        for msg in c.json_stream("POST", "/images/create", params, body, {"Content-Type": "application/x-tar"}):
            if "error" in msg:
                raise errors.Internal(msg["error"])
            if "status" in msg:
                print(msg["status"])
    return 0


def cmd_rmi(c: Client, a: argparse.Namespace) -> int:
    rc = 0
    for ref in a.images:
        try:
            for item in c.json("DELETE", f"/images/{ref}", {"force": a.force}):
                for k, v in item.items():
                    print(f"{k}: {v}")
        except errors.DockyardError as err:
            print(f"Error response from daemon: {err}", file=sys.stderr)
            rc = 1
    return rc


def register(cmd: Command) -> None:
    sp = cmd("images", cmd_images, "List images")
    sp.add_argument("-q", "--quiet", action="store_true")
    sp.add_argument("reference", nargs="?", default="")
    sp = cmd("import", cmd_import, "Import the contents from a tarball to create a filesystem image")
    sp.add_argument("-c", "--change", action="append", default=[])
    sp.add_argument("-m", "--message", default="")
    sp.add_argument("file")
    sp.add_argument("reference", nargs="?", default="")
    sp = cmd("rmi", cmd_rmi, "Remove one or more images")
    sp.add_argument("-f", "--force", action="store_true")
    sp.add_argument("images", nargs="+")
