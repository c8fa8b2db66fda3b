"""The engine: Docker's container semantics over dockyard-containerd.

create = image -> snapshot -> OCI spec -> containerd container;
start  = stdio FIFOs -> task create/start -> a monitor that waits for the exit;
the monitor records the exit, deletes the task and honours ``--rm``.
The engine never mounts, unshares or touches cgroups: containerd and the
runtime do.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import signal as signals
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.api import pb
from dockyard.containerd.client import ContainerdClient
from dockyard.engine import names
from dockyard.engine import spec as specs
from dockyard.engine.images import ImageService, rfc3339
from dockyard.engine.store import ContainerStore
from dockyard.engine.streams import STDERR, STDOUT, JsonFileLog, StreamHub, copy_output, open_fifo

log = logging.getLogger("dockyard.engine")

ZERO_TIME = "0001-01-01T00:00:00Z"
NAMESPACE = "moby"


def new_state() -> dict[str, Any]:
    return {"Status": "created", "Running": False, "Paused": False, "Restarting": False, "OOMKilled": False,
            "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "", "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME}


@dataclass
class Live:
    """What the engine holds in memory for a container: attach hub, waiters, its monitor."""

    hub: StreamHub = field(default_factory=StreamHub)
    exit_waiters: list[asyncio.Future[int]] = field(default_factory=list)
    removed: asyncio.Event = field(default_factory=asyncio.Event)
    monitor: asyncio.Task[None] | None = None
    copier: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def next_exit(self) -> asyncio.Future[int]:
        """A future resolved with the exit code of the next exit of the container's task."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.exit_waiters.append(fut)
        return fut


