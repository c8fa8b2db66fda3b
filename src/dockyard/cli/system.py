"""System commands: version, info, inspect."""

from __future__ import annotations

import sys

from dockyard import errors
from dockyard.cli.format import print_objects
from dockyard.client.http import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from dockyard.cli.main import Command


def cmd_version(c: Client, a: argparse.Namespace) -> int:
    from dockyard import __version__
    from dockyard.client.http import API_VERSION

    if getattr(a, "format", ""):
        import platform

        from dockyard.cli.template import Row, parse, render_one

        parse(a.format, name="version")  # a template that does not parse fails before any request
        sv = c.json("GET", "/version")
        server = Row({**sv, "APIVersion": sv.get("ApiVersion"), "MinAPIVersion": sv.get("MinAPIVersion")},
                     "*types.Version")
        client = Row({"Platform": {"Name": ""}, "Version": __version__, "APIVersion": API_VERSION,
                      "DefaultAPIVersion": API_VERSION, "GitCommit": "", "GoVersion": platform.python_version(),
                      "Os": "linux", "Arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(),
                                                                                          platform.machine()),
                      "BuildTime": "", "Context": "default", "Experimental": True}, "*system.clientVersion")
        print(render_one(a.format, Row({"Client": client, "Server": server}, "system.versionInfo"), "version"))
        return 0
    print(f"Client:\n Version:           {__version__}\n API version:       {API_VERSION}\n")
    v = c.json("GET", "/version")
    print(f"Server: {v['Platform']['Name']}")
    for comp in v["Components"]:
        print(f" {comp['Name']}:\n  Version:          {comp['Version']}")
        if comp["Name"] == "Engine":
            print(f"  API version:      {v['ApiVersion']} (minimum version {v['MinAPIVersion']})")
            print(f"  OS/Arch:          {v['Os']}/{v['Arch']}")
    return 0


def cmd_info(c: Client, a: argparse.Namespace) -> int:
    if a.format:
        from dockyard.cli.template import Row, parse, render_one

        parse(a.format)
        i = c.json("GET", "/info")
        print(render_one(a.format, Row(i, "system.info")))
        return 0
    i = c.json("GET", "/info")
    print("Server:")
    for label, key in (("Containers", "Containers"), (" Running", "ContainersRunning"), (" Paused", "ContainersPaused"),
                       (" Stopped", "ContainersStopped"), ("Images", "Images"), ("Server Version", "ServerVersion"),
                       ("Storage Driver", "Driver"), ("Logging Driver", "LoggingDriver"),
                       ("Cgroup Driver", "CgroupDriver"), ("Cgroup Version", "CgroupVersion"),
                       ("Default Runtime", "DefaultRuntime"), ("Kernel Version", "KernelVersion"),
                       ("Operating System", "OperatingSystem"), ("Architecture", "Architecture"),
                       ("CPUs", "NCPU"), ("Total Memory", "MemTotal"), ("Name", "Name"), ("ID", "ID"),
                       ("Docker Root Dir", "DockerRootDir"), ("Live Restore Enabled", "LiveRestoreEnabled")):
        print(f" {label}: {i.get(key)}")
    return 0


def cmd_inspect(c: Client, a: argparse.Namespace) -> int:
    out, rc, missing = [], 0, []
    for ref in a.objects:
        try:
            if getattr(a, "type", "") == "image":
                raise errors.NotFound(ref)
            out.append(c.json("GET", f"/containers/{ref}/json"))
        except errors.NotFound:
            if getattr(a, "type", "") == "container":
                missing.append(f"Error: No such container: {ref}")
                rc = 1
                continue
            try:
                out.append(c.json("GET", f"/images/{ref}/json"))
            except errors.NotFound:
                missing.append(f"Error: No such object: {ref}")
                rc = 1
    print_objects(out, a.format)
    for line in missing:
        print(line, file=sys.stderr)
    return rc


def cmd_dial_stdio(c: Client, a: argparse.Namespace) -> int:
    """``system dial-stdio``: the remote end of ``-H ssh://``; stdin/stdout joined to this host's daemon socket."""
    from dockyard.client.ssh import dial_stdio

    if c.ssh is not None:
        raise errors.InvalidArgument("dial-stdio needs a local daemon (unix:// or tcp://), not ssh://")
    dial_stdio(c._connect())
    return 0


def register(cmd: Command) -> None:
    cmd("system-dial-stdio", cmd_dial_stdio, "Proxy the stdio stream to the daemon connection (for ssh://)")
    sp = cmd("inspect", cmd_inspect, "Return low-level information on Docker objects")
    sp.add_argument("-f", "--format", default="")
    sp.add_argument("--type", default="")
    sp.add_argument("-s", "--size", action="store_true")
    sp.add_argument("objects", nargs="+")
    sp = cmd("version", cmd_version, "Show the Dockyard version information")
    sp.add_argument("-f", "--format", default="")
    sp = cmd("info", cmd_info, "Display system-wide information")
    sp.add_argument("-f", "--format", default="")
