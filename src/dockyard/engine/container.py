"""A container in the engine: its ``State`` and the transitions of its life, and what the engine
holds in memory for it (``Live``).

The life of a container, as moby's ``container.State`` has it::

    created -> running <-> paused
                  |  \\-> restarting -> running (the restart policy) | exited (a stop, a failed start)
                  v
               exited -> running (start) ... -> removing

The record itself is still Docker's inspect JSON (a dict the store keeps and the API renders);
``State`` is the typed view of its ``State`` object: typed fields to read, and one method per
transition, each refusing what its state does not allow (``errors.Conflict``). The engine moves a
container's state only through these methods (``engine/daemon.py``).
"""

from __future__ import annotations

import asyncio
import signal as signals
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dockyard import errors
from dockyard.engine.streams import StdinWriter, StreamHub
from dockyard.timefmt import parse_rfc3339, rfc3339

ZERO_TIME = "0001-01-01T00:00:00Z"


def new_record(id: str, name: str, args: list[str], image_id: str, config: dict[str, Any],
               host_config: dict[str, Any], log_path: str) -> dict[str, Any]:
    """A new container's record, as Docker's inspect JSON (what the store keeps): created, never
    started; the network, volume and /etc fields are filled in at create by their owners."""
    return {
        "Id": id, "Created": rfc3339(), "Path": args[0], "Args": args[1:], "State": State.record(),
        "Image": image_id, "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "", "LogPath": log_path,
        "Name": f"/{name}", "RestartCount": 0,
        "Driver": "overlayfs", "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "ExecIDs": None, "HostConfig": host_config, "GraphDriver": {"Name": "overlayfs", "Data": None},
        "Mounts": [], "Config": config,
        "NetworkSettings": {"Bridge": "", "SandboxID": "", "Ports": {}, "Networks": {}},
    }


class State:
    """The typed view of a container record's ``State`` (``State(c)``, or ``State.of(record)``)."""

    __slots__ = ("_s",)

    def __init__(self, c: dict[str, Any]) -> None:
        self._s: dict[str, Any] = c["State"]

    @staticmethod
    def record() -> dict[str, Any]:
        """A new container's ``State`` object: created, never started."""
        return {"Status": "created", "Running": False, "Paused": False, "Restarting": False, "OOMKilled": False,
                "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "", "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME}

    # -- reading -------------------------------------------------------------------

    @property
    def status(self) -> str:
        return str(self._s["Status"])

    @property
    def running(self) -> bool:
        return bool(self._s["Running"])

    @property
    def paused(self) -> bool:
        return bool(self._s["Paused"])

    @property
    def restarting(self) -> bool:
        return bool(self._s.get("Restarting"))

    @property
    def pid(self) -> int:
        return int(self._s["Pid"])

    @property
    def exit_code(self) -> int:
        return int(self._s["ExitCode"])

    @property
    def started_at(self) -> str:
        return str(self._s["StartedAt"])

    @property
    def finished_at(self) -> str:
        return str(self._s["FinishedAt"])

    @property
    def ever_started(self) -> bool:
        return self.started_at != ZERO_TIME

    @property
    def health(self) -> str:
        return str((self._s.get("Health") or {}).get("Status") or "")

    # -- transitions -------------------------------------------------------------------

    def _refuse(self, transition: str) -> errors.Conflict:
        return errors.Conflict(f"a container that is {self.status} cannot be {transition}")

    def started(self, pid: int) -> None:
        """created | exited | restarting -> running: its task runs as ``pid``."""
        if self.running:
            raise self._refuse("started")
        self._s.update(Status="running", Running=True, Paused=False, Restarting=False, Pid=pid, ExitCode=0,
                       Error="", StartedAt=rfc3339(), FinishedAt=ZERO_TIME, OOMKilled=False)

    def start_failed(self, exit_code: int, message: str) -> None:
        """A start whose task did not run: created again if it never ran, exited otherwise (with
        the exit code the failure means: 127 not found, 126 not executable, 128 else)."""
        self._s.update(Status="exited" if self.ever_started else "created", Running=False, Restarting=False,
                       ExitCode=exit_code, Error=message)

    def exited(self, exit_code: int, exited_at: int = 0, oom_killed: bool = False) -> None:
        """running | paused -> exited: the task ended (``exited_at`` in ns, 0 for now)."""
        self._s.update(Status="exited", Running=False, Paused=False, Pid=0, ExitCode=exit_code,
                       FinishedAt=rfc3339(exited_at or None))
        if oom_killed:
            self._s["OOMKilled"] = True

    def lost(self) -> None:
        """running -> exited: its task is gone and its exit unknown (a daemon restart found no task)."""
        self._s.update(Status="exited", Running=False, Paused=False, Pid=0, ExitCode=255, FinishedAt=rfc3339())

    def paused_now(self) -> None:
        """running -> paused."""
        if not self.running:
            raise errors.Conflict("Container is not running")
        if self.paused:
            raise errors.Conflict("Container is already paused")
        self._s.update(Paused=True, Status="paused")

    def resumed(self) -> None:
        """paused -> running."""
        if not self.paused:
            raise errors.Conflict("Container is not paused")
        self._s.update(Paused=False, Status="running")

    def restarting_now(self) -> None:
        """exited -> restarting: the restart policy starts it again after a delay."""
        if self.running:
            raise self._refuse("restarting")
        self._s.update(Restarting=True, Status="restarting")

    def restart_dropped(self) -> None:
        """restarting -> exited: a stop, a removal or a failed restart ends the pending restart."""
        self._s.update(Restarting=False, Status="exited" if self.status == "restarting" else self.status)

    def removing(self) -> None:
        """exited | created -> removing: its record is gone from the API, its resources are being
        freed (the engine has stopped it first)."""
        self._s.update(Status="removing", Restarting=False)

    # -- listing ---------------------------------------------------------------------

    def text(self) -> str:
        """``docker ps``'s STATUS column: "Up 3 minutes (healthy)", "Exited (0) 2 hours ago"."""
        if self.restarting:
            return f"Restarting ({self.exit_code}) {human_duration(self.finished_at)} ago"
        if self.running:
            health = self.health
            suffix = " (Paused)" if self.paused else \
                f" (health: {health})" if health == "starting" else f" ({health})" if health else ""
            return f"Up {human_duration(self.started_at)}{suffix}"
        if self.status == "created":
            return "Created"
        if self.status == "removing":
            return "Removal In Progress"
        if self.finished_at == ZERO_TIME:
            return "Exited"
        return f"Exited ({self.exit_code}) {human_duration(self.finished_at)} ago"


