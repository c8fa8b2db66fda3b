"""Volume commands: volume create/ls/inspect/rm/prune."""

from __future__ import annotations

import sys

from dockyard.client import jsonlite as json
from dockyard.client.http import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from dockyard.cli.main import Command


def cmd_create(c: Client, a: argparse.Namespace) -> int:
    body = {"Name": a.name or "", "Driver": a.driver,
            "Labels": dict((x.split("=", 1) + [""])[:2] for x in a.label),
            "DriverOpts": dict((x.split("=", 1) + [""])[:2] for x in a.opt)}
    print(c.json("POST", "/volumes/create", None, body)["Name"])
    return 0


VOLUMES_TABLE = "table {{.Driver}}\t{{.Name}}"
VOLUMES_HEADERS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
                   "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE"}


def _volume_row(v: dict[str, Any]) -> Any:
    from dockyard.cli.format import human_size
    from dockyard.cli.template import Row

    usage = v.get("UsageData")
    labels = v.get("Labels") or {}
    return Row({"Name": v["Name"], "Driver": v.get("Driver", ""), "Scope": v.get("Scope", ""),
                "Mountpoint": v.get("Mountpoint", ""),
                "Labels": ",".join(f"{k}={val}" for k, val in sorted(labels.items())),
                "Links": "N/A" if usage is None else str(usage.get("RefCount", 0)),
                "Size": "N/A" if usage is None else human_size(usage.get("Size", 0))}, "*formatter.volumeContext")


def cmd_ls(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import filters, natural_key
    from dockyard.cli.template import print_rows

    flt = filters(a.filter)
    resp = c.json("GET", "/volumes", {"filters": json.dumps(flt)} if flt else None)
    vols = sorted(resp.get("Volumes") or [], key=lambda v: natural_key(v["Name"]))
    for warning in resp.get("Warnings") or []:
        print(warning, file=sys.stderr)
    fmt = "{{.Name}}" if a.quiet else (a.format if a.format and a.format != "table" else VOLUMES_TABLE)
    print_rows(fmt, [_volume_row(v) for v in vols], VOLUMES_HEADERS)
    return 0


def cmd_inspect(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import inspect_all

    return inspect_all(c, a.volumes, "/volumes/{}", "volume", a.format)


def cmd_rm(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import remove_all

    return remove_all(c, a.volumes, "/volumes/{}", "volume", {"force": 1} if a.force else None)


def cmd_prune(c: Client, a: argparse.Namespace) -> int:
    filters: dict[str, list[str]] = {"all": ["true"]} if a.all else {}
    for f in a.filter:
        k, _, v = f.partition("=")
        filters.setdefault(k, []).append(v)
    r = c.json("POST", "/volumes/prune", {"filters": json.dumps(filters)} if filters else None)
    if r.get("VolumesDeleted"):
        print("Deleted Volumes:\n" + "\n".join(r["VolumesDeleted"]))
    print(f"\nTotal reclaimed space: {r.get('SpaceReclaimed', 0)}B")
    return 0


def register(cmd: Command) -> None:
    p = cmd("volume", lambda c, a: (a.vol_parser.print_help(), 0)[1], "Manage volumes")
    p.set_defaults(vol_parser=p)
    sub = p.add_subparsers(dest="vol_cmd", metavar="COMMAND")
    s = sub.add_parser("create")
    s.set_defaults(fn=cmd_create)
    s.add_argument("-d", "--driver", default="local")
    s.add_argument("--label", action="append", default=[])
    s.add_argument("-o", "--opt", action="append", default=[])
    s.add_argument("name", nargs="?")
    s = sub.add_parser("ls", aliases=["list"])
    s.set_defaults(fn=cmd_ls)
    s.add_argument("-f", "--filter", action="append", default=[], metavar="filter",
                   help="Provide filter values (e.g. 'dangling=true')")
    s.add_argument("--format", default="", help="Pretty-print volumes using a Go template")
    s.add_argument("-q", "--quiet", action="store_true", help="Only display volume names")
    s = sub.add_parser("inspect")
    s.set_defaults(fn=cmd_inspect)
    s.add_argument("-f", "--format", default="")
    s.add_argument("volumes", nargs="+")
    s = sub.add_parser("rm", aliases=["remove"])
    s.set_defaults(fn=cmd_rm)
    s.add_argument("-f", "--force", action="store_true")
    s.add_argument("volumes", nargs="+")
    s = sub.add_parser("prune")
    s.set_defaults(fn=cmd_prune)
    s.add_argument("-a", "--all", action="store_true")
    s.add_argument("-f", "--force", action="store_true")
    s.add_argument("--filter", action="append", default=[])
