"""docker exec: one more process in a running container, through containerd's Tasks.Exec.

An exec is created (its config recorded), then started: the engine makes FIFOs
for its stdio under the container's FIFO directory, asks containerd for the
process, pumps the output to whoever is attached, waits for the exit and
deletes the process from the shim. Exec records live in memory only, as in
dockerd (they die with the daemon).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.api import pb
from dockyard.engine import spec as specs
from dockyard.engine import users
from dockyard.engine.container import Container
from dockyard.engine.streams import (
    STDERR,
    STDOUT,
    OutputFifo,
    StdinWriter,
    StreamHub,
    cancel_unawaited,
    gather_unawaited,
    open_fifo,
)
from dockyard.oci.runtime_spec import DEFAULT_PATH


@dataclass
class Exec:
    id: str
    container_id: str
    config: dict[str, Any]
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    hub: StreamHub = field(default_factory=StreamHub)
    stdin: StdinWriter | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    started: bool = False
    user: tuple[users.ExecUser, list[int]] | None = None  # its User and GroupAdd as resolved at create

    def inspect(self) -> dict[str, Any]:
        cfg = self.config
        cmd = cfg.get("Cmd") or []
        return {
            "ID": self.id, "Running": self.running, "ExitCode": self.exit_code, "ProcessConfig": {
                "tty": bool(cfg.get("Tty")), "entrypoint": cmd[0] if cmd else "", "arguments": cmd[1:],
                "privileged": bool(cfg.get("Privileged")), "user": cfg.get("User") or ""},
            "OpenStdin": bool(cfg.get("AttachStdin")), "OpenStderr": bool(cfg.get("AttachStderr")),
            "OpenStdout": bool(cfg.get("AttachStdout")), "CanRemove": False, "ContainerID": self.container_id,
            "DetachKeys": cfg.get("DetachKeys") or "", "Pid": self.pid,
        }


def create(eng: Any, ref: str, config: dict[str, Any], user: tuple[users.ExecUser, list[int]] | None = None) -> Exec:
    c = eng.get(ref)
    if not c.state.running:
        raise errors.Conflict(f"container {c.id} is not running")
    if c.state.paused:
        raise errors.Conflict(f"container {c.id} is paused, unpause the container before exec")
    if not config.get("Cmd"):
        raise errors.InvalidArgument("No exec command specified")
    e = Exec(secrets.token_hex(32), c.id, config, user=user)
    eng.execs[e.id] = e
    c.exec_ids = [*(c.exec_ids or []), e.id]
    eng.emit(c, f"exec_create: {' '.join(config['Cmd'])}", execID=e.id)
    return e


async def check_user(eng: Any, ref: str, user: str) -> tuple[users.ExecUser, list[int]] | None:
    """dockerd looks an exec's ``User`` up in the running container at create: an unknown user or
    group is a 400 then, not a failed start. What it resolved to (None: no ``User``), for the start."""
    c = eng.get(ref)
    if not user or not c.state.running:
        return None
    return await users.resolve_in(eng.cd, c.id, user, c.host_config.group_add or [])


def get(eng: Any, id: str) -> Exec:
    e: Exec | None = eng.execs.get(id)
    if e is None:
        raise errors.NotFound(f"No such exec instance: {id}")
    return e


def process_spec(c: Container, config: dict[str, Any], user: users.ExecUser | None = None,
                 group_add: list[int] | None = None, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OCI process of an exec, computed as dockerd does (daemon/exec.go, exec_linux.go).

    ``base`` is the container's own OCI process (from its spec): the exec keeps its capabilities,
    no_new_privs, rlimits, AppArmor profile and OOM score, so it is never more privileged than the
    container; ``Privileged`` grants every capability (seccomp stays the container's, as in Docker).
    Args, terminal, env (the daemon's PATH and HOSTNAME, the container's env, then the exec's), cwd
    (the exec's, else the container's) and user (the exec's, else the container's) are the exec's own.
    ``user``, ``group_add``: resolved in the container (``users.resolve_in``); without them only
    numbers are understood."""
    tty = bool(config.get("Tty"))
    daemon_env = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={c.config.hostname}",
                  *(["TERM=xterm"] if tty else [])]
    env = specs.merge_env(daemon_env, [*(c.config.env or []), *(config.get("Env") or [])])
    if user is None:
        uid, gid = specs.user_ids(config.get("User") or c.config.user)
        user = users.ExecUser(uid, gid)
    if group_add is None:
        group_add = [int(g) for g in c.host_config.group_add or [] if str(g).isdigit()]
    inherited = {k: v for k, v in (base or {}).items() if k in _INHERITED}
    if "capabilities" not in inherited:  # no container spec at hand: its HostConfig says the same
        inherited["capabilities"] = specs.process_capabilities(c.host_config.to_json())
    proc: dict[str, Any] = {
        **inherited, "args": list(config["Cmd"]), "env": env, "terminal": tty,
        "cwd": config.get("WorkingDir") or c.config.working_dir or "/",
    }
    users.apply(proc, user, group_add)
    if config.get("Privileged"):
        every = sorted(specs.known_capabilities())
        proc["capabilities"] = {k: every for k in ("bounding", "effective", "permitted")}
        proc.pop("apparmorProfile", None)
    if config.get("ConsoleSize"):
        h, w = config["ConsoleSize"]
        proc["consoleSize"] = {"height": int(h), "width": int(w)}
    return proc


