"""The commands that talk to the daemon: flags as Compose v2's, one ``ops.Compose`` call each."""

from __future__ import annotations

import sys
import threading

from dockyard import errors
from dockyard.client import jsonlite as json
from dockyard.compose import buildcmd, cpevents, runcmd
from dockyard.compose import engine as E
from dockyard.compose.buildcmd import cmd_build
from dockyard.compose.cpevents import cmd_cp, cmd_events
from dockyard.compose.ops import Compose, ComposeFailure
from dockyard.compose.runcmd import cmd_run

__all__ = ["cmd_build", "cmd_cp", "cmd_events", "cmd_run", "register", "run"]

TYPE_CHECKING = False  # typing imports re: ~3 ms of every command's start
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

REMAINDER = "..."  # argparse.REMAINDER: the command and its arguments, flags included

def register(cmd: Callable[[str, str], Any]) -> None:
    up = cmd("up", "Create and start containers")
    up.add_argument("-d", "--detach", action="store_true")
    up.add_argument("--build", action="store_true")
    up.add_argument("--no-build", action="store_true")
    up.add_argument("--force-recreate", action="store_true")
    up.add_argument("--no-recreate", action="store_true")
    up.add_argument("--no-deps", action="store_true")
    up.add_argument("--no-start", action="store_true")
    up.add_argument("--remove-orphans", action="store_true")
    up.add_argument("--wait", action="store_true")
    up.add_argument("--wait-timeout", type=int, default=600)
    up.add_argument("--scale", action="append", default=[], metavar="SERVICE=NUM")
    up.add_argument("--abort-on-container-exit", action="store_true")
    up.add_argument("--exit-code-from", default=None)
    up.add_argument("--no-color", action="store_true")
    up.add_argument("--no-log-prefix", action="store_true")
    up.add_argument("-t", "--timeout", type=int, default=None)
    up.add_argument("--pull", default="policy", choices=("always", "missing", "never", "policy"))
    up.add_argument("--attach", action="append", default=[], metavar="SERVICE")
    up.add_argument("--no-attach", action="append", default=[], metavar="SERVICE")
    up.add_argument("--quiet-pull", action="store_true")
    up.add_argument("services", nargs="*")
    c = cmd("create", "Creates containers for a service")
    for flag in ("--build", "--no-build", "--force-recreate", "--no-recreate", "--remove-orphans"):
        c.add_argument(flag, action="store_true")
    c.add_argument("--scale", action="append", default=[])
    c.add_argument("services", nargs="*")
    down = cmd("down", "Stop and remove containers, networks")
    down.add_argument("-v", "--volumes", action="store_true")
    down.add_argument("--rmi", default="", choices=("", "local", "all"))
    down.add_argument("--remove-orphans", action="store_true")
    down.add_argument("-t", "--timeout", type=int, default=None)
    ps = cmd("ps", "List containers")
    ps.add_argument("-a", "--all", action="store_true")
    ps.add_argument("-q", "--quiet", action="store_true")
    ps.add_argument("--services", action="store_true")
    ps.add_argument("--format", default="table")
    ps.add_argument("--status", action="append", default=[])
    ps.add_argument("services_", nargs="*", metavar="SERVICE")
    logs = cmd("logs", "View output from containers")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--tail", default="all")
    logs.add_argument("-t", "--timestamps", action="store_true")
    logs.add_argument("--no-color", action="store_true")
    logs.add_argument("--no-log-prefix", action="store_true")
    logs.add_argument("--since", default="")
    logs.add_argument("--until", default="")
    logs.add_argument("services", nargs="*")
    for name, help in (("start", "Start services"), ("stop", "Stop services"), ("restart", "Restart containers"),
                       ("pause", "Pause services"), ("unpause", "Unpause services"),
                       ("kill", "Force stop service containers"), ("rm", "Removes stopped service containers"),
                       ("pull", "Pull service images"), ("push", "Push service images"),
                       ("images", "List images used by the created containers"),
                       ("top", "Display the running processes")):
        sp = cmd(name, help)
        sp.add_argument("services", nargs="*")
        if name in ("stop", "restart"):
            sp.add_argument("-t", "--timeout", type=int, default=None)
        if name == "kill":
            sp.add_argument("-s", "--signal", default="SIGKILL")
        if name == "rm":
            sp.add_argument("-f", "--force", action="store_true")
            sp.add_argument("-s", "--stop", action="store_true")
            sp.add_argument("-v", "--volumes", action="store_true")
        if name == "images":
            sp.add_argument("-q", "--quiet", action="store_true")
    ex = cmd("exec", "Execute a command in a running container")
    ex.add_argument("-d", "--detach", action="store_true")
    ex.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    ex.add_argument("-i", "--interactive", action="store_true", default=True)
    ex.add_argument("-t", "--tty", action="store_true")
    ex.add_argument("-e", "--env", action="append", default=[])
    ex.add_argument("-u", "--user", default="")
    ex.add_argument("-w", "--workdir", default="")
    ex.add_argument("--privileged", action="store_true")
    ex.add_argument("--index", type=int, default=1)
    ex.add_argument("service")
    ex.add_argument("cmd_args", nargs=REMAINDER, metavar="COMMAND")
    runcmd.register(cmd)
    port = cmd("port", "Print the public port for a port binding")
    port.add_argument("--protocol", default="tcp")
    port.add_argument("--index", type=int, default=1)
    port.add_argument("service")
    port.add_argument("private_port")
    ls = cmd("ls", "List running compose projects")
    ls.add_argument("-a", "--all", action="store_true")
    ls.add_argument("-q", "--quiet", action="store_true")
    ls.add_argument("--format", default="table")
    w = cmd("watch", "Watch the build context for services and rebuild/refresh containers when files are updated")
    w.add_argument("--no-up", action="store_true")
    w.add_argument("--quiet", action="store_true")
    w.add_argument("services", nargs="*")
    cpevents.register(cmd)
    buildcmd.register(cmd)
    ver = cmd("version", "Show the Docker Compose version information")
    ver.add_argument("--short", action="store_true")
    ver.add_argument("-f", "--format", default="")


