"""Container commands: run, create, start, stop, kill, rm, wait, ps, logs."""

from __future__ import annotations

import os
import sys

from dockyard import errors
from dockyard.cli.format import short_id, timestamp
from dockyard.client import jsonlite as json
from dockyard.client.http import Client, exists

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from dockyard.cli.main import Command


def _env(items: list[str]) -> list[str]:
    """``-e VAR`` without ``=`` takes VAR from this environment, and is dropped if it is not set there."""
    out = []
    for item in items:
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


def _kv(items: list[str]) -> dict[str, str]:
    return dict((item.split("=", 1) + [""])[:2] for item in items)


def _healthcheck(a: argparse.Namespace) -> dict[str, Any] | None:
    if a.no_healthcheck:
        return {"Test": ["NONE"]}
    fields: dict[str, Any] = {}
    if a.health_cmd:
        fields["Test"] = ["CMD-SHELL", a.health_cmd]
    for flag, key in (("health_interval", "Interval"), ("health_timeout", "Timeout"),
                      ("health_start_period", "StartPeriod")):
        if getattr(a, flag):
            fields[key] = getattr(a, flag)
    if a.health_retries:
        fields["Retries"] = a.health_retries
    return fields or None


def _attach_streams(a: argparse.Namespace) -> tuple[bool, bool, bool]:
    """(stdin, stdout, stderr) attached: ``-a`` picks them, ``-d`` none, else stdout+stderr (+stdin with -i)."""
    if a.detach:
        return False, False, False
    if a.attach:
        chosen = {s.lower() for s in a.attach}
        for s in chosen - {"stdin", "stdout", "stderr"}:
            raise errors.InvalidArgument(f"invalid argument {s!r} for -a: STDIN, STDOUT or STDERR")
        return "stdin" in chosen or a.interactive, "stdout" in chosen, "stderr" in chosen
    return a.interactive, True, True


# Flags copied as they are: (namespace attribute, Config or HostConfig, API field).
_PLAIN = (
    ("workdir", "Config", "WorkingDir"), ("user", "Config", "User"), ("hostname", "Config", "Hostname"),
    ("domainname", "Config", "Domainname"), ("mac_address", "Config", "MacAddress"),
    ("stop_signal", "Config", "StopSignal"), ("stop_timeout", "Config", "StopTimeout"),
    ("memory", "HostConfig", "Memory"), ("memory_reservation", "HostConfig", "MemoryReservation"),
    ("memory_swap", "HostConfig", "MemorySwap"), ("cpus", "HostConfig", "NanoCpus"),
    ("cpu_shares", "HostConfig", "CpuShares"), ("cpu_period", "HostConfig", "CpuPeriod"),
    ("cpu_quota", "HostConfig", "CpuQuota"), ("cpuset_cpus", "HostConfig", "CpusetCpus"),
    ("cpuset_mems", "HostConfig", "CpusetMems"), ("blkio_weight", "HostConfig", "BlkioWeight"),
    ("pids_limit", "HostConfig", "PidsLimit"), ("shm_size", "HostConfig", "ShmSize"),
    ("oom_score_adj", "HostConfig", "OomScoreAdj"), ("cgroup_parent", "HostConfig", "CgroupParent"),
    ("cgroupns", "HostConfig", "CgroupnsMode"), ("ipc", "HostConfig", "IpcMode"), ("pid", "HostConfig", "PidMode"),
    ("uts", "HostConfig", "UTSMode"), ("userns", "HostConfig", "UsernsMode"), ("runtime", "HostConfig", "Runtime"),
    ("isolation", "HostConfig", "Isolation"), ("volume_driver", "HostConfig", "VolumeDriver"),
    ("cidfile", "HostConfig", "ContainerIDFile"),
)
_LISTS = (
    ("security_opt", "SecurityOpt"), ("group_add", "GroupAdd"),
    ("device", "Devices"), ("ulimit", "Ulimits"), ("link", "Links"),
)