# what an exec takes over from the container's process (dockerd starts from the container's spec)
_INHERITED = ("capabilities", "noNewPrivileges", "rlimits", "apparmorProfile", "oomScoreAdj", "selinuxLabel")


async def start(eng: Any, e: Exec, tty: bool) -> None:
    """Start the process and return once it runs; output goes to ``e.hub``; ``e.done`` is set at exit."""
    if e.started:
        raise errors.Conflict(f"Error: Exec command {e.id} has already run")
    c = eng.get(e.container_id)
    if not c.state.running:
        raise errors.Conflict(f"container {c.id} is not running")
    e.started = True
    fifo_dir = Path(eng.exec_root) / "containers" / c.id / f"exec-{e.id[:16]}"
    fifo_dir.mkdir(parents=True, exist_ok=True)
    fds = {STDOUT: open_fifo(fifo_dir / "stdout")}
    if not tty:
        fds[STDERR] = open_fifo(fifo_dir / "stderr")
    stdin_path = ""
    if e.config.get("AttachStdin"):
        stdin_path = str(fifo_dir / "stdin")
        e.stdin = StdinWriter.create(Path(stdin_path))

    async def pump(stream: int, fifo: OutputFifo) -> None:
        async for data in fifo.chunks():
            e.hub.publish(stream, data)

    pumps = gather_unawaited(*(pump(s, f) for s, f in fds.items()))
    try:
        (user, group_add), record = await asyncio.gather(
            _resolved(e.user) if e.user is not None else
            users.resolve_in(eng.cd, c.id, e.config.get("User") or c.config.user, c.host_config.group_add or []),
            eng.cd.containers.Get(pb.GetContainerRequest(id=c.id)))
        base = json.loads(record.spec).get("process") or {}
        process = process_spec(c, e.config, user, group_add, base)
        state = await eng.cd.tasks.Exec(pb.ExecProcessRequest(
            container_id=c.id, exec_id=e.id, spec=json.dumps(process).encode(),
            stdin=stdin_path, stdout=str(fifo_dir / "stdout"), stderr="" if tty else str(fifo_dir / "stderr"),
            terminal=tty))
    except errors.DockyardError as err:
        cancel_unawaited(pumps)
        for fifo in fds.values():  # a pump cancelled before it ran never closes its FIFO
            fifo.close()
        if e.stdin:
            e.stdin.close()
        e.exit_code = 127 if isinstance(err, errors.NotFound) else 126  # the kind the runtime gave
        e.hub.close_all()
        e.done.set()
        shutil.rmtree(fifo_dir, ignore_errors=True)
        raise errors.InvalidArgument(f"OCI runtime exec failed: {err}") from err
    e.pid = state.pid
    e.running = True
    eng.emit(c, f"exec_start: {' '.join(e.config['Cmd'])}", execID=e.id)
    asyncio.create_task(_finish(eng, e, c, pumps, fifo_dir))


async def _resolved(user: tuple[users.ExecUser, list[int]]) -> tuple[users.ExecUser, list[int]]:
    """What create resolved, as an awaitable beside the container's lookup."""
    return user


async def _finish(eng: Any, e: Exec, c: Container, pumps: Any, fifo_dir: Path) -> None:
    code, _ = await eng.wait_exit(c.id, e.id)  # waits again across a containerd restart
    try:
        await asyncio.wait_for(asyncio.shield(pumps), timeout=5)
    except TimeoutError:
        cancel_unawaited(pumps)
    try:
        await eng.cd.tasks.Delete(pb.TaskRequest(container_id=c.id, exec_id=e.id))
    except errors.DockyardError:
        pass
    if e.stdin:
        e.stdin.close()
    e.exit_code = code
    e.running = False
    e.hub.close_all()
    e.done.set()
    shutil.rmtree(fifo_dir, ignore_errors=True)
    eng.emit(c, "exec_die", execID=e.id, exitCode=str(code))
