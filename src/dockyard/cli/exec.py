"""exec and the smaller container commands: rename, top, diff, export (pause, unpause, restart: manage.py)."""

from __future__ import annotations

import argparse
import json
import sys

from dockyard import errors
from dockyard.cli.format import tabwrite
from dockyard.client.http import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.main import Command


def cmd_exec(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli import tty as term

    keys = term.detach_keys(a.detach_keys)
    env = [item for path in a.env_file for item in path] + list(a.env or [])
    body: dict[str, Any] = {
        "Cmd": [a.command, *a.args], "AttachStdin": a.interactive and not a.detach, "AttachStdout": not a.detach,
        "AttachStderr": not a.detach, "Tty": a.tty, "Env": env or None, "WorkingDir": a.workdir or "",
        "User": a.user or "", "Privileged": a.privileged, "DetachKeys": a.detach_keys or None}
    size = term.terminal_size() if a.tty else None
    if size is not None:
        body["ConsoleSize"] = list(size)
    eid = c.json("POST", f"/containers/{a.container}/exec", body=body)["Id"]
    if a.detach:
        c.request("POST", f"/exec/{eid}/start", body={"Detach": True, "Tty": a.tty}).read()
        return 0
    sock = c.hijack(f"/exec/{eid}/start", {})
    session = term.Session(sock, a.tty, a.interactive, keys,
                           lambda h, w: c.request("POST", f"/exec/{eid}/resize", {"h": h, "w": w}).read())
    try:
        with session:
            if a.tty:
                session.follow_size()
            session.run()
    except term.Detached:
        return 0
    finally:
        sock.close()
    return int(c.json("GET", f"/exec/{eid}/json").get("ExitCode") or 0)


def cmd_attach(c: Client, a: argparse.Namespace) -> int:
    """``attach``: this terminal joined to a running container's streams (as ``start -a -i``)."""
    from dockyard.cli import tty as term

    info = c.json("GET", f"/containers/{a.container}/json")
    if not info["State"].get("Running"):
        raise errors.FailedPrecondition("You cannot attach to a stopped container, start it first")
    tty = bool(info["Config"].get("Tty"))
    stdin = not a.no_stdin and bool(info["Config"].get("OpenStdin"))
    keys = term.detach_keys(a.detach_keys)
    sock = c.hijack(f"/containers/{a.container}/attach", {"stream": 1, "stdin": stdin, "stdout": 1, "stderr": 1,
                                                           "detachKeys": a.detach_keys or None})
    wait = c.request("POST", f"/containers/{a.container}/wait", {"condition": "next-exit"})
    session = term.Session(sock, tty, stdin, keys,
                           lambda h, w: c.request("POST", f"/containers/{a.container}/resize", {"h": h, "w": w}).read())
    proxy = term.SignalProxy(lambda sig: c.request("POST", f"/containers/{a.container}/kill", {"signal": sig}).read()) \
        if a.sig_proxy == "true" and not tty else None
    try:
        with session:
            if tty:
                session.follow_size()
            if proxy is not None:
                with proxy:
                    session.run()
            else:
                session.run()
    except term.Detached:
        return 0
    finally:
        sock.close()
    return int(json.loads(wait.read() or b"{}").get("StatusCode", 0))


def cmd_rename(c: Client, a: argparse.Namespace) -> int:
    c.request("POST", f"/containers/{a.container}/rename", {"name": a.new_name}).read()
    return 0


def cmd_top(c: Client, a: argparse.Namespace) -> int:
    params = {"ps_args": " ".join(a.ps_args)} if a.ps_args else None
    top = c.json("GET", f"/containers/{a.container}/top", params)
    lines = [top["Titles"], *(top["Processes"] or [])]
    print(tabwrite("\n".join("\t".join(row) for row in lines), min_width=20))  # docker top's tabwriter
    return 0


def cmd_diff(c: Client, a: argparse.Namespace) -> int:
    for ch in c.json("GET", f"/containers/{a.container}/changes") or []:
        print(f"{'CAD'[ch['Kind']]} {ch['Path']}")
    return 0


def cmd_export(c: Client, a: argparse.Namespace) -> int:
    resp = c.request("GET", f"/containers/{a.container}/export")
    out = open(a.output, "wb") if a.output else sys.stdout.buffer
    try:
        while chunk := resp.read(1 << 20):
            out.write(chunk)
    finally:
        if a.output:
            out.close()
    return 0


def register(cmd: Command) -> None:
    from dockyard.cli import flags as t

    sp = cmd("exec", cmd_exec, "Run a command in a running container", usage="[OPTIONS] CONTAINER COMMAND [ARG...]")
    sp.add_argument("-d", "--detach", action="store_true", help="Detached mode: run command in the background")
    sp.add_argument("--detach-keys", default="", help="Override the key sequence for detaching a container")
    sp.add_argument("-e", "--env", action="append", default=[], metavar="list", help="Set environment variables")
    sp.add_argument("--env-file", action="append", type=t.key_values, default=[], metavar="list",
                    help="Read in a file of environment variables")
    sp.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    sp.add_argument("--privileged", action="store_true", help="Give extended privileges to the command")
    sp.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    sp.add_argument("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
    sp.add_argument("-w", "--workdir", help="Working directory inside the container")
    sp.add_argument("container")
    sp.add_argument("command")
    sp.add_argument("args", nargs=argparse.REMAINDER)
    sp = cmd("attach", cmd_attach, "Attach local standard input, output, and error streams to a running container",
             usage="[OPTIONS] CONTAINER")
    sp.add_argument("--detach-keys", default="", help="Override the key sequence for detaching a container")
    sp.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    sp.add_argument("--sig-proxy", default="true", choices=("true", "false"), metavar="bool",
                    help="Proxy all received signals to the process (default true)")
    sp.add_argument("container")
    sp = cmd("rename", cmd_rename, "Rename a container")
    sp.add_argument("container")
    sp.add_argument("new_name")
    sp = cmd("top", cmd_top, "Display the running processes of a container")
    sp.add_argument("container")
    sp.add_argument("ps_args", nargs=argparse.REMAINDER)
    sp = cmd("diff", cmd_diff, "Inspect changes to files or directories on a container's filesystem")
    sp.add_argument("container")
    sp = cmd("export", cmd_export, "Export a container's filesystem as a tar archive")
    sp.add_argument("-o", "--output")
    sp.add_argument("container")
