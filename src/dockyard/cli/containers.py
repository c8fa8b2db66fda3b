"""Container commands: run, create, start, stop, kill, rm, wait, ps, logs."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from dockyard import errors
from dockyard.cli.format import ago, short_id, table, timestamp
from dockyard.client.http import Client, demux

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.main import Command


def _parse_memory(value: str) -> int:
    units = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    v = value.strip().lower()
    if v and v[-1] in units:
        return int(float(v[:-1]) * units[v[-1]])
    return int(v)


def _env(items: list[str]) -> list[str]:
    """``-e VAR`` without ``=`` takes VAR from this environment, and is dropped if it is not set there."""
    out = []
    for item in items:
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


def _duration_ns(value: str) -> int:
    """Go durations as docker takes them: ``1s``, ``500ms``, ``1m30s``."""
    import re

    units = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise errors.InvalidArgument(f"invalid duration {value!r}")
    return int(sum(float(n) * units[u] for n, u in parts))


def _healthcheck(a: argparse.Namespace) -> dict[str, Any] | None:
    if a.no_healthcheck:
        return {"Test": ["NONE"]}
    fields: dict[str, Any] = {}
    if a.health_cmd:
        fields["Test"] = ["CMD-SHELL", a.health_cmd]
    for flag, key in (("health_interval", "Interval"), ("health_timeout", "Timeout"),
                      ("health_start_period", "StartPeriod")):
        if getattr(a, flag):
            fields[key] = _duration_ns(getattr(a, flag))
    if a.health_retries:
        fields["Retries"] = a.health_retries
    return fields or None


def _container_body(a: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    config: dict[str, Any] = {
        "Image": a.image, "Tty": a.tty, "OpenStdin": a.interactive, "AttachStdin": a.interactive,
        "StdinOnce": a.interactive and not a.detach,  # as docker: the attached client's EOF closes stdin
        "AttachStdout": not a.detach, "AttachStderr": not a.detach, "Env": _env(a.env), "Labels": dict(
            (item.split("=", 1) + [""])[:2] for item in a.label),
    }
    if a.command:
        config["Cmd"] = a.command
    if a.entrypoint is not None:
        config["Entrypoint"] = [a.entrypoint] if a.entrypoint else []
    if a.workdir:
        config["WorkingDir"] = a.workdir
    if a.user:
        config["User"] = a.user
    if a.hostname:
        config["Hostname"] = a.hostname
    host: dict[str, Any] = {"AutoRemove": getattr(a, "rm", False), "ReadonlyRootfs": a.read_only,
                            "CapAdd": a.cap_add or None, "CapDrop": a.cap_drop or None,
                            "NetworkMode": a.network or "default"}
    if a.memory:
        host["Memory"] = _parse_memory(a.memory)
    if a.cpus:
        host["NanoCpus"] = int(float(a.cpus) * 1e9)
    if a.pids_limit:
        host["PidsLimit"] = a.pids_limit
    if a.restart:
        name, _, count = a.restart.partition(":")
        host["RestartPolicy"] = {"Name": name, "MaximumRetryCount": int(count or 0)}
    health = _healthcheck(a)
    if health is not None:
        config["Healthcheck"] = health
    if a.log_driver or a.log_opt:
        host["LogConfig"] = {"Type": a.log_driver, "Config": dict((o.split("=", 1) + [""])[:2] for o in a.log_opt)}
    from dockyard.cli import netvol_flags  # issue 6: ports, volumes, mounts, DNS, aliases

    netvol_flags.apply(a, config, host)
    return config, host


def _add_container_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-l", "--label", action="append", default=[])
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("-u", "--user", default="")
    p.add_argument("-h", "--hostname", default="")
    p.add_argument("--entrypoint", default=None)
    p.add_argument("-m", "--memory", default="")
    p.add_argument("--cpus", default="")
    p.add_argument("--pids-limit", type=int, default=0)
    p.add_argument("--read-only", action="store_true")
    p.add_argument("--cap-add", action="append", default=[])
    p.add_argument("--cap-drop", action="append", default=[])
    p.add_argument("--network", "--net", default="")
    p.add_argument("--pull", default="missing", choices=["always", "missing", "never"])
    p.add_argument("--restart", default="", help="no, always, unless-stopped, on-failure[:N]")
    p.add_argument("--health-cmd", default="")
    p.add_argument("--health-interval", default="")
    p.add_argument("--health-timeout", default="")
    p.add_argument("--health-start-period", default="")
    p.add_argument("--health-retries", type=int, default=0)
    p.add_argument("--log-driver", default="", help="json-file (default), local or none")
    p.add_argument("--log-opt", action="append", default=[], help="driver option, e.g. max-size=10m")
    p.add_argument("--no-healthcheck", action="store_true")
    from dockyard.cli import netvol_flags  # issue 6

    netvol_flags.add_flags(p)
    p.add_argument("image")
    p.add_argument("command", nargs=argparse.REMAINDER)


def _stream_output(sock: Any, tty: bool) -> None:
    out, err = sys.stdout.buffer, sys.stderr.buffer
    if tty:
        while chunk := sock.recv(65536):
            out.write(chunk)
            out.flush()
        return
    for stream, data in demux(sock):
        target = err if stream == 2 else out
        target.write(data)
        target.flush()


def start_failure_code(message: str) -> int:
    """Docker's exit codes for a container that could not start: 127 not found, 126 not executable."""
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message:
        return 126
    return 125


