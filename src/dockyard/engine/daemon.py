"""The engine: Docker's container semantics over dockyard-containerd.

create = image -> snapshot -> OCI spec -> containerd container;
start  = stdio FIFOs -> task create/start -> a monitor that waits for the exit;
the monitor records the exit, deletes the task and honours ``--rm``.
The engine never mounts, unshares or touches cgroups: containerd and the
runtime do.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.api import pb
from dockyard.containerd.client import ContainerdClient
from dockyard.engine import (
    container,
    donors,
    health,
    imagemounts,
    logdrivers,
    names,
    resources,
    shm,
    userns,
    users,
    validate,
)
from dockyard.engine import spec as specs
from dockyard.engine.container import Container, Live, parse_signal
from dockyard.engine.events import EventBus
from dockyard.engine.images import ImageService
from dockyard.engine.readopt import create_task, readopt_tasks
from dockyard.engine.store import ContainerStore
from dockyard.engine.streams import (
    STDERR,
    STDOUT,
    StdinWriter,
    copy_output,
    open_fifo,
)
from dockyard.engine.swarm import Swarm
from dockyard.engine.userns import Remap
from dockyard.network.manager import NetworkManager
from dockyard.plugins import managed
from dockyard.plugins.discovery import PluginRegistry
from dockyard.timefmt import rfc3339
from dockyard.volumes.service import VolumeService

log = logging.getLogger("dockyard.engine")

NAMESPACE = "moby"

class Engine:
    build_context_limit: int  # set by engine/main.py from the flags; read by the builder
    build_context_max_files: int
    experimental = False  # --experimental (main.py): /info, /version, build squash

    def __init__(self, data_root: Path, exec_root: Path, containerd_address: str, cgroup_parent: str = "dockyard"):
        self.data_root = data_root
        self.exec_root = exec_root
        self.cgroup_parent = cgroup_parent
        self.userns_remap: Remap | None = None  # --userns-remap (engine/userns.py)
        self.cd = ContainerdClient(containerd_address, NAMESPACE)
        self.images = ImageService(self.cd)
        self.store = ContainerStore(data_root / "engine.db")
        self.containers: dict[str, Container] = {c.id: c for c in self.store.all()}
        self.live: dict[str, Live] = {}
        self.started_at = rfc3339()
        self.engine_id = ""
        self.events = EventBus()
        self.execs: dict[str, Any] = {}  # exec ID -> engine.execs.Exec
        self.builder: Any = None  # builder.executor.Builder, made at the first build (engine/api/build.py)
        self.shutting_down = False
        self._releasing: set[asyncio.Task[None]] = set()  # --rm containers' resources being freed
        # networks and volumes (they get the engine's lookups)
        self.networks = NetworkManager(data_root, exec_root)
        self.networks.get_container = self.get
        self.plugins = PluginRegistry()  # legacy plugins (main.py points it at --plugin-dir)
        self.networks.plugins = self.plugins  # network and IPAM drivers of plugins
        self.volumes = VolumeService(data_root, self.plugins)
        self.managed_plugins = managed.ManagedPlugins(data_root / "plugins", exec_root / "plugins", cgroup_parent, self.plugins)
        self.managed_plugins.cd = ContainerdClient(containerd_address, managed.NAMESPACE)
        self.volumes.get_container = self.get
        self.volumes.containers = lambda: list(self.containers.values())
        self.networks.containers = lambda: list(self.containers.values())  # shared netns
        self.swarm = Swarm(data_root, self)  # before readopt: overlay networks need the swarm's pools

    async def close(self) -> None:
        self.shutting_down = True
        for live in self.live.values():
            for task in (live.monitor, live.copier, live.restarter, live.health):
                if task:
                    task.cancel()
        if self._releasing:  # what removed --rm containers still hold: free it before containerd goes
            await asyncio.wait(list(self._releasing), timeout=10)
        await self.networks.shutdown(any(c.state.running for c in self.containers.values()))
        await self.managed_plugins.cd.close()
        await self.cd.close()
        self.store.close()

    def _live(self, id: str) -> Live:
        if id not in self.live:
            self.live[id] = Live()
        return self.live[id]

    def save(self, c: Container) -> None:
        self.store.update(c)

    # -- lookup ----------------------------------------------------------------

    def get(self, ref: str) -> Container:
        """By full ID, name, or unambiguous ID prefix, as Docker resolves them."""
        if ref in self.containers:
            return self.containers[ref]
        name = ref.lstrip("/")
        for c in self.containers.values():
            if c.name == f"/{name}":
                return c
        matches = [c for c in self.containers.values() if ref and c.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise errors.InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise errors.NotFound(f"No such container: {ref}")

    # -- create ------------------------------------------------------------------

    async def create(self, name: str, config: dict[str, Any], host_config: dict[str, Any],
                     networking: dict[str, Any] | None = None,
                     descriptor: dict[str, Any] | None = None, old_client: bool = False) -> Container:
        """A container of ``config`` and ``host_config``; ``descriptor``: the image manifest's, recorded
        with it as dockerd's ImageManifest (list and inspect, API 1.48); ``old_client``: bindopts.for_client's."""
        image_ref = config.get("Image") or ""
        if not image_ref:
            raise errors.InvalidArgument("config.Image must not be empty")
        image = await self.images.get(image_ref, all_names=False)
        name = names.validate(name) if name else names.generate({c.short_name for c in self.containers.values()})
        names.check_free(self.containers.values(), name)
        id = secrets.token_hex(32)
        image_config = image.config.get("config") or {}
        # on a user-defined network legacy links are the endpoint's (names its DNS resolves), as dockerd:
        # the target may not exist yet, and no environment comes from it
        mode = host_config.get("NetworkMode") or "default"
        user_network = mode not in ("default", "bridge", "host", "none") and not mode.startswith("container:")
        linked = [] if user_network else names.link_env(self.get, name, host_config.get("Links") or [])
        host_config = specs.adapt(host_config, self.get)
        spec = specs.build(id, {**config, "Env": [*linked, *(config.get("Env") or [])]}, host_config, image_config,
                           self.cgroup_parent, self.get)
        remapped = userns.apply(spec, host_config, self.userns_remap)
        args = spec["process"]["args"]
        cfg = container.created_config(config, image_config, spec, linked)
        log_config = await asyncio.to_thread(logdrivers.config, host_config.get("LogConfig"), self.plugins)
        host = container.created_host_config(host_config, log_config)
        container_dir = self.data_root / "containers" / id
        log_path = "" if log_config["Type"] == "local" else str(container_dir / f"{id}-json.log")
        c = Container.new(id, name, args, image.id, cfg, host, log_path)

        async def prepare() -> None:
            # volumes/binds/tmpfs and the netns path and /etc files go into the spec
            users.apply(spec["process"], *await users.resolve_new(
                self.cd, id, image.chain_id, cfg.user, host_config.get("GroupAdd") or []))
            # and new empty volumes get the image's content, which containerd reads from the snapshot
            await self.volumes.prepare(self.cd, id, c, spec, image_config, old_client)
            await imagemounts.prepare(self, c, spec)  # --mount type=image: a view of the image's snapshot
            self.networks.prepare(c, spec, networking, container_dir, image_config)
            if remapped and self.userns_remap:
                userns.own_etc_files(c, self.userns_remap)
            shm.at_create(c, spec)  # --ipc shareable: containerd mounts its /dev/shm tmpfs
            if descriptor:
                c.image_manifest_descriptor = descriptor
            links, mode = c.host_config.links, c.host_config.network_mode or "default"
            if links and mode in ("default", "bridge"):  # "" too
                c.host_config.links = names.stored_links(self.get, name, links)

        labels = self.userns_remap.snapshot_labels() if remapped and self.userns_remap else {}
        await self._record(c, spec, image.chain_id, image.names[0] if image.names else image.id, prepare, labels)
        return c

    async def record_exited(self, id: str, config: dict[str, Any], parent: str, exit_code: int,
                            resources: dict[str, Any] | None = None) -> Container:
        """A build's RUN step that ``rm=false`` keeps, exited with ``exit_code``: image ``config["Image"]``, its
        filesystem a snapshot on ``parent``, HostConfig the build's ``resources`` adapted as at create, network none."""
        host = specs.adapt({**(resources or {}), "NetworkMode": "none"})
        spec = specs.build(id, config, host, {}, self.cgroup_parent)
        c = Container.new(id, names.generate({k.short_name for k in self.containers.values()}),
                          spec["process"]["args"], config["Image"], container.created_config(config, {}, spec, []),
                          container.created_host_config(host, {"Type": "json-file", "Config": {}}),
                          str(self.data_root / "containers" / id / f"{id}-json.log"))
        c.state.started(0)
        c.state.exited(exit_code)
        await self._record(c, spec, parent, config["Image"])
        return c

    async def _record(self, c: Container, spec: dict[str, Any], parent: str, image: str,
                      prepare: Callable[[], Awaitable[None]] | None = None, labels: dict[str, str] | None = None) -> None:
        """What makes a new container: its snapshot on ``parent``, ``prepare`` (what fills in its spec and
        record), its record in containerd and in the store, listed; all of it removed if a step fails."""
        snap = await self.cd.snapshots.Prepare(pb.PrepareSnapshotRequest(key=c.id, parent=parent, labels=labels or {}))
        try:
            (self.data_root / "containers" / c.id).mkdir(parents=True, exist_ok=True)
            if prepare is not None:
                await prepare()
            await self.cd.containers.Create(pb.Container(
                id=c.id, image=image, snapshotter="overlayfs", snapshot_key=c.id, spec=json.dumps(spec).encode(),
                runtime="dockyard-runc"))
            self.store.insert(c)
        except BaseException:
            await self.remove_resources(c.id)
            raise
        self.containers[c.id] = c
        self._live(c.id).rootfs = list(snap.mounts)  # an active snapshot's mounts do not change
        self.emit(c, "create")

    def emit(self, c: Container, action: str, **extra: str) -> None:
        """A container event, with the attributes docker events prints (name, image, labels)."""
        attrs = {**(c.config.labels or {}), "image": c.config.image, "name": c.short_name, **extra}
        self.events.publish("container", action, c.id, attrs)

    # -- start and the monitor ---------------------------------------------------------

    async def start(self, ref: str) -> None:
        c = self.get(ref)
        live = self._live(c.id)
        async with live.lock:
            if live.removing or c.id not in self.containers:
                raise errors.Conflict(f"container {c.id} is marked for removal and cannot be started")
            if c.state.running:
                raise errors.FailedPrecondition("container already started")
            c.unset("HasBeenManuallyStopped")  # not stored as false: the record keeps its old shape
            if live.restarter is not None:
                live.restarter.cancel()
                live.restarter = None
            await self._start(c, live)

    async def _start(self, c: Container, live: Live) -> None:
        await donors.join(self, c)  # --pid/--ipc container:<id>: the donors' namespaces, found at start
        id = c.id
        fifo_dir = self.exec_root / "containers" / id
        fifo_dir.mkdir(parents=True, exist_ok=True)
        tty = bool(c.config.tty)
        log_writer = await logdrivers.writer(self, c)
        fifos = {STDOUT: open_fifo(fifo_dir / "stdout")}
        if not tty:  # a terminal has one output stream
            fifos[STDERR] = open_fifo(fifo_dir / "stderr")
        stdin_path = ""
        if c.config.open_stdin:
            stdin_path = str(fifo_dir / "stdin")
            live.stdin = StdinWriter.create(Path(stdin_path))
        live.copier = asyncio.create_task(copy_output(fifos, live.hub, log_writer))
        try:
            self.volumes.check_at_start(c)  # subpaths and bind propagation, which dockerd checks at start
            await imagemounts.check(self, c)
            await self.networks.attach(c)  # sandbox, endpoints, published ports, DNS
            rootfs = live.rootfs or list((await self.cd.snapshots.Mounts(pb.SnapshotKey(key=id))).mounts)
            # created and started in one call (containerd deletes the task if the start fails)
            state = await create_task(self, pb.CreateTaskRequest(
                container_id=id, rootfs=rootfs, stdin=stdin_path, stdout=str(fifo_dir / "stdout"),
                stderr="" if tty else str(fifo_dir / "stderr"), terminal=tty, start=True))
            if live.stdin is not None:  # the shim holds the read end now: closing ours cannot drop the data
                live.stdin_ready.set()
        except BaseException as err:
            live.copier.cancel()
            for fifo in fifos.values():  # the copier may not have run yet: the FIFOs close here, once
                fifo.close()
            self._close_stdin(live)
            if not isinstance(err, errors.DockyardError):
                raise
            await self.networks.detach(c)
            code = container.start_failure_code(err)
            c.state.start_failed(code, str(err))
            self.save(c)
            live.hub.close_all()
            live.resolve_exit(code)
            if c.host_config.auto_remove:  # --rm: the client waits for the removal, as with dockerd
                asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._auto_remove(id)))
            if isinstance(err, (errors.Conflict, errors.SpecRefused)):  # a donor that does not run (409), a spec (500)
                raise
            raise errors.InvalidArgument(f"failed to create task for container: {err}") from err
        live.task_deleted = False
        c.state.started(state.pid)
        self.save(c)
        live.monitor = asyncio.create_task(self.monitor(c, live))
        self.emit(c, "start")
        self._start_health(c, live)

    async def _auto_remove(self, id: str) -> None:
        try:
            await self.remove(id, force=True)
        except errors.DockyardError as err:
            log.error("container %s: auto-remove failed: %s", id[:12], err)

    def _close_stdin(self, live: Live) -> None:
        if live.stdin is not None:
            live.stdin.close()
            live.stdin = None
        live.stdin_ready.clear()

    def _start_health(self, c: Container, live: Live) -> None:
        if health.config_of(c) is not None:
            live.health = asyncio.create_task(health.monitor(self, c, live))

    async def monitor(self, c: Container, live: Live) -> None:
        status = await self._wait_status(c.id)
        async with live.lock:
            remove = await self._exited(c, live, int(status.exit_status), int(status.exited_at), status.oom_killed)
        if remove:
            await self._auto_remove(c.id)

    async def wait_exit(self, id: str, exec_id: str = "") -> tuple[int, int]:
        status = await self._wait_status(id, exec_id)
        return int(status.exit_status), int(status.exited_at)

    async def _wait_status(self, id: str, exec_id: str = "") -> Any:
        """The exit status and time of the container's task (or of its exec ``exec_id``), and
        whether the OOM killer struck. When containerd goes away meanwhile (its supervisor
        restarts it; the shim keeps the task), the wait is made again once it is back."""
        lost = False
        while True:
            try:
                status = await self.cd.tasks.Wait(pb.TaskRequest(container_id=id, exec_id=exec_id))
                if lost:
                    log.info("container %s: following its task again", id[:12])
                return status
            except errors.Unavailable as err:
                if not lost:
                    log.warning("container %s: containerd went away while waiting for its exit (%s); "
                                "waiting for it to come back", id[:12], err)
                lost = True
                await self.cd.connected()
                await asyncio.sleep(0.05)
            except errors.DockyardError as err:
                log.error("container %s: wait failed: %s", id[:12], err)
                return pb.ExitStatus(exit_status=255)

    async def _exited(self, c: Container, live: Live, exit_code: int, exited_at: int,
                      oom_killed: bool = False) -> bool:
        """The transition at the task's exit (under the lock): running -> exited, restarting, or
        removed (--rm). True when the container is to be removed through ``remove`` (--rm with
        volumes to release)."""
        id = c.id
        # --rm without volumes: the container goes at once; its task is deleted behind (_remove_exited)
        fast_removal = bool(c.host_config.auto_remove) and not c.mounts
        if not fast_removal:
            live.task_deleted = await self.delete_task(id)
        if live.copier:
            try:
                await asyncio.wait_for(asyncio.shield(live.copier), timeout=5)
            except TimeoutError:
                log.warning("container %s: output still open 5s after exit; detaching it", id[:12])
                live.copier.cancel()
            except Exception as err:  # the exit is recorded whatever became of the output
                log.error("container %s: copying its output failed: %r", id[:12], err)
        self._close_stdin(live)
        if live.health is not None:
            live.health.cancel()
            live.health = None
        try:
            await self.networks.detach(c)  # free addresses, ports, links, sandbox
        except errors.DockyardError as err:
            log.error("container %s: network teardown failed: %s", id[:12], err)
        c.state.exited(exit_code, exited_at, oom_killed)
        if oom_killed:  # the run's OOM kill, learnt at its exit: dockerd's oom event comes before die too
            self.emit(c, "oom")
        restart_delay = None if live.removing or self.shutting_down else container.restart_delay(c, live, exit_code)
        self.save(c)
        self.emit(c, "die", exitCode=str(exit_code))
        if restart_delay is None:
            live.hub.close_all()
        live.resolve_exit(exit_code)
        if restart_delay is not None:
            c.state.restarting_now()
            self.save(c)
            live.restarter = asyncio.create_task(self._restart_later(c, live, restart_delay))
            return False
        if fast_removal:
            self._remove_exited(c)
            return False
        return bool(c.host_config.auto_remove)

    async def delete_task(self, id: str) -> bool:
        """The container's task deleted in containerd; False if containerd failed to (logged)."""
        try:
            await self.cd.tasks.Delete(pb.TaskRequest(container_id=id))
        except errors.NotFound:
            pass
        except errors.DockyardError as err:
            log.error("container %s: task delete failed: %s", id[:12], err)
            return False
        return True

    def _remove_exited(self, c: Container) -> None:
        """``--rm`` once the task exited: the container is gone for the API at once (its record,
        its name, ``wait --condition removed``); deleting its task (the shim, the rootfs unmount)
        and its snapshot and directories follows behind, ~8 ms a ``run --rm`` no longer waits
        for. ``close`` waits for it; after a crash ``readopt`` removes what is left."""
        id = c.id
        if not self._unlist(id):
            return  # removed concurrently
        c.state.removing()
        self._announce_removed(c)

        async def release() -> None:
            await self.delete_task(id)
            try:
                await self.remove_resources(id)
            except errors.DockyardError as err:  # readopt removes what is left at the next start
                log.error("container %s: freeing what it held failed: %s", id[:12], err)

        task = asyncio.create_task(release())
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _restart_later(self, c: Container, live: Live, delay: float) -> None:
        await asyncio.sleep(delay)
        async with live.lock:
            if c.id not in self.containers or not c.state.restarting or live.removing:
                return
            c.restart_count += 1
            try:
                await self._start(c, live)
            except errors.DockyardError as err:
                log.error("container %s: restart failed: %s", c.id[:12], err)
                c.state.restart_dropped()
                self.save(c)
                live.hub.close_all()
                return
        # dockerd's restart manager starts the container again: its start event, no restart event

    def _cancel_restart(self, c: Container, live: Live) -> bool:
        """A stop or rm during the backoff wins over the pending restart."""
        if live.restarter is not None and not live.restarter.done():
            live.restarter.cancel()
            live.restarter = None
            c.state.restart_dropped()
            self.save(c)
            live.hub.close_all()
            return True
        return False

    async def readopt(self) -> None:
        """After a restart: follow the tasks that kept running, settle the ones that ended (``readopt.py``)."""
        await readopt_tasks(self)

    # -- stop, kill, wait, remove --------------------------------------------------------

    async def _signal(self, c: Container, live: Live, signo: int, all: bool = False) -> asyncio.Future[int]:
        """Under the lock, of a running container: send ``signo`` to its task; the future of its
        exit. A task that is exiting already (its process finished, its shim going away) needs no
        signal: its exit is on its way to the monitor, which needs the lock to record it."""
        exited = live.next_exit()
        try:
            await self.cd.tasks.Kill(pb.KillRequest(container_id=c.id, signal=signo, all=all))
        except (errors.NotFound, errors.FailedPrecondition):
            pass  # gone, or "container not running" from the runtime: the process has just exited
        except errors.Unavailable:
            if not self.cd.is_connected():  # containerd itself is away, not the task's shim
                raise
        return exited

    async def _exit_of(self, c: Container, exited: asyncio.Future[int], timeout: float = 30) -> int:
        try:
            return await asyncio.wait_for(asyncio.shield(exited), timeout)
        except TimeoutError:
            raise errors.Unavailable(f"container {c.id} did not exit within {timeout:g}s of SIGKILL") from None

    async def kill(self, ref: str, signal: str | int = "SIGKILL") -> None:
        c = self.get(ref)
        live = self._live(c.id)
        signo = parse_signal(signal)
        async with live.lock:
            if not c.state.running:
                raise errors.Conflict(f"Cannot kill container: {ref}: container {c.id} is not running")
            stop_signal = c.config.stop_signal
            if not stop_signal or signo == 9 or parse_signal(stop_signal) == signo:
                c.has_been_manually_stopped = True  # dockerd's ExitOnNext: this exit is not restarted
            exited = await self._signal(c, live, signo)
        self.emit(c, "kill", signal=str(signo))
        if signo == 9:  # dockerd returns from a SIGKILL only once the container is down: clients inspect right after
            try:
                await asyncio.wait_for(asyncio.shield(exited), timeout=10)
            except TimeoutError:
                log.warning("container %s: still running 10s after SIGKILL", c.id[:12])

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        async with self._live(c.id).lock:
            if not c.state.running:
                raise errors.Conflict(f"Container {c.id} is not running")
            if c.state.paused:
                raise errors.Conflict(f"Container {c.id} is already paused")
            await self.cd.tasks.Pause(pb.TaskRequest(container_id=c.id))
            c.state.paused_now()
            self.save(c)
        self.emit(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        async with self._live(c.id).lock:
            if not c.state.paused:
                raise errors.Conflict(f"Container {c.id} is not paused")
            await self._resume(c)

    async def _resume(self, c: Container) -> None:
        """paused -> running (under the lock)."""
        await self.cd.tasks.Resume(pb.TaskRequest(container_id=c.id))
        c.state.resumed()
        self.save(c)
        self.emit(c, "unpause")

    def rename(self, ref: str, new: str) -> None:
        c = self.get(ref)
        new = names.validate(new.lstrip("/"))
        names.check_free(self.containers.values(), new, c.id)
        old = c.name
        c.name = f"/{new}"
        try:
            self.save(c)
        except Exception:
            c.name = old
            raise
        self.emit(c, "rename", oldName=old)

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> bool:
        """SIGTERM (or the stop signal), then SIGKILL after the timeout. False if not running. Events
        as dockerd's: ``kill`` (``signal``) for each signal sent, the task's ``die``, then ``stop``."""
        c = self.get(ref)
        live = self._live(c.id)
        async with live.lock:
            c.has_been_manually_stopped = True
            self.save(c)
            if self._cancel_restart(c, live):
                self.emit(c, "stop")
                return True
            if not c.state.running:
                return False
            if c.state.paused:  # a frozen process never sees the signal: thaw it first, as dockerd does
                await self._resume(c)
            signo = parse_signal(signal or c.config.stop_signal or "SIGTERM")
            exited = await self._signal(c, live, signo)
            self.emit(c, "kill", signal=str(signo))  # under the lock: before the monitor's die
        if timeout is None:
            timeout = c.config.stop_timeout
        wait = 10 if timeout is None else timeout
        try:  # a negative timeout waits for the exit as long as it takes, as dockerd's
            await asyncio.wait_for(asyncio.shield(exited), timeout=wait if wait >= 0 else None)
        except TimeoutError:
            async with live.lock:
                if c.state.running:
                    await self._signal(c, live, 9, all=True)
                    self.emit(c, "kill", signal="9")
            await self._exit_of(c, exited)
        self.emit(c, "stop")
        return True

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        c = self.get(ref)
        live = self._live(c.id)
        if condition == "removed":
            await live.removed.wait()
        elif condition == "next-exit" or c.state.running:
            return await live.next_exit()
        elif condition != "not-running":
            raise errors.InvalidArgument(f"invalid condition: {condition!r}")
        return int(c.state.exit_code)

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        live = self._live(c.id)
        if live.removing:
            if not force:
                raise errors.Conflict(f"removal of container {c.name.lstrip('/')} is already in progress")
            assert live.removal is not None
            await asyncio.shield(live.removal)  # gone is what a forced removal asks for
            return
        live.removal = asyncio.ensure_future(self._remove(c, live, force, volumes))
        await live.removal

    async def _remove(self, c: Container, live: Live, force: bool, volumes: bool) -> None:
        """running/restarting -> (forced: SIGKILL, exit) -> removed. A container that is exiting or
        has exited on its own meanwhile is stopped already: nothing to signal, its exit awaited."""
        id = c.id
        async with live.lock:
            if (c.state.running or c.state.restarting) and not force:
                what = "restarting" if c.state.restarting else "running"
                raise errors.Conflict(
                    f"cannot remove container \"{c.name}\": container is {what}: stop the container before "
                    "removing or force remove")
            self._cancel_restart(c, live)
            exited = None
            if c.state.running:
                c.has_been_manually_stopped = True
                if c.state.paused:
                    await self._resume(c)
                exited = await self._signal(c, live, 9, all=True)
        if exited is not None:
            await self._exit_of(c, exited)
        async with live.lock:
            if not self._unlist(id):
                return  # removed concurrently (--rm)
            c.state.removing()
        if not live.task_deleted:  # the monitor deleted it at the exit, unless containerd was away then
            await self.delete_task(id)
        await self.remove_resources(id)
        await asyncio.to_thread(self.volumes.release, c, volumes or bool(c.host_config.auto_remove))
        self._announce_removed(c)

    def _unlist(self, id: str) -> bool:
        """Drop the container's record (and so its name); False if it was gone already."""
        if self.containers.pop(id, None) is None:
            return False
        self.store.delete(id)
        return True

    def _announce_removed(self, c: Container) -> None:
        """``wait --condition removed`` returns, attached streams end, the ``destroy`` event."""
        live = self.live.pop(c.id, None)
        if live:
            live.removed.set()
            live.hub.close_all()
        self.emit(c, "destroy")

    async def remove_resources(self, id: str, snapshot_key: str = "") -> None:
        """The container's record and snapshot (``snapshot_key``, by default its ID) in
        containerd and its directories, all at once (none depends on another)."""
        async def quietly(call: Any) -> None:
            try:
                await call
            except errors.NotFound:
                pass

        def directories() -> None:
            shutil.rmtree(self.data_root / "containers" / id, ignore_errors=True)
            shutil.rmtree(self.exec_root / "containers" / id, ignore_errors=True)

        await asyncio.gather(quietly(self.cd.containers.Delete(pb.DeleteContainerRequest(id=id))),
                             quietly(self.cd.snapshots.Remove(pb.SnapshotKey(key=snapshot_key or id))),
                             imagemounts.remove_views(self, id),
                             asyncio.to_thread(directories))

    # -- what routes change ------------------------------------------------------------

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        """``POST /containers/{id}/restart``: stopped (an ``--rm`` container is kept, as by dockerd) and
        started again; the ``restart`` event once done."""
        host = self.get(ref).host_config
        auto_remove, host.auto_remove = host.auto_remove, False
        try:
            await self.stop(ref, timeout)
        finally:
            host.auto_remove = auto_remove
        await self.start(ref)
        self.emit(self.get(ref), "restart")

    def live_of(self, id: str) -> Live:
        """What the engine holds in memory for a container (lock, monitor, attach hub, stdin): attach, logs, readopt."""
        return self._live(id)

    def remove_link(self, ref: str, alias: str) -> None:
        """``DELETE /containers/{parent}/{alias}?link=1``: drop the legacy link named ``alias``."""
        c = self.get(ref)
        links = c.host_config.links or []
        kept = [ln for ln in links if names.split_link(ln)[1] != alias]
        if len(kept) == len(links):
            raise errors.NotFound(f"Could not find link: {c.name}/{alias}")
        c.host_config.links = kept or None
        self.save(c)

    async def connect_network(self, ref: str, network: str, endpoint: dict[str, Any]) -> None:
        """``POST /networks/{id}/connect``: an endpoint on ``network`` (joined now if it runs)."""
        c = self.get(ref)
        await asyncio.shield(self.networks.connect(c, network, endpoint))
        self.save(c)

    async def disconnect_network(self, ref: str, network: str) -> None:
        """``POST /networks/{id}/disconnect``."""
        c = self.get(ref)
        await asyncio.shield(self.networks.disconnect(c, network))
        self.save(c)

    async def update_resources(self, ref: str, body: dict[str, Any]) -> list[str]:
        """``POST /containers/{id}/update``: the limits applied to a running task, then recorded; the
        warnings dockerd gives."""
        c = self.get(ref)
        warnings = validate.container_update(body, c.host_config)
        res = resources.of_update(body)
        if res and c.state.running:
            await self.cd.tasks.Update(pb.UpdateTaskRequest(container_id=c.id, resources=json.dumps(res).encode()))
        resources.record_update(c.host_config, body)
        self.save(c)
        self.emit(c, "update")
        return warnings
