"""Tasks: the running side of containers, one shim each, or one shim per pod.

A task's bundle lives under ``<state>/tasks/<namespace>/<id>/``: ``config.json``
(from the container record), ``rootfs/`` (the snapshot mounted there),
``shim.pid``, ``init.pid``, ``exit.json``, ``address`` (its shim's socket). Everything
the manager knows can be rebuilt from that directory, which is how a restarted containerd
re-adopts running containers.

Grouping, as containerd's runc v2 shim: a spec annotated with a group
(``io.containerd.runc.v2.group``, else ``io.kubernetes.cri.sandbox-id``, which the CRI puts
on a pod's pause and on each of its containers) has its task added to the shim of that
group when one runs, so a pod of ten containers has one shim. Other tasks (the engine's)
get a shim each.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.containerd.metadata.db import ContainerRecord
from dockyard.containerd.mount import mount_all, unmount_all
from dockyard.containerd.tasks import shm
from dockyard.containerd.tasks.idmap import joined_userns, mount_idmapped
from dockyard.containerd.tasks.shim_client import ShimClient
from dockyard.fsmode import open_private, private_dir
from dockyard.types import Mount

log = logging.getLogger("dockyard.containerd.tasks")

GROUP_ANNOTATIONS = ("io.containerd.runc.v2.group", "io.kubernetes.cri.sandbox-id")


def shim_group(spec: dict[str, Any]) -> str:
    """The group whose shim a task joins ("" for a shim of its own), from the spec's annotations."""
    annotations = spec.get("annotations") or {}
    for key in GROUP_ANNOTATIONS:
        value = annotations.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


@dataclass(frozen=True)
class TaskState:
    id: str
    pid: int
    status: str
    exit_status: int = 0
    exited_at: int = 0
    oom_killed: bool = False


@dataclass(frozen=True)
class Stdio:
    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    terminal: bool = False