# The commands for which v2 loads no compose file when given `-p NAME` without `-f` (its
# `projectOrName`): it knows the project from its containers, without hooks or provider services.
BY_NAME = ("down", "kill", "logs", "pause", "unpause", "ps", "rm", "restart", "start", "stop", "volumes", "wait")


def run(args: argparse.Namespace, client_factory: Callable[[], Any]) -> int:
    from dockyard.compose.cli import load_project

    if args.command == "version":
        from dockyard import __version__

        print(E.COMPOSE_VERSION if args.short else
              f"Dockyard Compose version {__version__} (Compose v{E.COMPOSE_VERSION} compatible)")
        return 0
    import os

    from dockyard.compose import progress

    chosen = progress.mode(args.progress, args.ansi, os.environ, sys.stderr.isatty())
    client = client_factory()
    if args.dry_run:
        from dockyard.compose.dryrun import DryRunClient

        client = DryRunClient(client)
    if args.command == "ls":
        return cmd_ls(client, args)
    named = getattr(args, "services_", None) or getattr(args, "services", None)
    services = list(named) if isinstance(named, list) else []
    single = getattr(args, "service", None)
    project = None
    try:
        project = load_project(args, services + ([single] if single else []))
        name = project.name
    except errors.NotFound:  # no compose file: commands that only need the name still work with -p
        if not args.project_name or args.command in ("up", "create", "run", "build", "pull", "push", "config"):
            raise
        name = args.project_name
    say = progress.Progress(chosen, progress.TITLES.get(args.command, "Running"), dry_run=args.dry_run,
                            color=not os.environ.get("NO_COLOR"))
    compose = Compose(client, name, project, out=say, dry_run=args.dry_run)
    compose.files_loaded = args.command not in BY_NAME or bool(args.file) or not args.project_name
    handler = globals()[f"cmd_{args.command}"]
    try:
        return int(handler(compose, args))
    finally:
        say.close()


