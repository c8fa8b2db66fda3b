"""Plugin commands: plugin ls/inspect/create/enable/disable/rm/set, over the Engine API's ``/plugins``."""

from __future__ import annotations

from dockyard.client import jsonlite as json
from dockyard.client.http import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from dockyard.cli.main import Command

PLUGINS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Description}}\t{{.Enabled}}"
PLUGINS_HEADERS = {"ID": "ID", "Name": "NAME", "Description": "DESCRIPTION", "Enabled": "ENABLED",
                   "PluginReference": "PLUGIN REFERENCE"}
DESCRIPTION_WIDTH = 45  # the docker CLI's ellipsis of a description in the table


def _plugin_row(p: dict[str, Any], trunc: bool) -> Any:
    from dockyard.cli.template import Row

    desc = str(p.get("Config", {}).get("Description", "")).replace("\n", "").replace("\r", "")
    if trunc and len(desc) > DESCRIPTION_WIDTH:
        desc = desc[:DESCRIPTION_WIDTH - 1] + "…"
    return Row({"ID": p["Id"][:12] if trunc else p["Id"], "Name": p["Name"].removesuffix(":latest"),
                "Description": desc, "Enabled": "true" if p.get("Enabled") else "false",
                "PluginReference": p.get("PluginReference", "")}, "*formatter.pluginContext")


def cmd_ls(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import filters
    from dockyard.cli.template import print_rows

    flt = filters(a.filter)
    plugins = c.json("GET", "/plugins", {"filters": json.dumps(flt)} if flt else None) or []
    fmt = "{{.ID}}" if a.quiet else (a.format if a.format and a.format != "table" else PLUGINS_TABLE)
    print_rows(fmt, [_plugin_row(p, not a.no_trunc) for p in plugins], PLUGINS_HEADERS)
    return 0


def cmd_inspect(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import inspect_all

    return inspect_all(c, a.plugins, "/plugins/{}/json", "plugin", a.format)


def _context(directory: str) -> bytes:
    """The tar the daemon's create takes: the directory's ``config.json`` and ``rootfs/``."""
    import io
    import os
    import tarfile

    from dockyard import errors

    if not os.path.isfile(os.path.join(directory, "config.json")):
        raise errors.InvalidArgument(f"{directory}: no config.json (a plugin directory has config.json and rootfs/)")
    if not os.path.isdir(os.path.join(directory, "rootfs")):
        raise errors.InvalidArgument(f"{directory}: no rootfs directory")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(os.path.join(directory, "config.json"), "config.json")
        tf.add(os.path.join(directory, "rootfs"), "rootfs")
    return buf.getvalue()


def cmd_create(c: Client, a: argparse.Namespace) -> int:
    c.request("POST", "/plugins/create", {"name": a.plugin}, _context(a.directory),
              {"Content-Type": "application/x-tar"}).read()
    print(a.plugin)
    return 0


def cmd_enable(c: Client, a: argparse.Namespace) -> int:
    c.request("POST", f"/plugins/{a.plugin}/enable", {"timeout": a.timeout}).read()
    print(a.plugin)
    return 0


def cmd_disable(c: Client, a: argparse.Namespace) -> int:
    c.request("POST", f"/plugins/{a.plugin}/disable", {"force": 1} if a.force else None).read()
    print(a.plugin)
    return 0


def cmd_rm(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import remove_all

    return remove_all(c, a.plugins, "/plugins/{}", "plugin", {"force": 1} if a.force else None)


def cmd_set(c: Client, a: argparse.Namespace) -> int:
    c.request("POST", f"/plugins/{a.plugin}/set", None, a.settings).read()
    return 0


def register(cmd: Command) -> None:
    p = cmd("plugin", lambda c, a: (a.plugin_parser.print_help(), 0)[1], "Manage plugins")
    p.set_defaults(plugin_parser=p)
    sub = p.add_subparsers(dest="plugin_cmd", metavar="COMMAND")
    s = sub.add_parser("ls", aliases=["list"])
    s.set_defaults(fn=cmd_ls)
    s.add_argument("-f", "--filter", action="append", default=[], metavar="filter",
                   help="Provide filter values (e.g. 'enabled=true')")
    s.add_argument("--format", default="", help="Format output using a custom template")
    s.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    s.add_argument("-q", "--quiet", action="store_true", help="Only display plugin IDs")
    s = sub.add_parser("inspect")
    s.set_defaults(fn=cmd_inspect)
    s.add_argument("-f", "--format", default="")
    s.add_argument("plugins", nargs="+")
    s = sub.add_parser("create")
    s.set_defaults(fn=cmd_create)
    s.add_argument("--compress", action="store_true", help="Compress the context using gzip (accepted, not used)")
    s.add_argument("plugin")
    s.add_argument("directory")
    s = sub.add_parser("enable")
    s.set_defaults(fn=cmd_enable)
    s.add_argument("--timeout", type=int, default=30, help="HTTP client timeout (in seconds)")
    s.add_argument("plugin")
    s = sub.add_parser("disable")
    s.set_defaults(fn=cmd_disable)
    s.add_argument("-f", "--force", action="store_true", help="Force the disable of an active plugin")
    s.add_argument("plugin")
    s = sub.add_parser("rm", aliases=["remove"])
    s.set_defaults(fn=cmd_rm)
    s.add_argument("-f", "--force", action="store_true", help="Force the removal of an active plugin")
    s.add_argument("plugins", nargs="+")
    s = sub.add_parser("set")
    s.set_defaults(fn=cmd_set)
    s.add_argument("plugin")
    s.add_argument("settings", nargs="+", metavar="KEY=VALUE")