def _tool(name: str) -> str:
    """Our own executables sit beside the interpreter running us (venv bin/)."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


@dataclass
class _SharedLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holding or waiting


class TaskManager:
    def __init__(self, state_root: Path, runtime_root: Path) -> None:
        self.root = state_root / "tasks"
        self.runtime_root = runtime_root
        private_dir(self.root)  # bundles: config.json holds the env, rootfs/ the container's setuid files
        private_dir(self.runtime_root)
        self.sockets = private_dir(state_root / "s")
        self.shm_root = private_dir(state_root / "shm")  # shareable IPCs' tmpfs (tasks/shm.py)
        self.template_socket = state_root / "shim-template.sock"
        self._template: asyncio.subprocess.Process | None = None
        self._template_lock = asyncio.Lock()
        self._group_locks: dict[tuple[str, str], _SharedLock] = {}  # only while someone holds or awaits one

    def bundle(self, namespace: str, id: str) -> Path:
        return self.root / namespace / id

    def socket(self, namespace: str, id: str) -> Path:
        """Shim sockets live apart from bundles: a UNIX socket path must stay under 108 bytes."""
        digest = hashlib.sha256(f"{namespace}/{id}".encode()).hexdigest()[:32]
        return self.sockets / digest

    def group_socket(self, namespace: str, group: str) -> Path:
        digest = hashlib.sha256(f"{namespace}\0group\0{group}".encode()).hexdigest()[:32]
        return self.sockets / digest

    def _address(self, namespace: str, id: str) -> Path:
        """The socket of the task's shim: the bundle's ``address``, else (older bundles) its own."""
        try:
            return Path((self.bundle(namespace, id) / "address").read_text().strip())
        except OSError:
            return self.socket(namespace, id)

    def _client(self, namespace: str, id: str) -> ShimClient:
        bundle = self.bundle(namespace, id)
        if not bundle.is_dir():
            raise errors.NotFound(f"task {id!r}: not found")
        return ShimClient(str(self._address(namespace, id)), id)

    async def create(self, namespace: str, container: ContainerRecord, rootfs: list[Mount], stdio: Stdio) -> TaskState:
        bundle = self.bundle(namespace, container.id)
        if bundle.exists():
            raise errors.AlreadyExists(f"task {container.id!r}: already exists")
        bundle.parent.mkdir(exist_ok=True, mode=0o700)
        bundle.mkdir(mode=0o700)
        try:
            spec = json.loads(container.spec)
            spec.setdefault("root", {})["path"] = "rootfs"
            await asyncio.to_thread(shm.prepare, self.shm_root, namespace, container.id, spec)
            with open_private(bundle / "config.json", "w") as f:
                f.write(json.dumps(spec))
            (bundle / "rootfs").mkdir()
            userns = joined_userns(spec)
            if userns is None:
                await asyncio.to_thread(mount_all, rootfs, bundle / "rootfs")
            else:  # a pod's user namespace: its root owns the image through idmapped layers
                await asyncio.to_thread(mount_idmapped, rootfs, bundle / "rootfs", userns)
            sock = await self._shim_for(namespace, container.id, bundle, container.runtime or "dockyard-runc",
                                        shim_group(spec))
            result = await ShimClient(str(sock), container.id).call(
                "create", stdin=stdio.stdin, stdout=stdio.stdout, stderr=stdio.stderr, terminal=stdio.terminal)
        except BaseException:
            await self._cleanup(namespace, container.id)
            raise
        return TaskState(container.id, result["pid"], result["status"])

    async def _shim_for(self, namespace: str, id: str, bundle: Path, runtime: str, group: str) -> Path:
        """The socket of a shim holding the task now (not yet created): its group's shim if one
        runs, else a new one; recorded in the bundle's ``address``."""
        if not group:
            sock = self.socket(namespace, id)
            await self._spawn_shim(namespace, id, bundle, runtime, sock)
        else:
            sock = self.group_socket(namespace, group)
            async with self._group_lock(namespace, group):
                try:
                    await ShimClient(str(sock)).call("add", id=id, bundle=str(bundle), runtime=_tool(runtime),
                                                     runtime_root=str(self.runtime_root / namespace))
                except errors.Unavailable:  # none runs (or it is leaving): this task's shim starts the group
                    await self._spawn_shim(namespace, id, bundle, runtime, sock)
        with open_private(bundle / "address", "w") as f:
            f.write(str(sock))
        return sock

    @contextlib.asynccontextmanager
    async def _group_lock(self, namespace: str, group: str) -> AsyncIterator[None]:
        """One task at a time joins (or starts) a group's shim; the lock is dropped with its last user."""
        key = (namespace, group)
        shared = self._group_locks.setdefault(key, _SharedLock())
        shared.users += 1
        try:
            async with shared.lock:
                yield
        finally:
            shared.users -= 1
            if not shared.users:
                del self._group_locks[key]

    async def _spawn_shim(self, namespace: str, id: str, bundle: Path, runtime: str, sock: Path) -> None:
        args = {"namespace": namespace, "id": id, "bundle": str(bundle), "runtime": _tool(runtime),
                "runtime_root": str(self.runtime_root / namespace), "socket": str(sock)}
        if await self._template_ready():
            try:
                reader, writer = await asyncio.open_unix_connection(str(self.template_socket))
                writer.write(json.dumps(args).encode() + b"\n")
                await writer.drain()
                reply = json.loads(await reader.readline() or b"{}")
                writer.close()
            except (OSError, ValueError) as err:
                reply = {"error": f"shim template: {err}"}
            if reply.get("ok"):
                return
            raise errors.Internal(f"task {id!r}: {reply.get('error', 'shim failed to start')}")
        argv = [f"--{k.replace('_', '-')}={v}" for k, v in args.items()]
        proc = await asyncio.create_subprocess_exec(
            _tool("dockyard-shim"), *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL)
        _, stderr = await proc.communicate()
        if proc.returncode != 0:
            raise errors.Internal(f"task {id!r}: shim failed to start: {stderr.decode().strip()}")

    async def _template_ready(self) -> bool:
        """Start the shim template once (and again if it died); False if it cannot run."""
        async with self._template_lock:
            if self._template is not None and self._template.returncode is None:
                return True
            try:
                self._template = await asyncio.create_subprocess_exec(
                    _tool("dockyard-shim"), "--template", str(self.template_socket),
                    stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
                assert self._template.stdout is not None
                line = await asyncio.wait_for(self._template.stdout.readline(), timeout=20)
            except (TimeoutError, OSError) as err:
                log.warning("shim template unavailable, spawning shims one by one: %s", err)
                return False
            return line.strip() == b"ready"

    async def close(self) -> None:
        if self._template is not None and self._template.returncode is None:
            self._template.terminate()
            await self._template.wait()

    async def start(self, namespace: str, id: str) -> TaskState:
        r = await self._client(namespace, id).call("start")
        return TaskState(id, r["pid"], r["status"], r["exit_status"], r["exited_at"])

    async def state(self, namespace: str, id: str, exec_id: str = "") -> TaskState:
        client = self._client(namespace, id)
        if exec_id:
            r = await client.call("state", exec_id=exec_id)
            return TaskState(id, r["pid"], r["status"], r["exit_status"], r["exited_at"])
        try:
            r = await client.call("state")
        except errors.Unavailable:
            return self._state_from_disk(namespace, id)
        return TaskState(id, r["pid"], r["status"], r["exit_status"], r["exited_at"])

    def _state_from_disk(self, namespace: str, id: str) -> TaskState:
        """A shim that is gone left its verdict in exit.json (or died with the task unknown)."""
        bundle = self.bundle(namespace, id)
        try:
            data = json.loads((bundle / "exit.json").read_text())
            return TaskState(id, 0, "stopped", data["exit_status"], data["exited_at"], bool(data.get("oom_killed")))
        except (OSError, ValueError):
            return TaskState(id, 0, "unknown", 255, 0)

    async def kill(self, namespace: str, id: str, signal: int, all: bool = False, exec_id: str = "") -> None:
        await self._client(namespace, id).call("kill", signal=signal, all=all, exec_id=exec_id)

    async def wait(self, namespace: str, id: str, exec_id: str = "") -> TaskState:
        client = self._client(namespace, id)
        try:
            r = await client.call("wait", exec_id=exec_id) if exec_id else await client.call("wait")
        except errors.Unavailable:
            if exec_id:
                return TaskState(id, 0, "stopped", 255, 0)
            return self._state_from_disk(namespace, id)
        return TaskState(id, 0, "stopped", r["exit_status"], r["exited_at"], bool(r.get("oom_killed")))

    async def exec(self, namespace: str, id: str, exec_id: str, process: dict[str, Any], stdio: Stdio) -> TaskState:
        r = await self._client(namespace, id).call(
            "exec", exec_id=exec_id, process=process, stdin=stdio.stdin, stdout=stdio.stdout, stderr=stdio.stderr,
            terminal=stdio.terminal)
        return TaskState(id, r["pid"], r["status"])

    async def call(self, namespace: str, id: str, method: str, **params: Any) -> dict[str, Any]:
        """The shim verbs that need nothing of the manager: pause, resume, pids, stats, update, resize."""
        return await self._client(namespace, id).call(method, **params)

    async def delete(self, namespace: str, id: str, exec_id: str = "") -> TaskState:
        client = self._client(namespace, id)
        if exec_id:
            r = await client.call("delete", exec_id=exec_id)
            return TaskState(id, 0, "stopped", r["exit_status"], r["exited_at"])
        try:
            r = await client.call("delete")
            state = TaskState(id, 0, "stopped", r["exit_status"], r["exited_at"], bool(r.get("oom_killed")))
        except errors.Unavailable:
            state = self._state_from_disk(namespace, id)
        await self._cleanup(namespace, id)
        return state

    async def release_shm(self, namespace: str, id: str) -> None:
        """At the container's delete: the tmpfs of its shareable IPC (tasks/shm.py) a crash left (the task's
        delete unmounts it otherwise)."""
        await asyncio.to_thread(shm.release, self.shm_root, namespace, id)

    async def list(self, namespace: str) -> list[TaskState]:
        ns_root = self.root / namespace
        if not ns_root.is_dir():
            return []
        return [await self.state(namespace, d.name) for d in sorted(ns_root.iterdir()) if d.is_dir()]

    async def _cleanup(self, namespace: str, id: str) -> None:
        bundle = self.bundle(namespace, id)
        pid_file = bundle / "shim.pid"
        sock = self._address(namespace, id)
        if pid_file.exists() and sock.exists():
            try:
                await ShimClient(str(sock), id).call("shutdown")
            except errors.DockyardError:
                pass  # gone (or left its pod's shim), or still holding a live task: the unmount below reports that
        rootfs = bundle / "rootfs"
        if rootfs.exists():
            await asyncio.to_thread(unmount_all, rootfs)
        await asyncio.to_thread(shm.release, self.shm_root, namespace, id)  # a shareable IPC's, as dockerd at exit
        await asyncio.to_thread(shutil.rmtree, bundle, True)
        try:
            os.rmdir(bundle.parent)
        except OSError:
            pass
