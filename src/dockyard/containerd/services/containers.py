"""The containers service of dockyard-containerd (gRPC wiring over the library)."""

from __future__ import annotations

import asyncio
from typing import Any

from dockyard import errors
from dockyard.api import pb, rpc
from dockyard.containerd.metadata.db import ContainerRecord
from dockyard.containerd.services.base import (
    Services,
    _container_pb,
    namespace_of,
    translated,
)


class ContainersServicer(rpc.ContainersServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    @translated
    async def Create(self, request: pb.Container, context: Any) -> pb.Container:
        if not request.id:
            raise errors.InvalidArgument("container id must not be empty")
        rec = ContainerRecord(request.id, request.image, request.snapshotter or "overlayfs", request.snapshot_key,
                              request.spec, request.runtime or "dockyard-runc", dict(request.labels))
        return _container_pb(await asyncio.to_thread(self.s.meta.create_container, namespace_of(context), rec))

    @translated
    async def Get(self, request: pb.GetContainerRequest, context: Any) -> pb.Container:
        return _container_pb(await asyncio.to_thread(self.s.meta.get_container, namespace_of(context), request.id))

    @translated
    async def List(self, request: pb.ListContainersRequest, context: Any) -> pb.ListContainersResponse:
        recs = await asyncio.to_thread(self.s.meta.list_containers, namespace_of(context))
        return pb.ListContainersResponse(containers=[_container_pb(c) for c in recs])

    @translated
    async def Delete(self, request: pb.DeleteContainerRequest, context: Any) -> pb.Empty:
        ns = namespace_of(context)
        if self.s.tasks.bundle(ns, request.id).exists():
            raise errors.FailedPrecondition(f"container {request.id!r}: has a task; delete the task first")
        await asyncio.to_thread(self.s.meta.delete_container, ns, request.id)
        return pb.Empty()
