"""exec and the smaller container commands: rename, top, diff, export (pause, unpause, restart: manage.py)."""

from __future__ import annotations

import argparse
import sys
import threading

from dockyard.cli.format import table
from dockyard.client.http import Client, demux

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.cli.main import Command


def cmd_exec(c: Client, a: argparse.Namespace) -> int:
    env = list(a.env or [])
    body = {"Cmd": [a.command, *a.args], "AttachStdin": a.interactive, "AttachStdout": not a.detach,
            "AttachStderr": not a.detach, "Tty": a.tty, "Env": env or None, "WorkingDir": a.workdir or "",
            "User": a.user or "", "Privileged": a.privileged}
    eid = c.json("POST", f"/containers/{a.container}/exec", body=body)["Id"]
    if a.detach:
        c.request("POST", f"/exec/{eid}/start", body={"Detach": True, "Tty": a.tty}).read()
        return 0
    sock = c.hijack(f"/exec/{eid}/start", {})
    if a.interactive:
        def feed() -> None:
            import os
            import socket

            while data := os.read(0, 65536):
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)

        threading.Thread(target=feed, daemon=True).start()
    if a.tty:
        while chunk := sock.recv(65536):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
    else:
        for stream, data in demux(sock):
            out = sys.stderr.buffer if stream == 2 else sys.stdout.buffer
            out.write(data)
            out.flush()
    sock.close()
    return int(c.json("GET", f"/exec/{eid}/json").get("ExitCode") or 0)


def cmd_rename(c: Client, a: argparse.Namespace) -> int:
    c.request("POST", f"/containers/{a.container}/rename", {"name": a.new_name}).read()
    return 0


def cmd_top(c: Client, a: argparse.Namespace) -> int:
    params = {"ps_args": " ".join(a.ps_args)} if a.ps_args else None
    top = c.json("GET", f"/containers/{a.container}/top", params)
    print(table(top["Titles"], top["Processes"] or []))
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
    sp = cmd("exec", cmd_exec, "Execute a command in a running container")
    sp.add_argument("-i", "--interactive", action="store_true")
    sp.add_argument("-t", "--tty", action="store_true")
    sp.add_argument("-d", "--detach", action="store_true")
    sp.add_argument("-e", "--env", action="append")
    sp.add_argument("-w", "--workdir")
    sp.add_argument("-u", "--user")
    sp.add_argument("--privileged", action="store_true")
    sp.add_argument("container")
    sp.add_argument("command")
    sp.add_argument("args", nargs=argparse.REMAINDER)
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