def human_duration(since: str) -> str:
    """The time since an RFC 3339 instant as docker's units.HumanDuration words it."""
    try:
        t = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        return "a while"
    secs = max(0, int((datetime.now(UTC) - t).total_seconds()))
    if secs < 1:
        return "Less than a second"
    if secs < 60:
        return f"{secs} second{'s' if secs != 1 else ''}"
    if secs < 3600:
        m = secs // 60
        return "About a minute" if m == 1 else f"{m} minutes"
    h = secs // 3600
    if h < 48:
        return "About an hour" if h == 1 else f"{h} hours"
    return f"{h // 24} days"


@dataclass
class Live:
    """What the engine holds in memory for a container: attach hub, waiters, its monitor.

    ``lock`` makes the container's state machine: every transition (start, the exit the
    monitor records, a restart, the signal of a stop or kill, a removal) happens under it, one
    at a time, so each sees the state the previous one left. Waiting for an exit happens
    outside it (the monitor needs it to record the exit)."""

    hub: StreamHub = field(default_factory=StreamHub)
    exit_waiters: list[asyncio.Future[int]] = field(default_factory=list)
    removed: asyncio.Event = field(default_factory=asyncio.Event)
    monitor: asyncio.Task[None] | None = None
    copier: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    removal: asyncio.Future[None] | None = None  # a removal in progress: no start, restart or second removal
    stdin: StdinWriter | None = None  # the write end of the stdin FIFO (OpenStdin containers)
    stdin_ready: asyncio.Event = field(default_factory=asyncio.Event)
    restarter: asyncio.Task[None] | None = None
    backoff: float = 0.05
    health: asyncio.Task[None] | None = None
    rootfs: list[Any] = field(default_factory=list)  # the snapshot's mounts, as Prepare gave them

    def next_exit(self) -> asyncio.Future[int]:
        """A future resolved with the exit code of the next exit of the container's task."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.exit_waiters.append(fut)
        return fut

    @property
    def removing(self) -> bool:
        return self.removal is not None and not self.removal.done()

    def resolve_exit(self, exit_code: int) -> None:
        """Every waiter of the next exit gets ``exit_code``."""
        for fut in self.exit_waiters:
            if not fut.done():
                fut.set_result(exit_code)
        self.exit_waiters.clear()


def start_failure_code(err: errors.DockyardError) -> int:
    """The exit code of a container whose process never ran, by the kind of the error (the runtime
    names the kind of a missing or non-executable program): 127 not found, 126 not executable,
    128 any other failure, as dockerd's."""
    if isinstance(err, errors.NotFound):
        return 127
    return 126 if isinstance(err, errors.PermissionDenied) else 128


def restart_delay(c: dict[str, Any], live: Live, exit_code: int) -> float | None:
    """After an exit: the delay before the restart policy starts the container again, or None.
    Docker's policy and backoff: 100 ms doubling per quick failure, reset after 10 s of running,
    at most 1 min."""
    if c.get("HasBeenManuallyStopped") or c["HostConfig"].get("AutoRemove"):
        return None
    policy = c["HostConfig"].get("RestartPolicy") or {}
    name = policy.get("Name") or "no"
    if name == "on-failure":
        limit = int(policy.get("MaximumRetryCount") or 0)
        if exit_code == 0 or (limit and c["RestartCount"] >= limit):
            return None
    elif name not in ("always", "unless-stopped"):
        return None
    state = State(c)
    try:
        ran = parse_rfc3339(state.finished_at) - parse_rfc3339(state.started_at)
    except ValueError:
        ran = 0
    live.backoff = 0.1 if ran >= 10 else min(60.0, max(0.1, live.backoff * 2))
    return live.backoff


def parse_signal(sig: str | int) -> int:
    """A signal by number or name (``9``, ``KILL``, ``SIGKILL``)."""
    if isinstance(sig, int) or str(sig).isdigit():
        return int(sig)
    name = str(sig).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signals.Signals[name])
    except KeyError:
        raise errors.InvalidArgument(f"invalid signal: {sig}") from None
