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
    """``docker network create``: every flag of docker's (cli/command/network/create.go)."""
    body: dict[str, Any] = {
        "Name": a.name, "Driver": a.driver, "Internal": a.internal, "Attachable": a.attachable,
        "Ingress": a.ingress, "Scope": a.scope, "ConfigOnly": a.config_only,
        "Labels": dict((x.split("=", 1) + [""])[:2] for x in a.label),
        "Options": dict((x.split("=", 1) + [""])[:2] for x in a.opt),
        "IPAM": {"Driver": a.ipam_driver,
                 "Config": ipam_config([x for xs in a.subnet for x in xs], a.ip_range, a.gateway, a.aux_address),
                 "Options": dict((x.split("=", 1) + [""])[:2] for x in a.ipam_opt)}}
    if a.config_from:
        body["ConfigFrom"] = {"Network": a.config_from}
    for flag, key in (("ipv4", "EnableIPv4"), ("ipv6", "EnableIPv6")):
        if getattr(a, flag) is not None:  # sent only when given, as the CLI's cmd.Flag(...).Changed
            body[key] = getattr(a, flag)
    print(c.json("POST", "/networks/create", None, body)["Id"])
    return 0


def ipam_config(subnets: list[str], ranges: list[str], gateways: list[str], aux: list[str]) -> list[dict[str, Any]]:
    """The CLI's createIPAMConfig: each ``--ip-range``, ``--gateway`` and ``--aux-address`` goes to the
    ``--subnet`` that holds it; docker's messages for what does not fit."""
    import ipaddress

    from dockyard.cli.errors import StatusError

    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise StatusError("every ip-range or gateway must have a corresponding subnet")
    nets: dict[str, Any] = {}
    data: dict[str, dict[str, Any]] = {}
    for text in subnets:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise StatusError(f"invalid subnet: invalid CIDR address: {text}") from None
        if any(net.overlaps(other) for other in nets.values()):
            raise StatusError("multiple overlapping subnet configuration is not supported")
        nets[text], data[text] = net, {"Subnet": text}

    def holder(what: str, value: str) -> list[str]:
        addr = ipaddress.ip_network(value, strict=False).network_address if "/" in value else ipaddress.ip_address(value)
        found = [s for s, net in nets.items() if addr.version == net.version and addr in net]
        if not found:
            raise StatusError(f"no matching subnet for {what} {value}")
        return found
    for value in ranges:
        for s in holder("range", value):
            if "IPRange" in data[s]:
                raise StatusError(f"cannot configure multiple ranges ({value}, {data[s]['IPRange']}) on the same "
                                  f"subnet ({s})")
            data[s]["IPRange"] = value
    for value in gateways:
        for s in holder("gateway", value):
            if "Gateway" in data[s]:
                raise StatusError(f"cannot configure multiple gateways ({value}, {data[s]['Gateway']}) for the same "
                                  f"subnet ({s})")
            data[s]["Gateway"] = value
    for item in aux:
        name, _, value = item.partition("=")
        if not value:
            continue
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise StatusError(f'ParseAddr("{value}"): unable to parse IP') from None
        for s in holder("aux-address", value):
            data[s].setdefault("AuxiliaryAddresses", {})[name] = value
    return list(data.values())


def _cidr(value: str) -> str:
    """``--ip-range``: pflag's IPNet value."""
    import ipaddress

    from dockyard.cli.flags import FlagValueError

    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise FlagValueError(value, f"invalid CIDR address: {value}") from None
    return value


def _ip(value: str) -> str:
    """``--gateway``: pflag's IP value."""
    import ipaddress

    from dockyard.cli.flags import FlagValueError

    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise FlagValueError(value, f"invalid string being converted to IP address: {value}") from None
    return value


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
    s.add_argument("-d", "--driver", default="bridge", help="Driver to manage the Network")
    s.add_argument("--subnet", action="append", default=[], type=lambda v: [x for x in v.split(",") if x],
                   help="Subnet in CIDR format that represents a network segment")
    s.add_argument("--gateway", action="append", default=[], type=_ip,
                   help="IPv4 or IPv6 Gateway for the master subnet")
    s.add_argument("--ip-range", action="append", default=[], type=_cidr, help="Allocate container ip from a sub-range")
    s.add_argument("--aux-address", action="append", default=[],
                   help="Auxiliary IPv4 or IPv6 addresses used by Network driver")
    s.add_argument("--ipam-driver", default="default", help="IP Address Management Driver")
    s.add_argument("--ipam-opt", action="append", default=[], help="Set IPAM driver specific options")
    s.add_argument("--internal", action="store_true", help="Restrict external access to the network")
    s.add_argument("--ipv4", action="store_true", default=None, help="Enable or disable IPv4 address assignment")
    s.add_argument("--ipv6", action="store_true", default=None, help="Enable or disable IPv6 address assignment")
    s.add_argument("--attachable", action="store_true", help="Enable manual container attachment")
    s.add_argument("--ingress", action="store_true", help="Create swarm routing-mesh network")
    s.add_argument("--scope", default="", help="Control the network's scope")
    s.add_argument("--config-only", action="store_true", help="Create a configuration only network")
    s.add_argument("--config-from", default="", help="The network from which to copy the configuration")
    s.add_argument("--label", action="append", default=[], help="Set metadata on a network")
    s.add_argument("-o", "--opt", action="append", default=[], help="Set driver specific options")
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