def _scale(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        svc, _, n = item.partition("=")
        if not n.isdigit():
            raise errors.InvalidArgument(f"invalid --scale value {item!r}: want SERVICE=NUM")
        out[svc] = int(n)
    return out


def cmd_up(cp: Compose, a: argparse.Namespace) -> int:
    if a.exit_code_from:
        a.abort_on_container_exit = True
    if a.detach and a.abort_on_container_exit:
        raise errors.InvalidArgument("--abort-on-container-exit and --detach are incompatible")
    cp.quiet_pull = a.quiet_pull
    attached = None
    if not (a.detach or a.wait or a.no_start or cp.dry_run):  # logs and hooks' output as they arrive, as v2
        from dockyard.compose.attach import Attached

        named = set(a.services or [])
        attached = Attached(cp, lambda s: (not named or s in named) and (not a.attach or s in a.attach)
                            and s not in a.no_attach, not a.no_color and sys.stdout.isatty(), a.no_log_prefix)
        cp.started, cp.hook_output, cp.planned = attached.started, attached.hook_output, attached.planned
    done = cp.up(a.services, force_recreate=a.force_recreate, no_recreate=a.no_recreate, build=a.build,
                 no_build=a.no_build, remove_orphans=a.remove_orphans, scale=_scale(a.scale), no_deps=a.no_deps,
                 no_start=a.no_start, timeout=a.timeout, pull=a.pull)
    if a.wait:
        cp.wait_ready(done, a.wait_timeout)
        return 0
    if attached is None:
        return 0
    close = getattr(cp.out, "close", None)
    if close is not None:  # the last frame of the progress; what follows prints as lines
        close()
    return _attached(cp, done, a, attached)


def _attached(cp: Compose, services: list[str], a: argparse.Namespace, attached: Any) -> int:
    """Logs of every container with v2's prefixes until they all exit (or one does, when asked);
    those started by ``up`` are followed since then, the others from now."""
    wanted = [s for s in services if (not a.attach or s in a.attach) and s not in a.no_attach]
    containers = [c for s in wanted for c in cp.containers(s)]
    attached.flush_hooks()
    for c in containers:
        attached.follow(c)
    import signal

    previous = signal.getsignal(signal.SIGINT)
    finished = False
    try:
        while not finished:
            finished = attached.wait(containers, a.abort_on_container_exit)
    except KeyboardInterrupt:
        print("Gracefully stopping... (press Ctrl+C again to force)", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, previous)
    exited = list(attached.exited.values())
    if a.abort_on_container_exit or not finished:
        for c in containers:
            cp._stop_one(c, a.timeout)
    if a.exit_code_from:
        target = [c for c in cp.containers(a.exit_code_from)]
        return int(cp.inspect(target[0]["Id"])["State"]["ExitCode"]) if target else 1
    if a.abort_on_container_exit and exited:
        return int(exited[0]["State"]["ExitCode"])
    return 0


def cmd_watch(cp: Compose, a: argparse.Namespace) -> int:
    from dockyard.compose.watch import Watch

    if a.quiet:
        cp.out = lambda line: None
    watch = Watch(cp, a.services or None)
    if not a.no_up:
        cp.up(a.services or None)
    stop = threading.Event()
    import signal

    def stopped(*_: Any) -> None:
        stop.set()
        watch.wake()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stopped)
    watch.run(stop)
    return 0


def cmd_create(cp: Compose, a: argparse.Namespace) -> int:
    cp.up(a.services, force_recreate=a.force_recreate, no_recreate=a.no_recreate, build=a.build, no_build=a.no_build,
          remove_orphans=a.remove_orphans, scale=_scale(a.scale), no_start=True)
    return 0


