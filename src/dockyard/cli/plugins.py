"""Plugin commands: plugin ls/inspect/create/install/enable/disable/rm/set/push/upgrade, over the Engine
API's ``/plugins``."""

from __future__ import annotations

from dockyard.client import jsonlite as json
from dockyard.client.http import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from dockyard.cli.main import Command
    from dockyard.oci.reference import Reference

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


def _auth(reference: str) -> dict[str, str]:
    """``X-Registry-Auth`` for the registry a plugin reference names (stored credentials, as docker's CLI)."""
    from dockyard.cli.images import auth_header

    first, slash, _ = reference.partition("/")
    local = slash and ("." in first or ":" in first or first == "localhost")
    return auth_header(first if local else "docker.io")


def _grant(c: Client, remote: str, grant_all: bool) -> list[dict[str, Any]]:
    """The plugin's privileges, shown and confirmed as docker's CLI asks (unless --grant-all-permissions)."""
    import sys

    from dockyard import errors

    raw = c.request("GET", "/plugins/privileges", {"remote": remote}, None, _auth(remote)).read()
    privileges: list[dict[str, Any]] = json.loads(raw) if raw.strip() else []
    if grant_all or not privileges:
        return privileges
    print(f"Plugin {json.dumps(remote)} is requesting the following privileges:")
    for p in privileges:
        print(f" - {p['Name']}: [{' '.join(p.get('Value') or [])}]")
    print("Do you grant the above permissions? [y/N] ", end="", flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise errors.PermissionDenied(f"permission denied while installing plugin {remote}")
    return privileges


def cmd_install(c: Client, a: argparse.Namespace) -> int:
    import sys

    from dockyard.cli.progress import show

    name = a.alias or a.plugin
    granted = _grant(c, a.plugin, a.grant_all_permissions)
    show(c.json_stream("POST", "/plugins/pull", {"remote": a.plugin, "name": name}, json.dumps(granted).encode(),
                       {"Content-Type": "application/json", **_auth(a.plugin)}), sys.stdout)
    if a.args:
        c.request("POST", f"/plugins/{name}/set", None, a.args).read()
    if not a.disable:
        c.request("POST", f"/plugins/{name}/enable", {"timeout": 30}).read()
    print(f"Installed plugin {a.plugin}")
    return 0


def _normalized(ref: str, what: str) -> Reference:
    """``ref`` as the docker CLI compares plugin references (ParseNormalizedNamed, TagNameOnly)."""
    from dockyard import errors
    from dockyard.oci import reference

    try:
        return reference.parse(ref)
    except errors.InvalidArgument as err:
        raise errors.InvalidArgument(f"error parsing {what} image reference: {err}") from None


def cmd_upgrade(c: Client, a: argparse.Namespace) -> int:
    """docker's runUpgrade: the plugin must be disabled; a remote other than the plugin's own reference
    is confirmed first ("Plugin images do not match") unless --skip-remote-check."""
    import sys

    from dockyard import errors
    from dockyard.cli.progress import show

    p = c.json("GET", f"/plugins/{a.plugin}/json")
    if p.get("Enabled"):
        raise errors.FailedPrecondition("the plugin must be disabled before upgrading")
    remote = a.remote or p.get("PluginReference") or ""
    new_ref, old_ref = _normalized(remote, "remote upgrade"), _normalized(p.get("PluginReference") or "", "current")
    new = str(new_ref)
    print(f"Upgrading plugin {p['Name']} from {old_ref.familiar()} to {new_ref.familiar()}")
    if not a.skip_remote_check and new != str(old_ref):
        print("Plugin images do not match, are you sure? [y/N] ", end="", flush=True)
        if sys.stdin.readline().strip().lower() != "y":
            raise errors.FailedPrecondition("plugin upgrade has been cancelled")
    granted = _grant(c, remote, a.grant_all_permissions)
    show(c.json_stream("POST", f"/plugins/{p['Name']}/upgrade", {"remote": new}, json.dumps(granted).encode(),
                       {"Content-Type": "application/json", **_auth(new)}), sys.stdout)
    print(f"Upgraded plugin {p['Name']} to {remote}")
    return 0


def cmd_push(c: Client, a: argparse.Namespace) -> int:
    import sys

    from dockyard.cli.progress import show

    name = c.json("GET", f"/plugins/{a.plugin}/json")["Name"]
    show(c.json_stream("POST", f"/plugins/{a.plugin}/push", None, None, _auth(name)), sys.stdout)
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
    s = sub.add_parser("install")
    s.set_defaults(fn=cmd_install)
    s.add_argument("--alias", default="", help="Local name for plugin")
    s.add_argument("--disable", action="store_true", help="Do not enable the plugin on install")
    s.add_argument("--grant-all-permissions", action="store_true", help="Grant all permissions necessary to run "
                   "the plugin")
    s.add_argument("plugin")
    s.add_argument("args", nargs="*", metavar="KEY=VALUE")
    s = sub.add_parser("upgrade")
    s.set_defaults(fn=cmd_upgrade)
    s.add_argument("--grant-all-permissions", action="store_true", help="Grant all permissions necessary to run "
                   "the plugin")
    s.add_argument("--skip-remote-check", action="store_true", help="Do not check if specified remote plugin "
                   "matches existing plugin image")
    s.add_argument("plugin")
    s.add_argument("remote", nargs="?", default="")
    s = sub.add_parser("push")
    s.set_defaults(fn=cmd_push)
    s.add_argument("--disable-content-trust", action="store_true", help="Skip image signing (default true)")
    s.add_argument("plugin")
    s = sub.add_parser("set")
    s.set_defaults(fn=cmd_set)
    s.add_argument("plugin")
    s.add_argument("settings", nargs="+", metavar="KEY=VALUE")
