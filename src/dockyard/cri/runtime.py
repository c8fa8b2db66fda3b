"""Pods and their containers, on dockyard-containerd's containers, snapshots and tasks.

A pod is a pause container (the sandbox image) whose ID is the pod's: it holds the pod's
IPC, UTS and PID namespaces; the network namespace is a bind-mounted file set up by CNI
before the pause starts. A container of the pod is a containerd container whose spec joins
those namespaces; its task is created and started by StartContainer, and stays (stopped)
after its exit until RemoveContainer, so its exit code and times remain. Every object
lives in containerd's ``k8s.io`` namespace; what the CRI adds is in ``store.py``.

Locks: one per object ID, held by the transitions of that object (a pod's stop takes each
of its containers' locks in turn). Waiting for an exit happens in a monitor per started
container, which records it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import signal
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.api import pb
from dockyard.containerd.client import ContainerdClient
from dockyard.cri import cni, execio, imagevol, metrics
from dockyard.cri import spec as specs
from dockyard.cri.api import api_pb2 as cri
from dockyard.cri.images import CriImages
from dockyard.cri.logs import CriLog, copy_all
from dockyard.cri.podfiles import mount_shm, pod_files, port_mappings, remove_pod_dir, write_pod_files
from dockyard.cri.store import ContainerRecord, SandboxRecord, Table, decode, encode
from dockyard.engine import users
from dockyard.engine.streams import OutputFifo, StdinWriter, StreamHub
from dockyard.fsmode import private_dir

log = logging.getLogger("dockyard.cri")

KIND_LABEL = "io.dockyard.cri.kind"
SANDBOX_LABEL = "io.dockyard.cri.sandbox-id"


@dataclass
class Settings:
    root: Path  # records (store.py)
    run_root: Path  # netns files, FIFOs, pod files
    sandbox_image: str
    cni: cni.Network
    cgroup_parent: str = "dockyard-cri"
    stop_grace: float = 10.0


@dataclass
class Live:
    """What runs in this process for a started container: its log copier and exit monitor, the
    write end of its stdin (``stdin: true``) and the hub that fans its output out to attaches."""

    log: CriLog | None = None
    copier: asyncio.Task[None] | None = None
    monitor: asyncio.Task[None] | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    stdin: StdinWriter | None = None
    hub: StreamHub = field(default_factory=StreamHub)

    def close_stdin(self) -> None:
        if self.stdin is not None:
            self.stdin.close()


def now_ns() -> int:
    return time.time_ns()


class Runtime:
    def __init__(self, settings: Settings, cd: ContainerdClient, images: CriImages) -> None:
        self.s = settings
        self.cd = cd
        self.images = images
        private_dir(settings.root)
        private_dir(settings.run_root)
        self.sandboxes: Table[SandboxRecord] = Table(settings.root / "sandboxes", SandboxRecord)
        self.containers: Table[ContainerRecord] = Table(settings.root / "containers", ContainerRecord)
        self.live: dict[str, Live] = {}
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.events: list[asyncio.Queue[cri.ContainerEventResponse]] = []

    # -- paths -----------------------------------------------------------------------------

    def pod_dir(self, id: str) -> Path:
        return self.s.run_root / "pods" / id

    def netns_path(self, id: str) -> Path:
        return self.s.run_root / "netns" / id

    def userns_path(self, id: str) -> Path:
        return self.s.run_root / "userns" / id

    @property
    def imgvol_root(self) -> Path:
        return self.s.run_root / "imgvol"

    def fifo_dir(self, id: str) -> Path:
        return self.s.run_root / "containers" / id

    def cgroups_path(self, parent: str, id: str) -> str:
        return f"/{(parent or self.s.cgroup_parent).strip('/')}/{id}"

    # -- events ----------------------------------------------------------------------------

    def emit(self, kind: cri.ContainerEventType, c: ContainerRecord | None, sandbox_id: str, id: str) -> None:
        if not self.events:
            return
        ev = cri.ContainerEventResponse(container_id=id, container_event_type=kind, created_at=now_ns())
        sb = self.sandboxes.items.get(sandbox_id)
        if sb is not None:
            ev.pod_sandbox_status.CopyFrom(self.sandbox_status_pb(sb))
        if c is not None:
            ev.containers_statuses.append(self.container_status_pb(c))
        for q in self.events:
            q.put_nowait(ev)

    async def event_stream(self) -> AsyncIterator[cri.ContainerEventResponse]:
        q: asyncio.Queue[cri.ContainerEventResponse] = asyncio.Queue()
        self.events.append(q)
        try:
            while True:
                yield await q.get()
        finally:
            self.events.remove(q)

    # -- start-up ----------------------------------------------------------------------------

    async def recover(self) -> None:
        """After a restart: follow the running containers again (their exits, their output)."""
        for c in list(self.containers.items.values()):
            if not c.started_at or c.finished_at:
                continue
            state = await self._task_state(c.id)
            if state is not None and state.status in ("running", "paused", "created"):
                live = self.live.setdefault(c.id, Live())
                self._follow_output(c, live, reopen=True)
                live.monitor = asyncio.create_task(self._monitor(c.id))
            else:
                self._record_exit(c, state)

    # -- pods ------------------------------------------------------------------------------

    def sandbox(self, id: str) -> SandboxRecord:
        return self.sandboxes.find(id, "pod sandbox")

    async def run_pod(self, config: cri.PodSandboxConfig, handler: str) -> str:
        md = config.metadata
        if not md.name or not md.namespace or not md.uid:
            raise errors.InvalidArgument("pod sandbox metadata needs name, namespace and uid")
        if handler:
            raise errors.InvalidArgument(f"runtime handler {handler!r} is not configured (only the default one)")
        for other in self.sandboxes.items.values():
            om = decode(cri.PodSandboxConfig, other.config).metadata
            if (om.name, om.namespace, om.uid, om.attempt) == (md.name, md.namespace, md.uid, md.attempt):
                raise errors.AlreadyExists(f"pod sandbox {md.name}_{md.namespace}_{md.uid}_{md.attempt} exists "
                                           f"already as {other.id}")
        id = secrets.token_hex(32)
        rec = SandboxRecord(id=id, config=encode(config), created_at=now_ns(), runtime_handler=handler)
        async with self.locks[id]:
            try:
                await self._setup_pod(rec, config)
            except BaseException:
                await self._teardown_pod(rec, config)
                await self._remove_pause(id)
                remove_pod_dir(self.pod_dir(id))
                raise
        return id

    async def _setup_pod(self, rec: SandboxRecord, config: cri.PodSandboxConfig) -> None:
        id = rec.id
        image = await self.images.ensure(self.s.sandbox_image)
        host_net = config.linux.security_context.namespace_options.network == specs.NODE
        maps = specs.userns_maps(config.linux.security_context.namespace_options)
        if not host_net:
            rec.netns = str(self.netns_path(id))
            if maps is None:
                await asyncio.to_thread(cni.create_netns, Path(rec.netns))
            else:
                await asyncio.to_thread(cni.create_userns_netns, self.userns_path(id), Path(rec.netns), *maps)
            rec.network_up = True
            self.sandboxes.save(rec)
            result = await self.s.cni.add(id, rec.netns, port_mappings(config))
            rec.ip, rec.additional_ips = cni.pod_ip(result)
        pod_dir = private_dir(self.pod_dir(id), 0o711)
        write_pod_files(pod_dir, config, rec.ip, host_net)
        shm = pod_dir / "shm"
        shm.mkdir(exist_ok=True)
        await asyncio.to_thread(mount_shm, shm)
        spec = specs.sandbox_spec(id, config, image.config.get("config") or {}, rec.netns,
                                  self.cgroups_path(config.linux.cgroup_parent, id), str(shm),
                                  str(self.userns_path(id)), maps)
        specs.annotate(spec, "sandbox", id)
        snap = await self.cd.snapshots.Prepare(pb.PrepareSnapshotRequest(key=id, parent=image.chain_id))
        await self.cd.containers.Create(pb.Container(
            id=id, image=self.s.sandbox_image, snapshotter="overlayfs", snapshot_key=id,
            spec=json.dumps(spec).encode(), runtime="dockyard-runc", labels={KIND_LABEL: "sandbox"}))
        state = await self.cd.tasks.Create(pb.CreateTaskRequest(container_id=id, rootfs=list(snap.mounts),
                                                                start=True))
        rec.pid = state.pid
        rec.ready = True
        self.sandboxes.save(rec)

    async def _teardown_pod(self, rec: SandboxRecord, config: cri.PodSandboxConfig) -> None:
        """Network and namespace away; nothing to do for what is gone already."""
        if rec.netns:
            if rec.network_up:
                try:
                    await self.s.cni.delete(rec.id, rec.netns, port_mappings(config))
                except errors.DockyardError as err:
                    log.warning("pod %s: cni DEL: %s", rec.id[:12], err)
            await asyncio.to_thread(cni.remove_netns, Path(rec.netns))
        await asyncio.to_thread(cni.remove_netns, self.userns_path(rec.id))  # a pod's own user namespace
        rec.network_up = False

    async def _remove_pause(self, id: str) -> None:
        await self._kill_task(id)
        await self._delete_task(id)
        for call in (self.cd.containers.Delete(pb.DeleteContainerRequest(id=id)),
                     self.cd.snapshots.Remove(pb.SnapshotKey(key=id))):
            try:
                await call
            except errors.NotFound:
                pass

    async def stop_pod(self, id: str) -> None:
        try:
            rec = self.sandbox(id)
        except errors.NotFound:
            return  # idempotent, as the CRI asks
        for c in [c for c in self.containers.items.values() if c.sandbox_id == rec.id]:
            await self.stop_container(c.id, 0)
        async with self.locks[rec.id]:
            config = decode(cri.PodSandboxConfig, rec.config)
            await self._kill_task(rec.id)
            await self._delete_task(rec.id)
            await self._teardown_pod(rec, config)
            rec.ready = False
            self.sandboxes.save(rec)

    async def remove_pod(self, id: str) -> None:
        try:
            rec = self.sandbox(id)
        except errors.NotFound:
            return
        await self.stop_pod(rec.id)
        for c in [c for c in self.containers.items.values() if c.sandbox_id == rec.id]:
            await self.remove_container(c.id)
        async with self.locks[rec.id]:
            await self._remove_pause(rec.id)
            await asyncio.to_thread(remove_pod_dir, self.pod_dir(rec.id))
            self.sandboxes.delete(rec.id)
        self.locks.pop(rec.id, None)

    async def pod_ready(self, rec: SandboxRecord) -> bool:
        if not rec.ready:
            return False
        state = await self._task_state(rec.id)
        return state is not None and state.status == "running"

    # -- containers --------------------------------------------------------------------------

    def container(self, id: str) -> ContainerRecord:
        return self.containers.find(id, "container")

    async def create_container(self, pod_id: str, config: cri.ContainerConfig,
                               sandbox_config: cri.PodSandboxConfig) -> str:
        sb = self.sandbox(pod_id)
        if not config.metadata.name:
            raise errors.InvalidArgument("container metadata needs a name")
        if not config.image.image:
            raise errors.InvalidArgument("container config needs an image")
        if not await self.pod_ready(sb):
            raise errors.FailedPrecondition(f"pod sandbox {sb.id} is not ready")
        md = config.metadata
        for other in self.containers.items.values():
            om = decode(cri.ContainerConfig, other.config).metadata
            if other.sandbox_id == sb.id and (om.name, om.attempt) == (md.name, md.attempt):
                raise errors.AlreadyExists(f"container {md.name}_{md.attempt} exists already in the pod as "
                                           f"{other.id}")
        image = await self.images.get(config.image.image)
        pod_config = decode(cri.PodSandboxConfig, sb.config)
        id = secrets.token_hex(32)
        log_path = ""
        if pod_config.log_directory and config.log_path:
            log_path = os.path.join(pod_config.log_directory, config.log_path)
        await imagevol.mount_all(self.cd, self.images, config, id, self.imgvol_root)
        rec = ContainerRecord(id=id, sandbox_id=sb.id, config=encode(config), image=config.image.image,
                              image_ref=image.id, created_at=now_ns(), log_path=log_path)
        try:
            await self.cd.snapshots.Prepare(pb.PrepareSnapshotRequest(key=id, parent=image.chain_id))
        except BaseException:
            await imagevol.unmount_all(self.cd, id, self.imgvol_root, len(config.mounts))
            raise
        try:
            etc_files = await users.image_files(self.cd, id, image.chain_id)  # read by containerd, once per image
            spec = specs.container_spec(
                id, config, pod_config, image.config.get("config") or {}, sb.pid, sb.netns,
                self.cgroups_path(pod_config.linux.cgroup_parent, id), pod_files(self.pod_dir(sb.id)),
                str(self.pod_dir(sb.id) / "shm"), etc_files)
            specs.annotate(spec, "container", sb.id)
            await self.cd.containers.Create(pb.Container(
                id=id, image=image.names[0] if image.names else image.id, snapshotter="overlayfs",
                snapshot_key=id, spec=json.dumps(spec).encode(), runtime="dockyard-runc",
                labels={KIND_LABEL: "container", SANDBOX_LABEL: sb.id}))
        except BaseException:
            await self.cd.snapshots.Remove(pb.SnapshotKey(key=id))
            await imagevol.unmount_all(self.cd, id, self.imgvol_root, len(config.mounts))
            raise
        user = spec["process"].get("user") or {}
        rec.user = [int(user.get("uid", 0)), int(user.get("gid", 0)), *map(int, user.get("additionalGids") or [])]
        self.containers.save(rec)
        self.emit(cri.CONTAINER_CREATED_EVENT, rec, sb.id, id)
        return id

    async def start_container(self, id: str) -> None:
        c = self.container(id)
        async with self.locks[c.id]:
            if c.started_at:
                raise errors.FailedPrecondition(f"container {c.id} was started already")
            sb = self.sandbox(c.sandbox_id)
            if not await self.pod_ready(sb):
                raise errors.FailedPrecondition(f"pod sandbox {sb.id} is not ready")
            config = decode(cri.ContainerConfig, c.config)
            live = self.live.setdefault(c.id, Live())
            fifos = self._follow_output(c, live, reopen=False, tty=config.tty)
            if config.stdin:
                live.stdin = StdinWriter.create(self.fifo_dir(c.id) / "stdin")
                fifos["stdin"] = str(self.fifo_dir(c.id) / "stdin")
            try:
                mounts = await self.cd.snapshots.Mounts(pb.SnapshotKey(key=c.id))
                state = await self.cd.tasks.Create(pb.CreateTaskRequest(
                    container_id=c.id, rootfs=list(mounts.mounts), stdin=fifos.get("stdin", ""),
                    stdout=fifos.get("stdout", ""),
                    stderr=fifos.get("stderr", ""), terminal=config.tty, start=True))
            except errors.DockyardError as err:
                if live.copier is not None:
                    live.copier.cancel()
                live.close_stdin()
                c.started_at = c.finished_at = now_ns()
                c.exit_code, c.reason, c.message = 128, "StartError", str(err)
                self.containers.save(c)
                raise errors.Internal(f"failed to start container {c.id}: {err}") from err
            c.started_at, c.pid = now_ns(), state.pid
            self.containers.save(c)
            live.monitor = asyncio.create_task(self._monitor(c.id))
        self.emit(cri.CONTAINER_STARTED_EVENT, c, c.sandbox_id, c.id)

    def _follow_output(self, c: ContainerRecord, live: Live, reopen: bool, tty: bool = False) -> dict[str, str]:
        """Open the read ends of the container's output FIFOs and copy them to its log."""
        d = private_dir(self.fifo_dir(c.id))
        names = ["stdout"] if tty else ["stdout", "stderr"]
        if reopen:
            names = [n for n in ("stdout", "stderr") if (d / n).exists()]
        fifos = {n: (OutputFifo.open(d / n) if reopen else OutputFifo.create(d / n)) for n in names}
        live.log = CriLog(c.log_path)
        live.copier = asyncio.create_task(copy_all(fifos, live.log, live.hub))
        if reopen and (d / "stdin").exists():
            live.stdin = StdinWriter(os.open(d / "stdin", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC))
        return {n: str(d / n) for n in names}

    async def _monitor(self, id: str) -> None:
        status: Any = None
        while status is None:
            try:
                status = await self.cd.tasks.Wait(pb.TaskRequest(container_id=id))
            except errors.Unavailable:
                await self.cd.connected()
            except errors.DockyardError as err:
                log.warning("container %s: wait: %s", id[:12], err)
                break
        live = self.live.get(id)
        if live is not None and live.copier is not None:
            try:
                await asyncio.wait_for(asyncio.shield(live.copier), 5)
            except TimeoutError:
                live.copier.cancel()
        c = self.containers.items.get(id)
        if c is not None:
            self._record_exit(c, status)
            self.emit(cri.CONTAINER_STOPPED_EVENT, c, c.sandbox_id, c.id)
        if live is not None:
            live.close_stdin()
            live.exited.set()

    def _record_exit(self, c: ContainerRecord, status: Any) -> None:
        if c.finished_at:
            return
        c.finished_at = int(getattr(status, "exited_at", 0) or 0) or now_ns()
        c.exit_code = int(getattr(status, "exit_status", 255)) if status is not None else 255
        oom = bool(getattr(status, "oom_killed", False))
        c.reason = "OOMKilled" if oom else ("Completed" if c.exit_code == 0 else "Error")
        self.containers.save(c)

    async def stop_container(self, id: str, timeout: int) -> None:
        try:
            c = self.container(id)
        except errors.NotFound:
            return
        async with self.locks[c.id]:
            if not c.started_at or c.finished_at:
                return
            live = self.live.get(c.id)
            stop_signal = await self._stop_signal(c)
            if timeout > 0 and stop_signal != signal.SIGKILL:
                await self._kill_task(c.id, stop_signal)
                if await self._exited(c, live, timeout):
                    return
            await self._kill_task(c.id, signal.SIGKILL)
            await self._exited(c, live, 30)

    async def _exited(self, c: ContainerRecord, live: Live | None, timeout: float) -> bool:
        if live is None:  # no monitor in this process: ask containerd
            try:
                status = await asyncio.wait_for(self.cd.tasks.Wait(pb.TaskRequest(container_id=c.id)), timeout)
            except TimeoutError:
                return False
            except errors.NotFound:
                status = None
            self._record_exit(c, status)
            return True
        try:
            await asyncio.wait_for(live.exited.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def _stop_signal(self, c: ContainerRecord) -> int:
        try:
            image = await self.images.get(c.image_ref)
        except errors.NotFound:
            return signal.SIGTERM
        name = (image.config.get("config") or {}).get("StopSignal") or "SIGTERM"
        try:
            return int(name) if str(name).isdigit() else int(signal.Signals[name if name.startswith("SIG")
                                                                            else f"SIG{name}"])
        except KeyError:
            return signal.SIGTERM

    async def remove_container(self, id: str) -> None:
        try:
            c = self.container(id)
        except errors.NotFound:
            return
        await self.stop_container(c.id, 0)
        async with self.locks[c.id]:
            live = self.live.pop(c.id, None)
            if live is not None:
                live.close_stdin()
            if live is not None and live.monitor is not None and not live.monitor.done():
                live.monitor.cancel()
            await self._delete_task(c.id)
            for call in (self.cd.containers.Delete(pb.DeleteContainerRequest(id=c.id)),
                         self.cd.snapshots.Remove(pb.SnapshotKey(key=c.id))):
                try:
                    await call
                except errors.NotFound:
                    pass
            shutil.rmtree(self.fifo_dir(c.id), ignore_errors=True)
            config = decode(cri.ContainerConfig, c.config)
            if any(m.image.image for m in config.mounts):
                await imagevol.unmount_all(self.cd, c.id, self.imgvol_root, len(config.mounts))
            self.containers.delete(c.id)
        self.locks.pop(c.id, None)
        self.emit(cri.CONTAINER_DELETED_EVENT, None, c.sandbox_id, c.id)

    def container_state(self, c: ContainerRecord) -> cri.ContainerState:
        if c.finished_at:
            return cri.CONTAINER_EXITED
        if c.started_at:
            return cri.CONTAINER_RUNNING
        return cri.CONTAINER_CREATED

    def running(self, id: str) -> ContainerRecord:
        c = self.container(id)
        if self.container_state(c) != cri.CONTAINER_RUNNING:
            raise errors.FailedPrecondition(f"container {c.id} is not running")
        return c

    async def exec_sync(self, id: str, cmd: list[str], timeout: int) -> tuple[bytes, bytes, int]:
        return await execio.exec_sync(self, id, cmd, timeout)

    async def exec_stream(self, id: str, cmd: list[str], tty: bool, io: Any) -> int:
        return await execio.exec_stream(self, id, cmd, tty, io)

    async def attach(self, id: str, io: Any) -> int:
        return await execio.attach(self, id, io)

    async def pod_connect(self, pod_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``localhost:port`` in the pod's network namespace (``PortForward``)."""
        rec = self.sandbox(pod_id)
        if not await self.pod_ready(rec):
            raise errors.FailedPrecondition(f"pod sandbox {rec.id} is not ready")
        if not 0 < port < 65536:
            raise errors.InvalidArgument(f"port {port} is out of range")
        sock = await asyncio.to_thread(cni.socket_in_netns, rec.netns) if rec.netns else None
        if sock is None:
            return await asyncio.open_connection("127.0.0.1", port)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        return await asyncio.open_connection(sock=sock)

    async def update_resources(self, id: str, res: cri.LinuxContainerResources) -> None:
        c = self.container(id)
        resources = specs.resources(res)
        if self.container_state(c) == cri.CONTAINER_RUNNING:
            await self.cd.tasks.Update(pb.UpdateTaskRequest(container_id=c.id,
                                                            resources=json.dumps(resources).encode()))
        config = decode(cri.ContainerConfig, c.config)
        config.linux.resources.MergeFrom(res)
        c.config = encode(config)
        self.containers.save(c)

    def reopen_log(self, id: str) -> None:
        c = self.running(id)
        live = self.live.get(c.id)
        if live is None or live.log is None:
            raise errors.FailedPrecondition(f"container {c.id}: no log is being written")
        live.log.reopen()

    async def pod_metrics(self, rec: SandboxRecord) -> cri.PodSandboxMetrics:
        """``ListPodSandboxMetrics`` of one pod: its network, and each running container's (metrics.py)."""
        config = decode(cri.PodSandboxConfig, rec.config)
        out = cri.PodSandboxMetrics(pod_sandbox_id=rec.id)
        pod = metrics.Labels("POD", rec.id, "", config.metadata.namespace, config.metadata.name)
        if rec.pid and not config.linux.security_context.namespace_options.network == cri.NODE:
            out.metrics.extend(metrics.network(pod, rec.pid))
        for c in [c for c in self.containers.items.values() if c.sandbox_id == rec.id]:
            if self.container_state(c) != cri.CONTAINER_RUNNING:
                continue
            cfg = decode(cri.ContainerConfig, c.config)
            try:
                data = json.loads((await self.cd.tasks.Stats(pb.TaskRequest(container_id=c.id))).data)
                pids = list((await self.cd.tasks.Pids(pb.TaskRequest(container_id=c.id))).pids)
            except errors.NotFound:  # exited meanwhile
                continue
            try:
                usage = await self.cd.snapshots.Usage(pb.SnapshotKey(key=c.id))
                layer: tuple[int, int] | None = (int(usage.size), int(usage.inodes))
            except errors.NotFound:
                layer = None
            labels = metrics.Labels(cfg.metadata.name, c.id, c.image, config.metadata.namespace, config.metadata.name)
            out.container_metrics.append(cri.ContainerMetrics(container_id=c.id, metrics=list(
                metrics.container(labels, data, pids, cfg.linux.resources, c.started_at, layer))))
        return out

    async def stats(self, c: ContainerRecord) -> cri.ContainerStats:
        config = decode(cri.ContainerConfig, c.config)
        attrs = cri.ContainerAttributes(id=c.id, metadata=config.metadata, labels=config.labels,
                                        annotations=config.annotations)
        out = cri.ContainerStats(attributes=attrs)
        ts = now_ns()
        if self.container_state(c) == cri.CONTAINER_RUNNING:
            try:
                data = json.loads((await self.cd.tasks.Stats(pb.TaskRequest(container_id=c.id))).data)
            except errors.DockyardError:
                data = {}
            cpu = ((data.get("cpu") or {}).get("usage") or {}).get("total") or 0
            mem = data.get("memory") or {}
            usage = int((mem.get("usage") or {}).get("usage") or 0)
            inactive = int((mem.get("raw") or mem.get("stats") or {}).get("total_inactive_file") or 0)
            out.cpu.timestamp = ts
            out.cpu.usage_core_nano_seconds.value = int(cpu)
            out.memory.timestamp = ts
            out.memory.working_set_bytes.value = max(0, usage - inactive)
            out.memory.usage_bytes.value = usage
        try:
            usage_pb = await self.cd.snapshots.Usage(pb.SnapshotKey(key=c.id))
            out.writable_layer.timestamp = ts
            out.writable_layer.used_bytes.value = int(usage_pb.size)
            out.writable_layer.inodes_used.value = int(usage_pb.inodes)
        except errors.DockyardError:
            pass
        return out

    # -- containerd helpers -------------------------------------------------------------------

    async def _task_state(self, id: str) -> pb.TaskState | None:
        try:
            return await self.cd.tasks.State(pb.TaskRequest(container_id=id))
        except errors.NotFound:
            return None

    async def _kill_task(self, id: str, sig: int = signal.SIGKILL) -> None:
        try:
            await self.cd.tasks.Kill(pb.KillRequest(container_id=id, signal=int(sig), all=sig == signal.SIGKILL))
        except (errors.NotFound, errors.FailedPrecondition):
            pass

    async def _delete_task(self, id: str) -> None:
        state = await self._task_state(id)
        if state is None:
            return
        if state.status not in ("stopped", "created"):
            try:
                await asyncio.wait_for(self.cd.tasks.Wait(pb.TaskRequest(container_id=id)), 30)
            except (TimeoutError, errors.DockyardError):
                pass
        try:
            await self.cd.tasks.Delete(pb.TaskRequest(container_id=id))
        except errors.NotFound:
            pass

    # -- protobuf views ------------------------------------------------------------------------

    def sandbox_status_pb(self, rec: SandboxRecord, ready: bool | None = None) -> cri.PodSandboxStatus:
        config = decode(cri.PodSandboxConfig, rec.config)
        state = cri.SANDBOX_READY if (rec.ready if ready is None else ready) else cri.SANDBOX_NOTREADY
        net = cri.PodSandboxNetworkStatus(ip=rec.ip, additional_ips=[cri.PodIP(ip=i) for i in rec.additional_ips])
        opts = config.linux.security_context.namespace_options
        ns = cri.Namespace(options=cri.NamespaceOption(network=opts.network, pid=opts.pid, ipc=opts.ipc))
        return cri.PodSandboxStatus(id=rec.id, metadata=config.metadata, state=state, created_at=rec.created_at,
                                    network=net, linux=cri.LinuxPodSandboxStatus(namespaces=ns),
                                    labels=config.labels, annotations=config.annotations,
                                    runtime_handler=rec.runtime_handler)

    def container_status_pb(self, c: ContainerRecord) -> cri.ContainerStatus:
        config = decode(cri.ContainerConfig, c.config)
        mounts = [cri.Mount(container_path=m.container_path, host_path=m.host_path, readonly=m.readonly,
                            propagation=m.propagation, selinux_relabel=m.selinux_relabel,
                            recursive_read_only=m.recursive_read_only, image=m.image if m.image.image else None,
                            image_sub_path=m.image_sub_path)
                  for m in config.mounts]
        status = cri.ContainerStatus(
            id=c.id, metadata=config.metadata, state=self.container_state(c), created_at=c.created_at,
            started_at=c.started_at, finished_at=c.finished_at, exit_code=c.exit_code,
            image=cri.ImageSpec(image=config.image.image, annotations=config.image.annotations),
            image_ref=c.image_ref, image_id=c.image_ref, reason=c.reason, message=c.message,
            labels=config.labels, annotations=config.annotations, mounts=mounts, log_path=c.log_path)
        status.resources.linux.CopyFrom(config.linux.resources)
        if c.user:
            status.user.linux.CopyFrom(cri.LinuxContainerUser(uid=c.user[0], gid=c.user[1],
                                                              supplemental_groups=c.user[2:]))
        return status