def _feed_stdin(sock: Any) -> None:
    """Copy our stdin into the attached connection, then half-close it: the output keeps coming."""
    import socket
    import threading

    def feed() -> None:
        try:
            while data := os.read(0, 65536):
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the container is gone and so is the connection

    threading.Thread(target=feed, daemon=True).start()


def cmd_run(c: Client, a: argparse.Namespace) -> int:
    config, host = _container_body(a)
    created = c.json("POST", "/containers/create", {"name": a.name or None}, {**config, "HostConfig": host})
    id = created["Id"]
    if a.detach:
        c.request("POST", f"/containers/{id}/start").read()
        print(id)
        return 0
    sock = c.hijack(f"/containers/{id}/attach", {"stream": 1, "stdin": a.interactive, "stdout": 1, "stderr": 1})
    wait = c.request("POST", f"/containers/{id}/wait", {"condition": "removed" if a.rm else "next-exit"})
    try:
        c.request("POST", f"/containers/{id}/start").read()
    except errors.DockyardError as err:
        sock.close()
        if a.rm:
            try:
                c.request("DELETE", f"/containers/{id}", {"force": 1}).read()
            except errors.DockyardError:
                pass
        print(f"Error response from daemon: {err}", file=sys.stderr)
        return start_failure_code(str(err))
    if a.interactive:
        _feed_stdin(sock)
    try:
        _stream_output(sock, a.tty)
    finally:
        sock.close()
    result = json.loads(wait.read() or b"{}")
    if result.get("Error") and result["Error"].get("Message"):
        print(f"dockyard: {result['Error']['Message']}", file=sys.stderr)
    return int(result.get("StatusCode", 125))


def cmd_create(c: Client, a: argparse.Namespace) -> int:
    config, host = _container_body(a)
    print(c.json("POST", "/containers/create", {"name": a.name or None}, {**config, "HostConfig": host})["Id"])
    return 0


def cmd_start(c: Client, a: argparse.Namespace) -> int:
    for ref in a.containers:
        if a.attach:
            sock = c.hijack(f"/containers/{ref}/attach", {"stream": 1, "stdout": 1, "stderr": 1})
            wait = c.request("POST", f"/containers/{ref}/wait", {"condition": "next-exit"})
            c.request("POST", f"/containers/{ref}/start").read()
            _stream_output(sock, False)
            return int(json.loads(wait.read() or b"{}").get("StatusCode", 125))
        c.request("POST", f"/containers/{ref}/start").read()
        print(ref)
    return 0


def _each(c: Client, refs: list[str], fn: Any) -> int:
    rc = 0
    for ref in refs:
        try:
            fn(ref)
            print(ref)
        except errors.DockyardError as err:
            print(f"Error response from daemon: {err}", file=sys.stderr)
            rc = 1
    return rc


def cmd_stop(c: Client, a: argparse.Namespace) -> int:
    params = {"t": a.time} if a.time is not None else {}
    return _each(c, a.containers, lambda r: c.request("POST", f"/containers/{r}/stop", params).read())


def cmd_kill(c: Client, a: argparse.Namespace) -> int:
    return _each(c, a.containers, lambda r: c.request("POST", f"/containers/{r}/kill", {"signal": a.signal}).read())


def cmd_rm(c: Client, a: argparse.Namespace) -> int:
    return _each(c, a.containers, lambda r: c.request("DELETE", f"/containers/{r}", {"force": a.force}).read())


def cmd_wait(c: Client, a: argparse.Namespace) -> int:
    rc = 0
    for ref in a.containers:
        result = c.json("POST", f"/containers/{ref}/wait")
        print(result["StatusCode"])
        rc = rc or 0
    return rc


def _ps_row(r: dict[str, Any], no_trunc: bool) -> dict[str, Any]:
    """One ``docker ps --format`` row: Docker's field names, already as text."""
    ports = ", ".join(
        (f'{p["IP"]}:{p["PublicPort"]}->' if p.get("PublicPort") else "") + f'{p["PrivatePort"]}/{p["Type"]}'
        for p in r.get("Ports") or [])
    labels = r.get("Labels") or {}
    cmd = r.get("Command", "")
    return {"ID": r["Id"] if no_trunc else short_id(r["Id"]), "Image": r["Image"],
            "Command": f'"{cmd}"', "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(r["Created"])),
            "RunningFor": ago(r["Created"]), "Ports": ports, "State": r.get("State", ""), "Status": r["Status"],
            "Size": "", "Names": ",".join(n.lstrip("/") for n in r["Names"]),
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())), "Mounts": "",
            "Networks": ",".join(sorted(((r.get("NetworkSettings") or {}).get("Networks") or {}).keys()))}


