"""Network commands: network create/ls/inspect/rm/connect/disconnect/prune."""

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
    ipam: dict[str, Any] = {k: v for k, v in (("Subnet", a.subnet), ("Gateway", a.gateway), ("IPRange", a.ip_range))
                            if v}
    body = {"Name": a.name, "Driver": a.driver, "Internal": a.internal, "Attachable": a.attachable,
            "Labels": dict((x.split("=", 1) + [""])[:2] for x in a.label),
            "Options": dict((x.split("=", 1) + [""])[:2] for x in a.opt),
            "IPAM": {"Driver": a.ipam_driver, "Config": [ipam] if ipam else [],
                     "Options": dict((x.split("=", 1) + [""])[:2] for x in a.ipam_opt)}}
    print(c.json("POST", "/networks/create", None, body)["Id"])
    return 0


NETWORKS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
NETWORKS_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
                    "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


def _network_row(n: dict[str, Any], trunc: bool) -> Any:
    from dockyard.cli.template import Row

    labels = n.get("Labels") or {}
    return Row({"ID": n["Id"][:12] if trunc else n["Id"], "Name": n["Name"], "Driver": n.get("Driver", ""),
                "Scope": n.get("Scope", ""), "IPv6": "true" if n.get("EnableIPv6") else "false",
                "Internal": "true" if n.get("Internal") else "false",
                "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
                "CreatedAt": n.get("Created", "")}, "*network.networkContext")


def cmd_ls(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import natural_key
    from dockyard.cli.template import print_rows

    flt = _filters(a.filter)
    nets = sorted(c.json("GET", "/networks", {"filters": json.dumps(flt)} if flt else None),
                  key=lambda n: natural_key(n["Name"]))
    fmt = "{{.ID}}" if a.quiet else (a.format if a.format and a.format != "table" else NETWORKS_TABLE)
    print_rows(fmt, [_network_row(n, not a.no_trunc) for n in nets], NETWORKS_HEADERS)
    return 0


def cmd_inspect(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import inspect_all

    return inspect_all(c, a.networks, "/networks/{}", "network", a.format)


def cmd_rm(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import remove_all

    return remove_all(c, a.networks, "/networks/{}", "network")


def cmd_connect(c: Client, a: argparse.Namespace) -> int:
    cfg: dict[str, Any] = {"Aliases": a.alias or None}
    if a.ip:
        cfg["IPAMConfig"] = {"IPv4Address": a.ip}
    c.request("POST", f"/networks/{a.network}/connect", None, {"Container": a.container, "EndpointConfig": cfg}).read()
    return 0


def cmd_disconnect(c: Client, a: argparse.Namespace) -> int:
    c.request("POST", f"/networks/{a.network}/disconnect", None, {"Container": a.container, "Force": a.force}).read()
    return 0


def _filters(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in items:
        k, _, v = f.partition("=")
        out.setdefault(k, []).append(v)
    return out


def cmd_prune(c: Client, a: argparse.Namespace) -> int:
    filters = _filters(a.filter)
    gone = c.json("POST", "/networks/prune", {"filters": json.dumps(filters)} if filters else None)["NetworksDeleted"] \
        or []
    if gone:
        print("Deleted Networks:\n" + "\n".join(gone))
    return 0


def register(cmd: Command) -> None:
    p = cmd("network", lambda c, a: (a.net_parser.print_help(), 0)[1], "Manage networks")
    p.set_defaults(net_parser=p)
    sub = p.add_subparsers(dest="net_cmd", metavar="COMMAND")
    s = sub.add_parser("create")
    s.set_defaults(fn=cmd_create)
    s.add_argument("-d", "--driver", default="bridge")
    s.add_argument("--subnet", default="")
    s.add_argument("--gateway", default="")
    s.add_argument("--ip-range", default="")
    s.add_argument("--ipam-driver", default="default", help="IP Address Management Driver")
    s.add_argument("--ipam-opt", action="append", default=[], help="Set IPAM driver specific options")
    s.add_argument("--internal", action="store_true")
    s.add_argument("--attachable", action="store_true")
    s.add_argument("--label", action="append", default=[])
    s.add_argument("-o", "--opt", action="append", default=[])
    s.add_argument("name")
    s = sub.add_parser("ls", aliases=["list"])
    s.set_defaults(fn=cmd_ls)
    s.add_argument("-f", "--filter", action="append", default=[], metavar="filter",
                   help="Provide filter values (e.g. 'driver=bridge')")
    s.add_argument("--format", default="", help="Pretty-print networks using a Go template")
    s.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    s.add_argument("-q", "--quiet", action="store_true", help="Only display network IDs")
    s = sub.add_parser("inspect")
    s.set_defaults(fn=cmd_inspect)
    s.add_argument("-f", "--format", default="")
    s.add_argument("networks", nargs="+")
    s = sub.add_parser("rm", aliases=["remove"])
    s.set_defaults(fn=cmd_rm)
    s.add_argument("networks", nargs="+")
    for name, fn in (("connect", cmd_connect), ("disconnect", cmd_disconnect)):
        s = sub.add_parser(name)
        s.set_defaults(fn=fn)
        if name == "connect":
            s.add_argument("--alias", action="append", default=[])
            s.add_argument("--ip", default="")
        else:
            s.add_argument("-f", "--force", action="store_true")
        s.add_argument("network")
        s.add_argument("container")
    s = sub.add_parser("prune")
    s.set_defaults(fn=cmd_prune)
    s.add_argument("-f", "--force", action="store_true")
    s.add_argument("--filter", action="append", default=[])
    s = cmd("port", cmd_port, "List port mappings or a specific mapping for the container")
    s.add_argument("container")
    s.add_argument("port", nargs="?", default="")


def cmd_port(c: Client, a: argparse.Namespace) -> int:
    """``docker port C [PORT[/PROTO]]``: one ``80/tcp -> 127.0.0.1:8080`` line per binding, or the addresses."""
    ports = (c.json("GET", f"/containers/{a.container}/json")["NetworkSettings"].get("Ports") or {})
    if a.port:
        key = a.port if "/" in a.port else f"{a.port}/tcp"
        items = ports.get(key)
        if not items:
            print(f"Error: No public port '{key}' published for {a.container}", file=sys.stderr)
            return 1
        for item in items:
            print(f"{item['HostIp'] or '0.0.0.0'}:{item['HostPort']}")
        return 0
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        for item in ports[key] or []:
            print(f"{key} -> {item['HostIp'] or '0.0.0.0'}:{item['HostPort']}")
    return 0