def cmd_down(cp: Compose, a: argparse.Namespace) -> int:
    cp.down(a.volumes, a.rmi, a.remove_orphans, a.timeout)
    return 0


def _selected(cp: Compose, services: list[str], all: bool = True) -> list[dict[str, Any]]:
    found = cp.containers(all=all)
    return [c for c in found if not services or c["Labels"].get(E.SERVICE) in services]


def cmd_ps(cp: Compose, a: argparse.Namespace) -> int:
    found = _selected(cp, a.services_, all=a.all)
    if a.status:
        found = [c for c in found if c.get("State") in a.status]
    if a.quiet:
        print("\n".join(c["Id"] for c in found))
        return 0
    if a.services:
        print("\n".join(dict.fromkeys(c["Labels"].get(E.SERVICE, "") for c in found)))
        return 0
    rows = [_ps_row(cp, c) for c in found]
    if a.format == "json":
        print("\n".join(json.dumps(r) for r in rows))
        return 0
    from dockyard.cli.format import table

    lines = [[r["Name"], r["Image"], _quoted(r["Command"]),
              r["Service"], r["RunningFor"], r["Status"], r["Ports"]] for r in rows]
    print(table(["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"], lines))
    return 0


def _quoted(command: str) -> str:
    """A command as ps shows it: quoted, cut to 20 characters with an ellipsis."""
    return '"' + (command[:20] + "…" if len(command) > 20 else command) + '"'


def _ps_row(cp: Compose, c: dict[str, Any]) -> dict[str, Any]:
    from dockyard.cli.format import ago, display_ports

    created = c.get("Created", 0)
    status = c.get("Status", "")
    health = "healthy" if "(healthy)" in status else "unhealthy" if "(unhealthy)" in status else \
        "starting" if "(health: starting)" in status else ""
    return {"ID": c["Id"], "Name": c["Names"][0].lstrip("/"), "Image": c["Image"], "Command": c.get("Command", ""),
            "Project": c["Labels"].get(E.PROJECT, ""), "Service": c["Labels"].get(E.SERVICE, ""),
            "Created": created, "State": c.get("State", ""), "Status": status, "Health": health,
            "ExitCode": 0, "Publishers": c.get("Ports") or [],
            "RunningFor": ago(created) if created else "",
            "Ports": display_ports(c.get("Ports") or []), "Labels": c["Labels"]}


def cmd_logs(cp: Compose, a: argparse.Namespace) -> int:
    from dockyard.compose.logprefix import Prefixes

    containers = _selected(cp, a.services)
    prefixes = Prefixes(containers, not a.no_color and sys.stdout.isatty(), a.no_log_prefix)
    lock = threading.Lock()

    def write(name: str, line: bytes) -> None:
        with lock:
            sys.stdout.write(prefixes(name) + line.decode(errors="replace"))
            sys.stdout.flush()

    cp.logs(containers, a.follow, a.tail, a.timestamps, write, since=a.since, until=a.until)
    return 0


def _each(cp: Compose, services: list[str], fn: Callable[[dict[str, Any]], None], verb: str, done: str,
          all: bool = True, dependents_first: bool = False) -> int:
    found = _selected(cp, services, all=all)
    if dependents_first and cp.project is not None:  # as v2's stop: in reverse dependency order
        from dockyard.compose.project import order

        rank = {s: i for i, s in enumerate(reversed(order(cp.project.services)))}
        found.sort(key=lambda c: rank.get(c["Labels"].get(E.SERVICE, ""), -1))
    for c in found:
        name = c["Names"][0].lstrip("/")
        cp.out(f" Container {name}  {verb}")
        fn(c)
        cp.out(f" Container {name}  {done}")
    return 0


def cmd_start(cp: Compose, a: argparse.Namespace) -> int:
    return _each(cp, a.services, lambda c: cp.start(c["Id"]), "Starting", "Started")