class Engine:
    def __init__(self, data_root: Path, exec_root: Path, containerd_address: str, cgroup_parent: str = "dockyard"):
        self.data_root = data_root
        self.exec_root = exec_root
        self.cgroup_parent = cgroup_parent
        self.cd = ContainerdClient(containerd_address, NAMESPACE)
        self.images = ImageService(self.cd)
        self.store = ContainerStore(data_root / "engine.db")
        self.containers: dict[str, dict[str, Any]] = {c["Id"]: c for c in self.store.all()}
        self.live: dict[str, Live] = {}
        self.started_at = rfc3339()
        self.engine_id = ""

    async def close(self) -> None:
        for live in self.live.values():
            for task in (live.monitor, live.copier):
                if task:
                    task.cancel()
        await self.cd.close()
        self.store.close()

    def _live(self, id: str) -> Live:
        if id not in self.live:
            self.live[id] = Live()
        return self.live[id]

    def _save(self, c: dict[str, Any]) -> None:
        self.store.update(c["Id"], c["Name"].lstrip("/"), c)

    # -- lookup ----------------------------------------------------------------

    def get(self, ref: str) -> dict[str, Any]:
        """By full ID, name, or unambiguous ID prefix, as Docker resolves them."""
        if ref in self.containers:
            return self.containers[ref]
        name = ref.lstrip("/")
        for c in self.containers.values():
            if c["Name"] == f"/{name}":
                return c
        matches = [c for c in self.containers.values() if ref and c["Id"].startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise errors.InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise errors.NotFound(f"No such container: {ref}")

    # -- create ------------------------------------------------------------------

    async def create(self, name: str, config: dict[str, Any], host_config: dict[str, Any]) -> dict[str, Any]:
        image_ref = config.get("Image") or ""
        if not image_ref:
            raise errors.InvalidArgument("config.Image must not be empty")
        image = await self.images.get(image_ref)
        taken = {c["Name"].lstrip("/") for c in self.containers.values()}
        name = names.validate(name) if name else names.generate(taken)
        if name in taken:
            other = next(c["Id"] for c in self.containers.values() if c["Name"] == f"/{name}")
            raise errors.Conflict(f'Conflict. The container name "/{name}" is already in use by container "{other}". '
                                  "You have to remove (or rename) that container to be able to reuse that name.")
        id = secrets.token_hex(32)
        image_config = image.config.get("config") or {}
        spec = specs.build(id, config, host_config, image_config, self.cgroup_parent)
        args = spec["process"]["args"]
        cfg = dict(config)
        cfg.setdefault("Hostname", spec["hostname"])
        cfg["Env"] = [e for e in spec["process"]["env"] if not e.startswith("HOSTNAME=")]
        cfg["Cmd"] = config.get("Cmd") if config.get("Cmd") is not None or config.get("Entrypoint") is not None \
            else image_config.get("Cmd")
        cfg["Entrypoint"] = config.get("Entrypoint") if config.get("Entrypoint") is not None \
            else image_config.get("Entrypoint")
        cfg["WorkingDir"] = spec["process"]["cwd"] if cfg.get("WorkingDir") or image_config.get("WorkingDir") else ""
        cfg.setdefault("Labels", {})
        cfg["Labels"] = {**(image_config.get("Labels") or {}), **(cfg.get("Labels") or {})}
        host = dict(host_config)
        host.setdefault("NetworkMode", "default")
        host.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
        host.setdefault("LogConfig", {"Type": "json-file", "Config": {}})
        container_dir = self.data_root / "containers" / id
        c: dict[str, Any] = {
            "Id": id, "Created": rfc3339(), "Path": args[0], "Args": args[1:], "State": new_state(),
            "Image": image.id, "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "",
            "LogPath": str(container_dir / f"{id}-json.log"), "Name": f"/{name}", "RestartCount": 0,
            "Driver": "overlayfs", "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
            "ExecIDs": None, "HostConfig": host, "GraphDriver": {"Name": "overlayfs", "Data": None},
            "Mounts": [], "Config": {**cfg, "Image": image_ref},
            "NetworkSettings": {"Bridge": "", "SandboxID": "", "Ports": {}, "Networks": {}},
        }
        await self.cd.snapshots.Prepare(pb.PrepareSnapshotRequest(key=id, parent=image.chain_id))
        try:
            import json

            await self.cd.containers.Create(pb.Container(
                id=id, image=image.names[0] if image.names else image.id, snapshotter="overlayfs",
                snapshot_key=id, spec=json.dumps(spec).encode(), runtime="dockyard-runc"))
            container_dir.mkdir(parents=True, exist_ok=True)
            self.store.insert(id, name, c)
        except BaseException:
            await self._remove_resources(id)
            raise
        self.containers[id] = c
        self._live(id)
        return c

    # -- start and the monitor ---------------------------------------------------------

    async def start(self, ref: str) -> None:
        c = self.get(ref)
        live = self._live(c["Id"])
        async with live.lock:
            if c["State"]["Running"]:
                raise errors.FailedPrecondition("container already started")
            await self._start(c, live)

    async def _start(self, c: dict[str, Any], live: Live) -> None:
        id = c["Id"]
        fifo_dir = self.exec_root / "containers" / id
        fifo_dir.mkdir(parents=True, exist_ok=True)
        fds = {STDOUT: open_fifo(fifo_dir / "stdout"), STDERR: open_fifo(fifo_dir / "stderr")}
        live.copier = asyncio.create_task(copy_output(fds, live.hub, JsonFileLog(Path(c["LogPath"]))))
        try:
            mounts = await self.cd.snapshots.Mounts(pb.SnapshotKey(key=id))
            await self.cd.tasks.Create(pb.CreateTaskRequest(
                container_id=id, rootfs=list(mounts.mounts), stdout=str(fifo_dir / "stdout"),
                stderr=str(fifo_dir / "stderr"), terminal=bool(c["Config"].get("Tty"))))
            try:
                state = await self.cd.tasks.Start(pb.TaskRequest(container_id=id))
            except errors.DockyardError:
                await self.cd.tasks.Delete(pb.TaskRequest(container_id=id))
                raise
        except errors.DockyardError as err:
            live.copier.cancel()
            for fd in fds.values():
                _close_quietly(fd)
            message = str(err)
            code = 127 if ("not found" in message or "no such file" in message) else \
                126 if "permission denied" in message else 128
            c["State"].update(Status="created" if c["State"]["StartedAt"] == ZERO_TIME else "exited",
                              ExitCode=code, Error=message)
            self._save(c)
            live.hub.close_all()
            for fut in live.exit_waiters:
                if not fut.done():
                    fut.set_result(code)
            live.exit_waiters.clear()
            raise errors.InvalidArgument(f"failed to create task for container: {err}") from err
        c["State"].update(Status="running", Running=True, Pid=state.pid, ExitCode=0, Error="",
                          StartedAt=rfc3339(), FinishedAt=ZERO_TIME)
        self._save(c)
        live.monitor = asyncio.create_task(self._monitor(c, live))

    async def _monitor(self, c: dict[str, Any], live: Live) -> None:
        id = c["Id"]
        try:
            status = await self.cd.tasks.Wait(pb.TaskRequest(container_id=id))
            exit_code, exited_at = status.exit_status, status.exited_at
        except errors.DockyardError as err:
            log.error("container %s: wait failed: %s", id[:12], err)
            exit_code, exited_at = 255, 0
        try:
            await self.cd.tasks.Delete(pb.TaskRequest(container_id=id))
        except errors.NotFound:
            pass
        except errors.DockyardError as err:
            log.error("container %s: task delete failed: %s", id[:12], err)
        if live.copier:
            try:
                await asyncio.wait_for(asyncio.shield(live.copier), timeout=5)
            except asyncio.TimeoutError:
                log.warning("container %s: output still open 5s after exit; detaching it", id[:12])
                live.copier.cancel()
        live.hub.close_all()
        c["State"].update(Status="exited", Running=False, Pid=0, ExitCode=exit_code,
                          FinishedAt=rfc3339(exited_at or None))
        self._save(c)
        for fut in live.exit_waiters:
            if not fut.done():
                fut.set_result(exit_code)
        live.exit_waiters.clear()
        if c["HostConfig"].get("AutoRemove"):
            try:
                await self.remove(id, force=False)
            except errors.DockyardError as err:
                log.error("container %s: auto-remove failed: %s", id[:12], err)

    async def readopt(self) -> None:
        """After a restart: follow the tasks that kept running, settle the ones that ended."""
        for c in list(self.containers.values()):
            if not c["State"]["Running"]:
                continue
            live = self._live(c["Id"])
            try:
                task = await self.cd.tasks.State(pb.TaskRequest(container_id=c["Id"]))
                alive = task.status in ("running", "created", "paused", "stopped")
            except errors.NotFound:
                alive = False
            if alive:
                fifo_dir = self.exec_root / "containers" / c["Id"]
                fds = {}
                for stream, fname in ((STDOUT, "stdout"), (STDERR, "stderr")):
                    if (fifo_dir / fname).exists():
                        import os

                        fds[stream] = os.open(fifo_dir / fname, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                live.copier = asyncio.create_task(copy_output(fds, live.hub, JsonFileLog(Path(c["LogPath"]))))
                live.monitor = asyncio.create_task(self._monitor(c, live))
            else:
                c["State"].update(Status="exited", Running=False, Pid=0, ExitCode=255, FinishedAt=rfc3339())
                self._save(c)

    # -- stop, kill, wait, remove --------------------------------------------------------

    async def kill(self, ref: str, signal: str | int = "SIGKILL") -> None:
        c = self.get(ref)
        if not c["State"]["Running"]:
            raise errors.Conflict(f"Cannot kill container: {ref}: container {c['Id']} is not running")
        await self.cd.tasks.Kill(pb.KillRequest(container_id=c["Id"], signal=parse_signal(signal)))

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> bool:
        """SIGTERM (or the stop signal), then SIGKILL after the timeout. False if not running."""
        c = self.get(ref)
        if not c["State"]["Running"]:
            return False
        live = self._live(c["Id"])
        sig = signal or c["Config"].get("StopSignal") or "SIGTERM"
        wait = 10 if timeout is None else timeout
        try:
            await self.cd.tasks.Kill(pb.KillRequest(container_id=c["Id"], signal=parse_signal(sig)))
        except errors.NotFound:
            pass
        exited = live.next_exit()
        if wait >= 0:
            try:
                await asyncio.wait_for(asyncio.shield(exited), timeout=wait)
                return True
            except asyncio.TimeoutError:
                pass
        try:
            await self.cd.tasks.Kill(pb.KillRequest(container_id=c["Id"], signal=9, all=True))
        except errors.NotFound:
            pass
        await exited
        return True

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        c = self.get(ref)
        live = self._live(c["Id"])
        if condition == "removed":
            await live.removed.wait()
        elif condition == "next-exit" or c["State"]["Running"]:
            return await live.next_exit()
        elif condition != "not-running":
            raise errors.InvalidArgument(f"invalid condition: {condition!r}")
        return int(c["State"]["ExitCode"])

    async def remove(self, ref: str, force: bool = False) -> None:
        c = self.get(ref)
        id = c["Id"]
        if c["State"]["Running"]:
            if not force:
                raise errors.Conflict(
                    f"cannot remove container \"{c['Name']}\": container is running: stop the container before "
                    "removing or force remove")
            exited = self._live(id).next_exit()
            await self.cd.tasks.Kill(pb.KillRequest(container_id=id, signal=9, all=True))
            await exited
        if self.containers.pop(id, None) is None:
            return  # removed concurrently (auto-remove and docker rm)
        self.store.delete(id)
        await self._remove_resources(id)
        live = self.live.pop(id, None)
        if live:
            live.removed.set()
            live.hub.close_all()

    async def _remove_resources(self, id: str) -> None:
        for call in (lambda: self.cd.containers.Delete(pb.DeleteContainerRequest(id=id)),
                     lambda: self.cd.snapshots.Remove(pb.SnapshotKey(key=id))):
            try:
                await call()
            except errors.NotFound:
                pass
        shutil.rmtree(self.data_root / "containers" / id, ignore_errors=True)
        shutil.rmtree(self.exec_root / "containers" / id, ignore_errors=True)

    # -- listing -----------------------------------------------------------------

    def status_text(self, c: dict[str, Any]) -> str:
        from datetime import datetime, timezone

        s = c["State"]
        if s["Running"]:
            return f"Up {human_duration(s['StartedAt'])}"
        if s["Status"] == "created":
            return "Created"
        if s["FinishedAt"] == ZERO_TIME:
            return "Exited"
        del datetime, timezone
        return f"Exited ({s['ExitCode']}) {human_duration(s['FinishedAt'])} ago"


def human_duration(since: str) -> str:
    from datetime import datetime, timezone

    try:
        t = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        return "a while"
    secs = max(0, int((datetime.now(timezone.utc) - t).total_seconds()))
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


def parse_signal(sig: str | int) -> int:
    if isinstance(sig, int) or str(sig).isdigit():
        return int(sig)
    name = str(sig).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signals.Signals[name])
    except KeyError:
        raise errors.InvalidArgument(f"invalid signal: {sig}") from None


def _close_quietly(fd: int) -> None:
    import os

    try:
        os.close(fd)
    except OSError:
        pass
