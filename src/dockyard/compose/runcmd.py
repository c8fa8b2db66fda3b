"""``compose run``: a one-off container of a service, with Compose v2's flags.

As v2: the one-off joins its networks under its container name alone unless ``--use-aliases``
(then also the service's name and aliases); ``-e`` wins over ``--env-from-file``; ``--pull`` and
``--build`` apply to the service's image; ``--remove-orphans`` removes the project's containers of
services no longer in its files; ``-q`` silences the progress lines; ``-d`` prints the container's ID.
"""

from __future__ import annotations

import sys

from dockyard.client import jsonlite as json

TYPE_CHECKING = False  # typing imports re: ~3 ms of every command's start
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

    from dockyard.compose.ops import Compose

REMAINDER = "..."  # argparse.REMAINDER: the command and its arguments, flags included


def register(cmd: Callable[[str, str], Any]) -> None:
    run = cmd("run", "Run a one-off command on a service")
    run.add_argument("-d", "--detach", action="store_true")
    run.add_argument("--rm", action="store_true")
    run.add_argument("-e", "--env", action="append", default=[])
    run.add_argument("--env-from-file", dest="env_from_file", action="append", default=[])
    run.add_argument("--no-deps", action="store_true")
    run.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    run.add_argument("-i", "--interactive", action="store_true", default=True)
    run.add_argument("-t", "--tty", action="store_true")
    run.add_argument("-u", "--user", default=None)
    run.add_argument("-w", "--workdir", default=None)
    run.add_argument("--name", default=None)
    run.add_argument("--entrypoint", default=None)
    run.add_argument("-p", "--publish", action="append", default=[])
    run.add_argument("-P", "--service-ports", dest="service_ports", action="store_true")
    run.add_argument("-v", "--volume", action="append", default=[])
    run.add_argument("-l", "--label", action="append", default=[])
    run.add_argument("--cap-add", action="append", default=[])
    run.add_argument("--cap-drop", action="append", default=[])
    run.add_argument("--build", action="store_true")
    run.add_argument("--pull", default="policy", choices=("always", "missing", "never", "policy"))
    run.add_argument("--remove-orphans", dest="remove_orphans", action="store_true")
    run.add_argument("--use-aliases", dest="use_aliases", action="store_true")
    run.add_argument("-q", "--quiet", action="store_true")
    run.add_argument("--quiet-build", dest="quiet_build", action="store_true")
    run.add_argument("--quiet-pull", dest="quiet_pull", action="store_true")
    run.add_argument("service")
    run.add_argument("cmd_args", nargs=REMAINDER, metavar="COMMAND")


def cmd_run(cp: Compose, a: argparse.Namespace) -> int:
    import secrets

    if a.quiet:  # as v2: no progress lines (the container's output is still shown)
        cp.out = lambda line: None
    p = cp.need_project()
    svc = p.service(a.service)
    for item in a.label:
        if "=" not in item:
            from dockyard import errors

            raise errors.InvalidArgument("label must be set as KEY=VALUE")
    deps = [] if a.no_deps else list(svc.get("depends_on") or {})
    if deps:  # as v2, the one-off gets none of its providers' variables (up leaves them to the dependents it makes)
        environment = svc.get("environment")
        cp.up(deps, remove_orphans=a.remove_orphans, pull=a.pull)
        if environment is None:
            svc.pop("environment", None)
        else:
            svc["environment"] = environment
        cp.wait_dependencies(a.service)
    elif a.remove_orphans:
        cp.handle_orphans(cp.containers(), True)
    cp.ensure_networks()
    cp.ensure_volumes()
    image = cp.image_id(a.service, pull=a.pull, build=a.build)
    overrides = _run_overrides(cp, svc, a)
    tty = not a.no_tty and (a.tty or sys.stdin.isatty())
    overrides["tty"] = tty
    overrides["stdin_open"] = a.interactive and not a.no_tty
    oneoff = secrets.token_hex(6)
    cid = cp.create(a.service, 1, image, oneoff=oneoff, overrides=overrides, use_aliases=a.use_aliases)
    if a.name:
        cp.c.request("POST", f"/containers/{cid}/rename", {"name": a.name}).read()
    if a.detach:
        cp.start(cid)
        print(cid)
        return 0
    return _attach_run(cp, cid, tty, overrides["stdin_open"], a.rm)


def _environment(cp: Compose, svc: dict[str, Any], a: argparse.Namespace) -> dict[str, Any]:
    """The service's environment with ``-e`` (``KEY`` alone: from the project's environment, left
    out without one) over ``--env-from-file`` files over the service's own."""
    from pathlib import Path

    from dockyard.compose import envfile
    from dockyard.compose.shapes import from_env

    flags = from_env(a.env, cp.need_project().environment)
    from_files: dict[str, str] = {}
    for file in a.env_from_file:
        from_files.update(envfile.read(Path(file), lambda k: flags.get(k)))
    return {**(svc.get("environment") or {}), **from_files, **flags}


def _run_overrides(cp: Compose, svc: dict[str, Any], a: argparse.Namespace) -> dict[str, Any]:
    """What ``run``'s flags change of the service: command, entrypoint, env, user, workdir, ports,
    and -v/-l/--cap-add/--cap-drop added to the service's own."""
    import shlex

    from dockyard.compose import normalize, shapes

    overrides: dict[str, Any] = {"restart": "no"}
    if a.cmd_args:
        overrides["command"] = a.cmd_args
    if a.entrypoint is not None:
        overrides["entrypoint"] = shlex.split(a.entrypoint)
        overrides.setdefault("command", [])  # as v2: the service's command goes with its entrypoint
    if a.env or a.env_from_file:
        overrides["environment"] = _environment(cp, svc, a)
    if a.user is not None:
        overrides["user"] = a.user
    if a.workdir is not None:
        overrides["working_dir"] = a.workdir
    if not a.service_ports:
        overrides["ports"] = shapes.ports_long(a.publish)
    if a.volume:
        base = cp.need_project().working_dir
        overrides["volumes"] = [*(svc.get("volumes") or []), *(normalize.service_volume(v, base) for v in a.volume)]
    if a.label:
        overrides["labels"] = {**(svc.get("labels") or {}), **shapes.to_mapping(a.label)}
    for key, other, extra in (("cap_add", "cap_drop", a.cap_add), ("cap_drop", "cap_add", a.cap_drop)):
        if extra:  # as v2: a capability added is no longer dropped, and the other way round
            overrides[key] = [*(overrides.get(key, svc.get(key)) or []), *extra]
            overrides[other] = [c for c in overrides.get(other, svc.get(other)) or [] if c not in extra]
    return overrides


def _attach_run(cp: Compose, cid: str, tty: bool, stdin: bool, rm: bool) -> int:
    from dockyard.cli import tty as term

    sock = cp.c.hijack(f"/containers/{cid}/attach", {"stream": 1, "stdin": int(stdin), "stdout": 1, "stderr": 1})
    wait = cp.c.request("POST", f"/containers/{cid}/wait", {"condition": "next-exit"})
    cp.start(cid)
    session = term.Session(sock, tty, stdin, term.detach_keys(""),
                           lambda h, w: cp.c.request("POST", f"/containers/{cid}/resize", {"h": h, "w": w}).read())
    try:
        with session:
            if tty:
                session.follow_size()
            session.run()
    finally:
        sock.close()
    result = json.loads(wait.read() or b"{}")
    code = int(result.get("StatusCode", 0))
    if rm:
        cp.remove(cid)
    return code