def cmd_stop(cp: Compose, a: argparse.Namespace) -> int:
    def stop(c: dict[str, Any]) -> None:
        cp.pre_stop(c)
        cp.stop(c["Id"], a.timeout)

    return _each(cp, a.services, stop, "Stopping", "Stopped", all=False, dependents_first=True)


def cmd_restart(cp: Compose, a: argparse.Namespace) -> int:
    """The services named, then those that depend on them with ``restart: true`` (as v2)."""
    def restart(c: dict[str, Any]) -> None:  # with the service's hooks around it, as v2
        cp.pre_stop(c)
        cp.c.request("POST", f"/containers/{c['Id']}/restart", {"t": a.timeout}).read()
        cp.post_start(c["Labels"].get(E.SERVICE, ""), c["Id"])

    if cp.project is None or not a.services:
        return _each(cp, a.services, restart, "Restarting", "Started")
    from dockyard.compose.project import order

    services = cp.project.services
    chosen, todo = set(a.services), list(a.services)
    while todo:
        dep = todo.pop()
        for name, svc in services.items():
            if name not in chosen and ((svc.get("depends_on") or {}).get(dep) or {}).get("restart"):
                chosen.add(name)
                todo.append(name)
    for s in order(services):
        if s in chosen:
            _each(cp, [s], restart, "Restarting", "Started")
    return 0


def cmd_pause(cp: Compose, a: argparse.Namespace) -> int:
    return _each(cp, a.services, lambda c: cp.c.request("POST", f"/containers/{c['Id']}/pause").read(),
                 "Pausing", "Paused", all=False)


def cmd_unpause(cp: Compose, a: argparse.Namespace) -> int:
    return _each(cp, a.services, lambda c: cp.c.request("POST", f"/containers/{c['Id']}/unpause").read(),
                 "Unpausing", "Unpaused", all=False)


def cmd_kill(cp: Compose, a: argparse.Namespace) -> int:
    return _each(cp, a.services, lambda c: cp.c.request("POST", f"/containers/{c['Id']}/kill",
                                                        {"signal": a.signal}).read(), "Killing", "Killed", all=False)


def cmd_rm(cp: Compose, a: argparse.Namespace) -> int:
    if a.stop:
        _each(cp, a.services, lambda c: cp.stop(c["Id"]), "Stopping", "Stopped", all=False)
    found = [c for c in _selected(cp, a.services) if c.get("State") != "running"]
    if not found:
        cp.out("No stopped containers")
        return 0
    if not a.force:
        cp.out("Going to remove " + ", ".join(c["Names"][0].lstrip("/") for c in found))
    for c in found:
        cp.remove(c["Id"], a.volumes)
        cp.out(f" Container {c['Names'][0].lstrip('/')}  Removed")
    return 0


def _project_services(cp: Compose, services: list[str]) -> list[str]:
    p = cp.need_project()
    return [s for s in p.services if not services or s in services]


def cmd_pull(cp: Compose, a: argparse.Namespace) -> int:
    for s in _project_services(cp, a.services):
        if cp.need_project().services[s].get("image"):
            cp.pull(s)
    return 0


def cmd_push(cp: Compose, a: argparse.Namespace) -> int:
    for s in _project_services(cp, a.services):
        if "provider" not in cp.need_project().services[s]:  # a provider service has no image
            cp.push(s)
    return 0


def cmd_images(cp: Compose, a: argparse.Namespace) -> int:
    from dockyard.cli.format import human_size, table

    rows = []
    ids = []
    for c in _selected(cp, a.services):
        img = cp.c.json("GET", f"/images/{c['ImageID']}/json")
        ref = c["Image"]
        repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
        ids.append(img["Id"])
        rows.append([c["Names"][0].lstrip("/"), repo, tag, img["Id"].split(":")[-1][:12], human_size(img["Size"])])
    if a.quiet:
        print("\n".join(dict.fromkeys(ids)))
        return 0
    print(table(["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"], rows))
    return 0


