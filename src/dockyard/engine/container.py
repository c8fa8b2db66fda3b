"""A container in the engine: its ``State`` and the transitions of its life, and what the engine
holds in memory for it (``Live``).

The life of a container, as moby's ``container.State`` has it::

    created -> running <-> paused
                  |  \\-> restarting -> running (the restart policy) | exited (a stop, a failed start)
                  v
               exited -> running (start) ... -> removing

A ``Container`` is the engine's typed record of a container (moby's ``container.Container``): its
``State``, ``Config`` and ``HostConfig`` (``engine/records.py``) and the fields inspect shows, kept by
the store as that JSON and rendered for the API by ``engine/api/render.py`` alone. ``State`` has one
method per transition, each refusing what its state does not allow (``errors.Conflict``); the engine
moves a container's state only through these methods (``engine/daemon.py``).
"""

from __future__ import annotations

import asyncio
import signal as signals
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dockyard import errors
from dockyard.engine.records import Config, HostConfig, NetworkSettings, Record
from dockyard.engine.streams import StdinWriter, StreamHub
from dockyard.timefmt import parse_rfc3339, rfc3339

ZERO_TIME = "0001-01-01T00:00:00Z"


class State(Record):
    """A container's ``State`` (moby's ``container.State``): typed fields to read, one method per
    transition."""

    KEYS = ("Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode", "Error",
            "StartedAt", "FinishedAt", "Health")

    status: str = "created"
    running: bool = False
    paused: bool = False
    restarting: bool = False
    oom_killed: bool = False
    dead: bool = False
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    health: dict[str, Any] | None = None  # engine/health.py: Status, FailingStreak, Log

    @classmethod
    def new(cls) -> State:
        """A new container's state: created, never started (every field but Health present)."""
        return cls({"Status": "created", "Running": False, "Paused": False, "Restarting": False,
                    "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
                    "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME})

    @property
    def ever_started(self) -> bool:
        return self.started_at != ZERO_TIME

    @property
    def health_status(self) -> str:
        return str((self.health or {}).get("Status") or "")

    # -- transitions -------------------------------------------------------------------

    def _refuse(self, transition: str) -> errors.Conflict:
        return errors.Conflict(f"a container that is {self.status} cannot be {transition}")

    def started(self, pid: int) -> None:
        """created | exited | restarting -> running: its task runs as ``pid``."""
        if self.running:
            raise self._refuse("started")
        self.status, self.running, self.paused, self.restarting = "running", True, False, False
        self.pid, self.exit_code, self.error, self.oom_killed = pid, 0, "", False
        self.started_at, self.finished_at = rfc3339(), ZERO_TIME

    def start_failed(self, exit_code: int, message: str) -> None:
        """A start whose task did not run: created again if it never ran, exited otherwise (with
        the exit code the failure means: 127 not found, 126 not executable, 128 else)."""
        self.status = "exited" if self.ever_started else "created"
        self.running, self.restarting, self.exit_code, self.error = False, False, exit_code, message

    def exited(self, exit_code: int, exited_at: int = 0, oom_killed: bool = False) -> None:
        """running | paused -> exited: the task ended (``exited_at`` in ns, 0 for now)."""
        self.status, self.running, self.paused, self.pid, self.exit_code = "exited", False, False, 0, exit_code
        self.finished_at = rfc3339(exited_at or None)
        if oom_killed:
            self.oom_killed = True

    def lost(self) -> None:
        """running -> exited: its task is gone and its exit unknown (a daemon restart found no task)."""
        self.status, self.running, self.paused, self.pid, self.exit_code = "exited", False, False, 0, 255
        self.finished_at = rfc3339()

    def paused_now(self) -> None:
        """running -> paused."""
        if not self.running:
            raise errors.Conflict("Container is not running")
        if self.paused:
            raise errors.Conflict("Container is already paused")
        self.paused, self.status = True, "paused"

    def resumed(self) -> None:
        """paused -> running."""
        if not self.paused:
            raise errors.Conflict("Container is not paused")
        self.paused, self.status = False, "running"

    def restarting_now(self) -> None:
        """exited -> restarting: the restart policy starts it again after a delay."""
        if self.running:
            raise self._refuse("restarting")
        self.restarting, self.status = True, "restarting"

    def restart_dropped(self) -> None:
        """restarting -> exited: a stop, a removal or a failed restart ends the pending restart."""
        if self.status == "restarting":
            self.status = "exited"
        self.restarting = False

    def removing(self) -> None:
        """exited | created -> removing: its record is gone from the API, its resources are being
        freed (the engine has stopped it first)."""
        self.status, self.restarting = "removing", False

    # -- listing ---------------------------------------------------------------------

    def text(self) -> str:
        """``docker ps``'s STATUS column: "Up 3 minutes (healthy)", "Exited (0) 2 hours ago"."""
        if self.restarting:
            return f"Restarting ({self.exit_code}) {human_duration(self.finished_at)} ago"
        if self.running:
            health = self.health_status
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



class Container(Record):
    """A container as the engine records it: the fields of Docker's inspect, typed (``NetworkSettings``
    written by the network package, its endpoints JSON; ``Mounts``, the volumes package's, JSON); what the engine
    alone needs (``HasBeenManuallyStopped``, as dockerd's on-disk config) is not rendered."""

    KEYS = ("Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath", "HostsPath",
            "LogPath", "Name", "RestartCount", "Driver", "Platform", "MountLabel", "ProcessLabel", "AppArmorProfile",
            "ExecIDs", "HostConfig", "GraphDriver", "Mounts", "Config", "NetworkSettings", "ImageManifestDescriptor",
            "HasBeenManuallyStopped")
    NESTED = {"State": State.of, "Config": Config.of, "HostConfig": HostConfig.of,
              "NetworkSettings": NetworkSettings.of}

    id: str = ""
    created: str = ZERO_TIME
    path: str = ""
    args: list[str] | None = None
    state: State
    image: str = ""  # the image's ID (Config.Image is the reference the client gave)
    resolv_conf_path: str = ""
    hostname_path: str = ""
    hosts_path: str = ""
    log_path: str = ""
    name: str = ""  # "/name"
    restart_count: int = 0
    driver: str = ""
    platform: str = ""
    mount_label: str = ""
    process_label: str = ""
    app_armor_profile: str = ""
    exec_ids: list[str] | None = None
    host_config: HostConfig
    graph_driver: dict[str, Any] | None = None
    mounts: list[dict[str, Any]] | None = None
    config: Config
    network_settings: NetworkSettings
    image_manifest_descriptor: dict[str, Any] | None = None
    has_been_manually_stopped: bool = False

    def __init__(self, doc: dict[str, Any] | None = None) -> None:
        super().__init__(doc)
        for key, empty in (("State", State.new), ("Config", Config), ("HostConfig", HostConfig),
                           ("NetworkSettings", NetworkSettings)):
            if not self.has(key):
                self.set(key, empty())

    @classmethod
    def new(cls, id: str, name: str, args: list[str], image_id: str, config: Config, host_config: HostConfig,
            log_path: str) -> Container:
        """A new container: created, never started; the network, volume and /etc fields are filled in at
        create by their owners."""
        return cls({"Id": id, "Created": rfc3339(), "Path": args[0], "Args": args[1:], "State": State.new(),
                    "Image": image_id, "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "", "LogPath": log_path,
                    "Name": f"/{name}", "RestartCount": 0, "Driver": "overlayfs", "Platform": "linux",
                    "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
                    "HostConfig": host_config, "GraphDriver": {"Name": "overlayfs", "Data": None}, "Mounts": [],
                    "Config": config, "NetworkSettings": {"Bridge": "", "SandboxID": "", "Ports": {}, "Networks": {}}})

    @property
    def short_name(self) -> str:
        """The name without its leading slash."""
        return self.name.lstrip("/")



def created_config(config: dict[str, Any], image_config: dict[str, Any], spec: dict[str, Any],
                   linked: list[str]) -> Config:
    """The ``Config`` recorded at create: the client's, with what dockerd takes from the image (its
    ``Cmd`` and ``Entrypoint`` unless the client gave either, ``User``, ``WorkingDir``, labels, the
    healthcheck fields ``--health-*`` left unset) and from the OCI spec built of them (the environment
    but ``HOSTNAME`` and the links', the hostname)."""
    cfg = Config(config)
    if not cfg.has("Hostname"):
        cfg.hostname = spec["hostname"]
    cfg.env = [e for e in spec["process"]["env"] if not e.startswith("HOSTNAME=") and e not in linked]
    given = config.get("Cmd") is not None or config.get("Entrypoint") is not None
    cfg.cmd = config.get("Cmd") if given else image_config.get("Cmd")
    entrypoint = config.get("Entrypoint")
    cfg.entrypoint = entrypoint if entrypoint is not None else image_config.get("Entrypoint")
    cfg.working_dir = spec["process"]["cwd"] if cfg.working_dir or image_config.get("WorkingDir") else ""
    cfg.user = config.get("User") or image_config.get("User") or ""
    if not cfg.has("Labels"):
        cfg.labels = {}
    if image_config.get("Healthcheck"):
        cfg.healthcheck = {**image_config["Healthcheck"], **{k: v for k, v in (cfg.healthcheck or {}).items() if v}}
    cfg.labels = {**(image_config.get("Labels") or {}), **(cfg.labels or {})}
    return cfg


def created_host_config(host_config: dict[str, Any], log_config: dict[str, Any]) -> HostConfig:
    """The ``HostConfig`` recorded at create (after ``spec.adapt``'s defaults): the default network and
    restart policy, the log driver's config, Docker's name of the default runtime (ours is dockyard-runc)."""
    host = HostConfig(host_config)
    if not host.has("NetworkMode"):
        host.network_mode = "default"
    if not host.has("RestartPolicy"):
        host.restart_policy = {"Name": "no", "MaximumRetryCount": 0}
    host.log_config = log_config
    if (host.runtime or "runc") not in ("runc", "dockyard-runc"):
        raise errors.InvalidArgument(f"unknown or invalid runtime name: {host.runtime}")
    host.runtime = "runc"
    return host

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
    task_deleted: bool = False  # the monitor deleted the exited task: a removal has none to delete

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


def restart_delay(c: Container, live: Live, exit_code: int) -> float | None:
    """After an exit: the delay before the restart policy starts the container again, or None.
    Docker's policy and backoff: 100 ms doubling per quick failure, reset after 10 s of running,
    at most 1 min."""
    if c.has_been_manually_stopped or c.host_config.auto_remove:
        return None
    policy = c.host_config.restart_policy or {}
    name = c.host_config.restart_policy_name
    if name == "on-failure":
        limit = int(policy.get("MaximumRetryCount") or 0)
        if exit_code == 0 or (limit and c.restart_count >= limit):
            return None
    elif name not in ("always", "unless-stopped"):
        return None
    try:
        ran = parse_rfc3339(c.state.finished_at) - parse_rfc3339(c.state.started_at)
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