def _container_body(a: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    stdin, stdout, stderr = _attach_streams(a)
    env = [item for path in a.env_file for item in path] + _env(a.env)
    labels = _kv([item for path in a.label_file for item in path] + a.label)
    config: dict[str, Any] = {
        "Image": a.image, "Tty": a.tty, "OpenStdin": a.interactive, "AttachStdin": stdin,
        "StdinOnce": a.interactive and not a.detach,  # as docker: the attached client's EOF closes stdin
        "AttachStdout": stdout, "AttachStderr": stderr, "Env": env, "Labels": labels,
    }
    if a.command:
        config["Cmd"] = a.command
    if a.entrypoint is not None:
        config["Entrypoint"] = [a.entrypoint] if a.entrypoint else []
    host: dict[str, Any] = {"AutoRemove": getattr(a, "rm", False), "ReadonlyRootfs": a.read_only,
                            "NetworkMode": a.network or "default"}
    parts = {"Config": config, "HostConfig": host}
    for attr, part, field in _PLAIN:
        value = getattr(a, attr)
        if value not in (None, ""):
            parts[part][field] = value
    host["CapAdd"], host["CapDrop"] = a.cap_add or None, a.cap_drop or None
    for attr, field in _LISTS:
        if getattr(a, attr):
            host[field] = getattr(a, attr)
    if a.memory_swappiness is not None:
        host["MemorySwappiness"] = a.memory_swappiness
    if a.privileged:
        host["Privileged"] = True
    if a.init:
        host["Init"] = True
    if a.oom_kill_disable:
        host["OomKillDisable"] = True
    if a.sysctl:
        host["Sysctls"] = _kv(a.sysctl)
    if a.storage_opt:
        host["StorageOpt"] = _kv(a.storage_opt)
    if a.restart:
        host["RestartPolicy"] = a.restart
    health = _healthcheck(a)
    if health is not None:
        config["Healthcheck"] = health
    if a.log_driver or a.log_opt:
        host["LogConfig"] = {"Type": a.log_driver, "Config": _kv(a.log_opt)}
    if a.tty and a.interactive:
        from dockyard.cli.tty import terminal_size

        size = terminal_size()
        if size is not None:
            host["ConsoleSize"] = list(size)
    from dockyard.cli import netvol_flags  # ports, volumes, mounts, DNS, aliases

    netvol_flags.apply(a, config, host)
    return config, host


def _unused(p: Any) -> bool:
    """A command this run does not build (``cli.main._Unused``)."""
    from dockyard.cli.main import _Unused

    return isinstance(p, _Unused)


def _add_container_flags(p: argparse.ArgumentParser) -> None:
    if _unused(p):
        return
    from dockyard.cli import flags as t

    add = p.add_argument
    add("--add-host", action="append", default=[], metavar="list", help="Add a custom host-to-IP mapping (host:ip)")
    add("-a", "--attach", action="append", default=[], metavar="list", help="Attach to STDIN, STDOUT or STDERR")
    add("--blkio-weight", type=t.uint16, default=None, metavar="uint16",
        help="Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
    add("--cap-add", action="append", default=[], metavar="list", help="Add Linux capabilities")
    add("--cap-drop", action="append", default=[], metavar="list", help="Drop Linux capabilities")
    add("--cgroup-parent", default="", help="Optional parent cgroup for the container")
    add("--cgroupns", default="", help='Cgroup namespace to use (host|private)')
    add("--cidfile", default="", help="Write the container ID to the file")
    add("--cpu-period", type=t.integer, default=None, metavar="int", help="Limit CPU CFS (Completely Fair Scheduler) period")
    add("--cpu-quota", type=t.integer, default=None, metavar="int", help="Limit CPU CFS (Completely Fair Scheduler) quota")
    add("-c", "--cpu-shares", type=t.integer, default=None, metavar="int", help="CPU shares (relative weight)")
    add("--cpus", type=t.cpus, default=None, metavar="decimal", help="Number of CPUs")
    add("--cpuset-cpus", default="", help="CPUs in which to allow execution (0-3, 0,1)")
    add("--cpuset-mems", default="", help="MEMs in which to allow execution (0-3, 0,1)")
    add("--detach-keys", default="", help="Override the key sequence for detaching a container")
    add("--device", action="append", type=t.device, default=[], metavar="list",
        help="Add a host device to the container")
    add("--domainname", default="", help="Container NIS domain name")
    add("--entrypoint", default=None, help="Overwrite the default ENTRYPOINT of the image")
    add("-e", "--env", action="append", default=[], metavar="list", help="Set environment variables")
    add("--env-file", action="append", type=t.key_values, default=[], metavar="list",
        help="Read in a file of environment variables")
    add("--group-add", action="append", default=[], metavar="list", help="Add additional groups to join")
    add("--health-cmd", default="", help="Command to run to check health")
    add("--health-interval", type=t.duration_ns, default=0, metavar="duration",
        help="Time between running the check (ms|s|m|h) (default 0s)")
    add("--health-retries", type=t.integer, default=0, metavar="int",
        help="Consecutive failures needed to report unhealthy")
    add("--health-start-period", type=t.duration_ns, default=0, metavar="duration",
        help="Start period for the container to initialize before starting health-retries countdown "
             "(ms|s|m|h) (default 0s)")
    add("--health-timeout", type=t.duration_ns, default=0, metavar="duration",
        help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
    add("-h", "--hostname", default="", help="Container host name")
    add("--init", action="store_true", help="Run an init inside the container that forwards signals and reaps processes")
    add("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    add("--ipc", default="", help="IPC mode to use")
    add("--isolation", default="", help="Container isolation technology")
    add("-l", "--label", action="append", default=[], metavar="list", help="Set meta data on a container")
    add("--label-file", action="append", type=t.key_values, default=[], metavar="list",
        help="Read in a line delimited file of labels")
    add("--link", action="append", default=[], metavar="list", help="Add link to another container")
    add("--log-driver", default="", help="Logging driver for the container")
    add("--log-opt", action="append", default=[], metavar="list", help="Log driver options")
    add("--mac-address", default="", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)")
    add("-m", "--memory", type=t.ram_bytes, default=None, metavar="bytes", help="Memory limit")
    add("--memory-reservation", type=t.ram_bytes, default=None, metavar="bytes", help="Memory soft limit")
    add("--memory-swap", type=t.swap_bytes, default=None, metavar="bytes",
        help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    add("--memory-swappiness", type=t.integer, default=None, metavar="int",
        help="Tune container memory swappiness (0 to 100) (default -1)")
    add("--name", default="", help="Assign a name to the container")
    add("--network", "--net", default="", metavar="network", help="Connect a container to a network")
    add("--no-healthcheck", action="store_true", help="Disable any container-specified HEALTHCHECK")
    add("--oom-kill-disable", action="store_true", help="Disable OOM Killer")
    add("--oom-score-adj", type=t.integer, default=None, metavar="int",
        help="Tune host's OOM preferences (-1000 to 1000)")
    add("--pid", default="", help="PID namespace to use")
    add("--pids-limit", type=t.integer, default=None, metavar="int",
        help="Tune container pids limit (set -1 for unlimited)")
    add("--platform", default="", help="Set platform if server is multi-platform capable")
    add("--privileged", action="store_true", help="Give extended privileges to this container")
    add("--pull", type=t.pull_policy, default="missing", metavar="string",
        help='Pull image before running ("always"|"missing"|"never")')
    add("--read-only", action="store_true", help="Mount the container's root filesystem as read only")
    add("--restart", type=t.restart_policy, default=None, metavar="string",
        help='Restart policy to apply when a container exits (default "no")')
    add("--runtime", default="", help="Runtime to use for this container")
    add("--security-opt", action="append", default=[], metavar="list", help="Security Options")
    add("--shm-size", type=t.ram_bytes, default=None, metavar="bytes", help="Size of /dev/shm")
    add("--sig-proxy", default="true", choices=("true", "false"), metavar="bool",
        help="Proxy received signals to the process (default true)")
    add("--stop-signal", default="", help='Signal to stop a container (default "SIGTERM")')
    add("--stop-timeout", type=t.integer, default=None, metavar="int", help="Timeout (in seconds) to stop a container")
    add("--storage-opt", action="append", default=[], metavar="list", help="Storage driver options for the container")
    add("--sysctl", action="append", default=[], metavar="map", help="Sysctl options (default map[])")
    add("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    add("--ulimit", action="append", type=t.ulimit, default=[], metavar="ulimit", help="Ulimit options (default [])")
    add("-u", "--user", default="", help="Username or UID (format: <name|uid>[:<group|gid>])")
    add("--userns", default="", help="User namespace to use")
    add("--uts", default="", help="UTS namespace to use")
    add("--volume-driver", default="", help="Optional volume driver for the container")
    add("-w", "--workdir", default="", help="Working directory inside the container")
    from dockyard.cli import netvol_flags

    netvol_flags.add_flags(p)
    p.add_argument("image")
    import argparse

    p.add_argument("command", nargs=argparse.REMAINDER)


def start_failure_code(c: Client, id: str, wait: Any, removed: bool) -> int:
    """Docker's exit code for a container that could not start: 127 (its program not found) or 126 (not
    executable) as the daemon recorded it from the error's kind, else 125; read from the wait once an
    ``--rm`` container is gone, from its state otherwise. Never from the message's words."""
    try:
        if removed:
            code = int(json.loads(wait.read() or b"{}").get("StatusCode", 0))
        else:
            code = int(c.json("GET", f"/containers/{id}/json")["State"]["ExitCode"])
    except (errors.DockyardError, ValueError, KeyError, TypeError):
        return 125
    return code if code in (126, 127) else 125


def create(c: Client, a: argparse.Namespace) -> str:
    """POST /containers/create, pulling the image first as docker does (``--pull``): a missing
    image is pulled after ``Unable to find image 'x:latest' locally`` on stderr."""
    from dockyard.cli.errors import StatusError
    from dockyard.cli.images import pull, tagged
    from dockyard.client.errors import DaemonNotFound

    config, host = _container_body(a)
    params = {"name": a.name or None, "platform": a.platform or None}
    body = {**config, "HostConfig": host}
    if a.cidfile and os.path.exists(a.cidfile):
        raise errors.InvalidArgument(f"container ID file found, make sure the other container isn't running or "
                                     f"delete {a.cidfile}")
    if a.pull == "always":
        pull(c, a.image, a.platform, sys.stderr)
    try:
        created = c.json("POST", "/containers/create", params, body)
    except DaemonNotFound:
        if a.pull != "missing" or exists(c, f"/images/{a.image}/json"):  # the 404 was not the image's
            raise
        print(f"Unable to find image '{tagged(a.image)}' locally", file=sys.stderr)
        try:
            pull(c, a.image, a.platform, sys.stderr)
        except StatusError as pulled:  # docker: the pull's error, as the daemon's, exit 125
            command = getattr(a, "subcommand", "") or "run"
            raise StatusError(f"dockyard: Error response from daemon: {str(pulled).rstrip('.')}.\n"
                              f"See 'dockyard {command} --help'.", 125) from None
        created = c.json("POST", "/containers/create", params, body)
    for warning in created.get("Warnings") or []:
        print(f"WARNING: {warning}", file=sys.stderr)
    if a.cidfile:
        with open(a.cidfile, "x") as f:
            f.write(created["Id"])
    return str(created["Id"])


def cmd_run(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli import tty as term

    try:
        keys = term.detach_keys(a.detach_keys)
    except ValueError as err:
        raise errors.InvalidArgument(str(err)) from None
    id = create(c, a)
    if a.detach:
        c.request("POST", f"/containers/{id}/start").read()
        print(id)
        return 0
    stdin, stdout, stderr = _attach_streams(a)
    sock = c.hijack(f"/containers/{id}/attach", {"stream": 1, "stdin": stdin, "stdout": stdout, "stderr": stderr,
                                                   "detachKeys": a.detach_keys or None})
    wait = c.request("POST", f"/containers/{id}/wait", {"condition": "removed" if a.rm else "next-exit"})
    try:
        c.request("POST", f"/containers/{id}/start").read()
    except errors.DockyardError as err:
        sock.close()
        if a.rm:
            try:
                c.request("DELETE", f"/containers/{id}", {"force": 1}).read()
            except errors.DockyardError:
                pass  # --rm may have removed it already
        print(f"dockyard: Error response from daemon: {err}", file=sys.stderr)
        return start_failure_code(c, id, wait, a.rm)
    session = term.Session(sock, a.tty, stdin, keys,
                           lambda h, w: c.request("POST", f"/containers/{id}/resize", {"h": h, "w": w}).read())
    proxy = term.SignalProxy(lambda sig: c.request("POST", f"/containers/{id}/kill", {"signal": sig}).read()) \
        if a.sig_proxy == "true" and not a.tty else None
    try:
        with session:
            if a.tty:
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
    result = json.loads(wait.read() or b"{}")
    if result.get("Error") and result["Error"].get("Message"):
        print(f"dockyard: {result['Error']['Message']}", file=sys.stderr)
    return int(result.get("StatusCode", 125))


def cmd_create(c: Client, a: argparse.Namespace) -> int:
    print(create(c, a))
    return 0


def cmd_start(c: Client, a: argparse.Namespace) -> int:
    if a.attach or a.interactive:
        if len(a.containers) > 1:
            raise errors.InvalidArgument("you cannot start and attach multiple containers at once")
        return _start_attached(c, a.containers[0], a.interactive, a.detach_keys)
    failed = []
    for ref in a.containers:
        try:
            c.request("POST", f"/containers/{ref}/start").read()
            print(ref)
        except errors.DockyardError as err:
            print(f"Error response from daemon: {err}", file=sys.stderr)
            failed.append(ref)
    if failed:
        print(f"Error: failed to start containers: {', '.join(failed)}", file=sys.stderr)
        return 1
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
    from dockyard.cli.format import remove_all

    return remove_all(c, a.containers, "/containers/{}", "container", {"force": a.force, "v": a.volumes or None,
                                                                       "link": a.link or None})


def cmd_wait(c: Client, a: argparse.Namespace) -> int:
    rc = 0
    for ref in a.containers:
        result = c.json("POST", f"/containers/{ref}/wait")
        print(result["StatusCode"])
        rc = rc or 0
    return rc


PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
              "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES",
              "Networks": "NETWORKS"}


def _image_name(r: dict[str, Any], trunc: bool) -> str:
    image = r.get("Image") or ""
    if not image:
        return "<no image>"
    if trunc:
        if short_id(r.get("ImageID") or "") == short_id(image) and image.startswith("sha256:"):
            return short_id(image)
        if "@" in image:  # a digest reference shows as its name (and tag, if any)
            return image.split("@", 1)[0]
    return image


def ps_row(r: dict[str, Any], trunc: bool) -> Any:
    """One ``docker ps`` row (formatter.ContainerContext): Docker's field names, as text."""
    from dockyard.cli.format import display_ports, ellipsis, go_quote, go_time, human_duration, human_size
    from dockyard.cli.template import Row

    labels = r.get("Labels") or {}
    cmd = r.get("Command", "")
    names = [n.lstrip("/") for n in r.get("Names") or []]
    if trunc:
        names = next(([n] for n in names if "/" not in n), names)
    mounts = []
    for m in r.get("Mounts") or []:
        name = m.get("Name") or m.get("Source") or ""
        mounts.append(ellipsis(name, 15) if trunc else name)
    size = human_size(r.get("SizeRw") or 0)
    if r.get("SizeRootFs"):
        size += f" (virtual {human_size(r['SizeRootFs'])})"
    import time

    return Row({
        "ID": short_id(r["Id"]) if trunc else r["Id"], "Image": _image_name(r, trunc),
        "Command": go_quote(ellipsis(cmd, 20) if trunc else cmd), "CreatedAt": go_time(r.get("Created", 0)),
        "RunningFor": human_duration(time.time() - r.get("Created", 0)) + " ago",
        "Ports": display_ports(r.get("Ports") or []), "State": r.get("State", ""), "Status": r.get("Status", ""),
        "Size": size, "Names": ",".join(names), "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Mounts": ",".join(mounts),
        "LocalVolumes": str(sum(1 for m in r.get("Mounts") or [] if m.get("Driver") == "local")),
        "Networks": ",".join(sorted(((r.get("NetworkSettings") or {}).get("Networks") or {}).keys())),
    }, "*formatter.ContainerContext")


def cmd_ps(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import filters
    from dockyard.cli.template import print_rows

    flt = filters(a.filter)
    params: dict[str, Any] = {"all": a.all or a.last > 0 or a.latest}
    if flt:
        params["filters"] = json.dumps(flt)
    if a.last > 0 or a.latest:
        params["limit"] = 1 if a.latest else a.last
    fmt = a.format
    if not fmt and not a.quiet:
        from dockyard.cli.config import load_config

        fmt = load_config(getattr(a, "config", None)).get("psFormat") or ""
    if a.quiet:
        fmt = "{{.ID}}"
    elif not fmt or fmt == "table":
        fmt = PS_TABLE + ("\t{{.Size}}" if a.size else "")
    if a.size or "{{.Size}}" in fmt.replace(" ", ""):
        params["size"] = True
    rows = c.json("GET", "/containers/json", params)
    print_rows(fmt, [ps_row(r, not a.no_trunc) for r in rows], PS_HEADERS,
               ("failed to parse template: ", "failed to execute template: "))
    return 0


def cmd_logs(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import no_such
    from dockyard.client.errors import DaemonNotFound

    try:
        info = c.json("GET", f"/containers/{a.container}/json")
    except DaemonNotFound:
        print(no_such("container", a.container), file=sys.stderr)
        return 1
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


def _start_attached(c: Client, ref: str, interactive: bool, keys_spec: str) -> int:
    """``start -a [-i]``: attach, start, copy the streams, the container's exit code."""
    from dockyard.cli import tty as term

    info = c.json("GET", f"/containers/{ref}/json")
    tty = bool(info["Config"].get("Tty"))
    sock = c.hijack(f"/containers/{ref}/attach", {"stream": 1, "stdin": interactive, "stdout": 1, "stderr": 1,
                                                    "detachKeys": keys_spec or None})
    wait = c.request("POST", f"/containers/{ref}/wait", {"condition": "next-exit"})
    c.request("POST", f"/containers/{ref}/start").read()
    session = term.Session(sock, tty, interactive, term.detach_keys(keys_spec),
                           lambda h, w: c.request("POST", f"/containers/{ref}/resize", {"h": h, "w": w}).read())
    try:
        with session:
            if tty:
                session.follow_size()
            session.run()
    except term.Detached:
        return 0
    finally:
        sock.close()
    return int(json.loads(wait.read() or b"{}").get("StatusCode", 125))


def _add_stop(sp: argparse.ArgumentParser) -> None:
    if _unused(sp):
        return
    from dockyard.cli import flags as t

    sp.add_argument("-t", "--time", "--timeout", type=t.integer, default=None, metavar="int",
                    help="Seconds to wait for stop before killing it (default 10)")
    sp.add_argument("containers", nargs="+")


def register(cmd: Command) -> None:
    sp = cmd("run", cmd_run, "Run a command in a new container", usage="[OPTIONS] IMAGE [COMMAND] [ARG...]")
    sp.add_argument("-d", "--detach", action="store_true", help="Run container in background and print container ID")
    sp.add_argument("--rm", action="store_true", help="Automatically remove the container when it exits")
    _add_container_flags(sp)
    sp = cmd("create", cmd_create, "Create a new container", usage="[OPTIONS] IMAGE [COMMAND] [ARG...]")
    sp.set_defaults(detach=True)
    _add_container_flags(sp)
    sp = cmd("start", cmd_start, "Start one or more stopped containers", usage="[OPTIONS] CONTAINER [CONTAINER...]")
    sp.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR and forward signals")
    sp.add_argument("--detach-keys", default="", help="Override the key sequence for detaching a container")
    sp.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")
    sp.add_argument("containers", nargs="+")
    _add_stop(cmd("stop", cmd_stop, "Stop one or more running containers", usage="[OPTIONS] CONTAINER [CONTAINER...]"))
    sp = cmd("kill", cmd_kill, "Kill one or more running containers", usage="[OPTIONS] CONTAINER [CONTAINER...]")
    sp.add_argument("-s", "--signal", default="KILL", help='Signal to send to the container (default "KILL")')
    sp.add_argument("containers", nargs="+")
    sp = cmd("rm", cmd_rm, "Remove one or more containers", usage="[OPTIONS] CONTAINER [CONTAINER...]")
    sp.add_argument("-f", "--force", action="store_true", help="Force the removal of a running container (uses SIGKILL)")
    sp.add_argument("-l", "--link", action="store_true", help="Remove the specified link")
    sp.add_argument("-v", "--volumes", action="store_true", help="Remove anonymous volumes associated with the container")
    sp.add_argument("containers", nargs="+")
    sp = cmd("wait", cmd_wait, "Block until one or more containers stop, then print their exit codes",
             usage="CONTAINER [CONTAINER...]")
    sp.add_argument("containers", nargs="+")
    sp = cmd("ps", cmd_ps, "List containers")
    sp.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
    sp.add_argument("-f", "--filter", action="append", default=[], metavar="filter",
                    help="Filter output based on conditions provided")
    sp.add_argument("--format", default="", help="Pretty-print containers using a Go template")
    sp.add_argument("-n", "--last", type=int, default=-1, metavar="int",
                    help="Show n last created containers (includes all states) (default -1)")
    sp.add_argument("-l", "--latest", action="store_true", help="Show the latest created container (includes all states)")
    sp.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    sp.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
    sp.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
    sp = cmd("logs", cmd_logs, "Fetch the logs of a container", usage="[OPTIONS] CONTAINER")
    sp.add_argument("--details", action="store_true", help="Show extra details provided to logs")
    sp.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    sp.add_argument("--since", default="", help="Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative "
                                                "(e.g. 42m for 42 minutes)")
    sp.add_argument("-n", "--tail", default="all", help='Number of lines to show from the end of the logs (default "all")')
    sp.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    sp.add_argument("--until", default="", help="Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative "
                                                "(e.g. 42m for 42 minutes)")
    sp.add_argument("container")