def cmd_top(cp: Compose, a: argparse.Namespace) -> int:
    from dockyard.cli.format import table

    for c in _selected(cp, a.services, all=False):
        top = cp.c.json("GET", f"/containers/{c['Id']}/top")
        print(c["Names"][0].lstrip("/"))
        print(table(top["Titles"], top["Processes"]))
    return 0


def cmd_port(cp: Compose, a: argparse.Namespace) -> int:
    found = [c for c in cp.containers(a.service) if int(c["Labels"].get(E.NUMBER, 0)) == a.index]
    if not found:
        raise errors.NotFound(f"no container found for {a.service}-{a.index}")
    ports = cp.inspect(found[0]["Id"])["NetworkSettings"].get("Ports") or {}
    for b in ports.get(f"{a.private_port}/{a.protocol}") or []:
        print(f"{b['HostIp'] or '0.0.0.0'}:{b['HostPort']}")
        return 0
    raise errors.NotFound(f"no port {a.private_port}/{a.protocol} published for {a.service}")


def cmd_exec(cp: Compose, a: argparse.Namespace) -> int:
    found = [c for c in cp.containers(a.service, all=False) if int(c["Labels"].get(E.NUMBER, 0)) == a.index]
    if not found:
        raise ComposeFailure(f"service {a.service!r} is not running")
    tty = not a.no_tty and (a.tty or sys.stdin.isatty())
    return _exec(cp, found[0]["Id"], a.cmd_args, tty, a.env, a.user, a.workdir, a.privileged, a.detach,
                 interactive=a.interactive and not a.no_tty)


def _exec(cp: Compose, cid: str, command: list[str], tty: bool, env: list[str], user: str, workdir: str,
          privileged: bool, detach: bool, interactive: bool) -> int:
    from dockyard.cli import tty as term

    body = {"Cmd": command, "AttachStdin": interactive and not detach, "AttachStdout": not detach,
            "AttachStderr": not detach, "Tty": tty, "Env": env or None, "User": user, "WorkingDir": workdir,
            "Privileged": privileged}
    eid = cp.c.json("POST", f"/containers/{cid}/exec", body=body)["Id"]
    if detach:
        cp.c.request("POST", f"/exec/{eid}/start", body={"Detach": True, "Tty": tty}).read()
        return 0
    sock = cp.c.hijack(f"/exec/{eid}/start", {})
    session = term.Session(sock, tty, interactive and sys.stdin.isatty() or interactive and not tty,
                           term.detach_keys(""),
                           lambda h, w: cp.c.request("POST", f"/exec/{eid}/resize", {"h": h, "w": w}).read())
    try:
        with session:
            if tty:
                session.follow_size()
            session.run()
    finally:
        sock.close()
    return int(cp.c.json("GET", f"/exec/{eid}/json").get("ExitCode") or 0)


def cmd_ls(client: Any, a: argparse.Namespace) -> int:
    found = client.json("GET", "/containers/json", {"all": a.all or True, "filters": json.dumps(
        {"label": [E.PROJECT]})}) or []
    projects: dict[str, dict[str, Any]] = {}
    for c in found:
        name = c["Labels"][E.PROJECT]
        p = projects.setdefault(name, {"Name": name, "states": {}, "ConfigFiles": c["Labels"].get(E.FILES, "")})
        p["states"][c["State"]] = p["states"].get(c["State"], 0) + 1
    rows = []
    for name, p in sorted(projects.items()):
        running = p["states"].get("running", 0)
        if not a.all and not running:
            continue
        status = ", ".join(f"{s}({n})" for s, n in sorted(p["states"].items()))
        rows.append({"Name": name, "Status": status, "ConfigFiles": p["ConfigFiles"]})
    if a.quiet:
        print("\n".join(r["Name"] for r in rows))
    elif a.format == "json":
        print(json.dumps(rows))
    else:
        from dockyard.cli.format import table

        print(table(["NAME", "STATUS", "CONFIG FILES"], [[r["Name"], r["Status"], r["ConfigFiles"]] for r in rows]))
    return 0

