"""The tasks service of dockyard-containerd (gRPC wiring over the library)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from dockyard import errors
from dockyard.api import pb, rpc
from dockyard.containerd.mount import volatile
from dockyard.containerd.services.base import (
    Services,
    _task_pb,
    namespace_of,
    translated,
)
from dockyard.containerd.tasks.manager import Stdio
from dockyard.types import Mount


class TasksServicer(rpc.TasksServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    @translated
    async def Create(self, request: pb.CreateTaskRequest, context: Any) -> pb.TaskState:
        ns = namespace_of(context)
        rec = await asyncio.to_thread(self.s.meta.get_container, ns, request.container_id)
        mounts = [Mount(m.type, m.source, tuple(m.options), m.target) for m in request.rootfs]
        if request.scratch:
            mounts = volatile(mounts)
        stdio = Stdio(request.stdin, request.stdout, request.stderr, request.terminal)
        task = await self.s.tasks.create(ns, rec, mounts, stdio)
        if request.start:
            try:
                task = await self.s.tasks.start(ns, request.container_id)
            except BaseException:
                await self.s.tasks.delete(ns, request.container_id)
                raise
        return _task_pb(task)

    @translated
    async def Start(self, request: pb.TaskRequest, context: Any) -> pb.TaskState:
        return _task_pb(await self.s.tasks.start(namespace_of(context), request.container_id))

    @translated
    async def Kill(self, request: pb.KillRequest, context: Any) -> pb.Empty:
        await self.s.tasks.kill(namespace_of(context), request.container_id, request.signal or 15, request.all,
                                request.exec_id)
        return pb.Empty()

    @translated
    async def Wait(self, request: pb.TaskRequest, context: Any) -> pb.ExitStatus:
        t = await self.s.tasks.wait(namespace_of(context), request.container_id, request.exec_id)
        return pb.ExitStatus(exit_status=t.exit_status, exited_at=t.exited_at, oom_killed=t.oom_killed)

    @translated
    async def Delete(self, request: pb.TaskRequest, context: Any) -> pb.ExitStatus:
        t = await self.s.tasks.delete(namespace_of(context), request.container_id, request.exec_id)
        return pb.ExitStatus(exit_status=t.exit_status, exited_at=t.exited_at, oom_killed=t.oom_killed)

    @translated
    async def State(self, request: pb.TaskRequest, context: Any) -> pb.TaskState:
        return _task_pb(await self.s.tasks.state(namespace_of(context), request.container_id, request.exec_id))

    @translated
    async def Exec(self, request: pb.ExecProcessRequest, context: Any) -> pb.TaskState:
        try:
            process = json.loads(request.spec)
        except ValueError as err:
            raise errors.InvalidArgument(f"exec {request.exec_id}: process spec is not JSON: {err}") from err
        stdio = Stdio(request.stdin, request.stdout, request.stderr, request.terminal)
        return _task_pb(await self.s.tasks.exec(namespace_of(context), request.container_id, request.exec_id,
                                                process, stdio))

    @translated
    async def Pause(self, request: pb.TaskRequest, context: Any) -> pb.Empty:
        await self.s.tasks.call(namespace_of(context), request.container_id, "pause")
        return pb.Empty()

    @translated
    async def Resume(self, request: pb.TaskRequest, context: Any) -> pb.Empty:
        await self.s.tasks.call(namespace_of(context), request.container_id, "resume")
        return pb.Empty()

    @translated
    async def Pids(self, request: pb.TaskRequest, context: Any) -> pb.PidsResponse:
        r = await self.s.tasks.call(namespace_of(context), request.container_id, "pids")
        return pb.PidsResponse(pids=r.get("pids") or [])

    @translated
    async def Stats(self, request: pb.TaskRequest, context: Any) -> pb.JsonBlob:
        r = await self.s.tasks.call(namespace_of(context), request.container_id, "stats")
        return pb.JsonBlob(data=json.dumps(r).encode())

    @translated
    async def Update(self, request: pb.UpdateTaskRequest, context: Any) -> pb.Empty:
        try:
            resources = json.loads(request.resources or b"{}")
        except ValueError as err:
            raise errors.InvalidArgument(f"update: resources are not JSON: {err}") from err
        await self.s.tasks.call(namespace_of(context), request.container_id, "update", resources=resources)
        return pb.Empty()

    @translated
    async def ResizePty(self, request: pb.ResizePtyRequest, context: Any) -> pb.Empty:
        await self.s.tasks.call(namespace_of(context), request.container_id, "resize", width=request.width,
                                height=request.height, exec_id=request.exec_id)
        return pb.Empty()

    @translated
    async def List(self, request: pb.ListTasksRequest, context: Any) -> pb.ListTasksResponse:
        return pb.ListTasksResponse(tasks=[_task_pb(t) for t in await self.s.tasks.list(namespace_of(context))])
