"""``compose cp`` and ``compose events``, as Compose v2 2.40.3 does them.

``cp`` names a service where ``docker cp`` names a container (``SERVICE:PATH``, ``--index`` of its
replicas, ``--all`` for one-off containers too) and copies as ``docker cp`` (``dockyard.cli.cp``).
``events`` follows the daemon's container events of the project (one-off containers left out),
printed as v2 prints them: ``<local time> container <action> <id> (<attributes>)`` and a blank
line, or with ``--json`` one object per line, attributes without the ``com.docker.compose.*``
labels.
"""

from __future__ import annotations

import sys

from dockyard import errors
from dockyard.client import jsonlite as json
from dockyard.compose import engine as E

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

    from dockyard.compose.ops import Compose


def register(cmd: Callable[[str, str], Any]) -> None:
    c = cmd("cp", "Copy files/folders between a service container and the local filesystem")
    c.add_argument("--all", action="store_true")
    c.add_argument("-a", "--archive", action="store_true")
    c.add_argument("-L", "--follow-link", action="store_true")
    c.add_argument("--index", type=int, default=0)
    c.add_argument("source")
    c.add_argument("destination")
    e = cmd("events", "Receive real time events from containers")
    e.add_argument("--json", action="store_true")
    e.add_argument("--since", default="")
    e.add_argument("--until", default="")
    e.add_argument("services", nargs="*")


def _container(cp: Compose, service: str, index: int, all: bool) -> dict[str, Any]:
    found = cp.containers(service, oneoff=None if all else False)
    if index:
        found = [c for c in found if c["Labels"].get(E.NUMBER) == str(index)]
    if not found:
        raise errors.NotFound(f'no container found for service "{service}"' if not index else
                              f'service "{service}" is not running container #{index}')
    return found[0]


def cmd_cp(cp: Compose, a: argparse.Namespace) -> int:
    from dockyard.cli import cp as docker_cp
    from dockyard.cli.errors import CLIError

    src, dst, name = a.source, a.destination, ""
    for side in ("source", "destination"):
        service, sep, path = getattr(a, side).partition(":")
        if sep and service and not service.startswith(("/", ".")):
            c = _container(cp, service, a.index, a.all)
            name = c["Names"][0].lstrip("/")
            if side == "source":
                src, shown = f"{c['Id']}:{path}", f"{name} copy {name}:{path} to {a.destination}"
            else:
                dst, shown = f"{c['Id']}:{path}", f"{name} copy {a.source} to {name}:{path}"
    if name:
        cp.out(f" {shown} Copying")
    try:
        code = docker_cp.run(cp.c, src, dst, a.follow_link, a.archive)
    except CLIError as err:
        raise errors.InvalidArgument(str(err)) from None
    if name:
        cp.out(f" {shown} Copied")
    return code


def _rfc3339nano(ns: int) -> str:
    import time

    seconds, frac = divmod(ns, 10**9)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{frac:09d}".rstrip("0")
    return base + (f".{digits}" if digits else "") + "Z"


def _line(e: dict[str, Any], service: str, attrs: dict[str, str], as_json: bool) -> str:
    ns = int(e.get("timeNano") or int(e.get("time") or 0) * 10**9)
    cid = (e.get("Actor") or {}).get("ID") or e.get("id", "")
    if as_json:  # Go's encoding/json: compact, maps sorted
        import json as stdjson

        return stdjson.dumps({"action": e.get("Action") or e.get("status", ""), "attributes": attrs, "id": cid,
                              "service": service, "time": _rfc3339nano(ns), "type": "container"},
                             separators=(",", ":"), sort_keys=True) + "\n"
    import time

    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns // 10**9)) + f".{ns % 10**9 // 1000:06d}"
    shown = ", ".join(f"{k}={v}" for k, v in sorted(attrs.items()))
    return f"{stamp} container {e.get('Action') or e.get('status', '')} {cid} ({shown})\n\n"


def cmd_events(cp: Compose, a: argparse.Namespace) -> int:
    params: dict[str, Any] = {"filters": json.dumps({"label": [f"{E.PROJECT}={cp.name}"], "type": ["container"]})}
    params.update({k: v for k, v in (("since", a.since), ("until", a.until)) if v})
    for e in cp.c.json_stream("GET", "/events", params):
        labels = (e.get("Actor") or {}).get("Attributes") or {}
        service = labels.get(E.SERVICE, "")
        if labels.get(E.ONEOFF) == "True" or (a.services and service not in a.services):
            continue
        attrs = {k: v for k, v in labels.items() if not k.startswith(E.L)}
        sys.stdout.write(_line(e, service, attrs, a.json))
        sys.stdout.flush()
    return 0