def cmd_ps(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import filters

    flt = filters(a.filter)
    params: dict[str, Any] = {"all": a.all or bool(flt.get("status")) or bool(flt.get("exited")) or a.last > 0}
    if flt:
        params["filters"] = json.dumps(flt)
    if a.last > 0 or a.latest:
        params["limit"] = 1 if a.latest else a.last
    rows = c.json("GET", "/containers/json", params)
    if a.format and not a.quiet:
        from dockyard.cli.template import print_rows

        objs = [_ps_row(r, a.no_trunc) for r in rows]
        print_rows("{{json .}}" if a.format == "json" else a.format, objs)
        return 0
    if a.quiet:
        for r in rows:
            print(short_id(r["Id"]) if not a.no_trunc else r["Id"])
        return 0
    out = []
    for r in rows:
        cmd = r["Command"] if a.no_trunc or len(r["Command"]) <= 20 else r["Command"][:19] + "…"
        out.append([short_id(r["Id"]), r["Image"], f'"{cmd}"', ago(r["Created"]), r["Status"], "",
                    ",".join(n.lstrip("/") for n in r["Names"])])
    print(table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], out))
    return 0


def cmd_logs(c: Client, a: argparse.Namespace) -> int:
    info = c.json("GET", f"/containers/{a.container}/json")
    resp = c.request("GET", f"/containers/{a.container}/logs",
                     {"stdout": 1, "stderr": 1, "follow": a.follow, "tail": a.tail, "timestamps": a.timestamps,
                      "since": timestamp(a.since), "until": timestamp(a.until)})
    if info["Config"].get("Tty"):
        while chunk := resp.read(65536):
            sys.stdout.buffer.write(chunk)
        return 0
    buf = bytearray()
    pos = 0
    while chunk := resp.read1(1 << 20):  # frames parsed as they come: memory and time stay linear
        buf += chunk
        while len(buf) - pos >= 8:
            size = int.from_bytes(buf[pos + 4:pos + 8], "big")
            if len(buf) - pos < 8 + size:
                break
            (sys.stderr.buffer if buf[pos] == 2 else sys.stdout.buffer).write(buf[pos + 8:pos + 8 + size])
            pos += 8 + size
        del buf[:pos]
        pos = 0
    return 0


def register(cmd: Command) -> None:
    sp = cmd("run", cmd_run, "Create and run a new container from an image")
    sp.add_argument("-d", "--detach", action="store_true")
    sp.add_argument("--rm", action="store_true")
    _add_container_flags(sp)
    sp = cmd("create", cmd_create, "Create a new container")
    sp.set_defaults(detach=True)
    _add_container_flags(sp)
    sp = cmd("start", cmd_start, "Start one or more stopped containers")
    sp.add_argument("-a", "--attach", action="store_true")
    sp.add_argument("containers", nargs="+")
    sp = cmd("stop", cmd_stop, "Stop one or more running containers")
    sp.add_argument("-t", "--time", "--timeout", type=int, default=None)
    sp.add_argument("containers", nargs="+")
    sp = cmd("kill", cmd_kill, "Kill one or more running containers")
    sp.add_argument("-s", "--signal", default="KILL")
    sp.add_argument("containers", nargs="+")
    sp = cmd("rm", cmd_rm, "Remove one or more containers")
    sp.add_argument("-f", "--force", action="store_true")
    sp.add_argument("-v", "--volumes", action="store_true")
    sp.add_argument("containers", nargs="+")
    sp = cmd("wait", cmd_wait, "Block until containers stop, then print their exit codes")
    sp.add_argument("containers", nargs="+")
    sp = cmd("ps", cmd_ps, "List containers")
    sp.add_argument("-a", "--all", action="store_true")
    sp.add_argument("-q", "--quiet", action="store_true")
    sp.add_argument("--no-trunc", action="store_true")
    sp.add_argument("-f", "--filter", action="append", default=[])
    sp.add_argument("--format", default="")
    sp.add_argument("-n", "--last", type=int, default=-1)
    sp.add_argument("-l", "--latest", action="store_true")
    sp.add_argument("-s", "--size", action="store_true")
    sp = cmd("logs", cmd_logs, "Fetch the logs of a container")
    sp.add_argument("-f", "--follow", action="store_true")
    sp.add_argument("-n", "--tail", default="all")
    sp.add_argument("-t", "--timestamps", action="store_true")
    sp.add_argument("--since", default="")
    sp.add_argument("--until", default="")
    sp.add_argument("--details", action="store_true")
    sp.add_argument("container")
