"""The Leases service of dockyard-containerd (gRPC wiring over ``containerd/leases.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from dockyard.api import pb, rpc
from dockyard.containerd.remotes.pull import Lease
from dockyard.containerd.services.base import Services, namespace_of, translated

METADATA_KEY = "containerd-lease"  # as containerd: a call made under a lease adds what it creates to it


def lease_of(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == METADATA_KEY:
            return str(value)
    return ""


def _pb(x: Lease) -> pb.Lease:
    return pb.Lease(id=x.id, labels=x.labels, created_at=x.created_at, expires_at=x.expires_at,
                    digests=sorted(x.digests), snapshots=sorted(x.snapshots))


class LeasesServicer(rpc.LeasesServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    @translated
    async def Create(self, request: pb.CreateLeaseRequest, context: Any) -> pb.Lease:
        m = self.s.lease_manager
        return _pb(await asyncio.to_thread(m.create, request.id, dict(request.labels), request.expire_seconds))

    @translated
    async def Delete(self, request: pb.DeleteLeaseRequest, context: Any) -> pb.DeleteLeaseResponse:
        await asyncio.to_thread(self.s.lease_manager.delete, request.id)
        return pb.DeleteLeaseResponse()

    @translated
    async def List(self, request: pb.ListLeasesRequest, context: Any) -> pb.ListLeasesResponse:
        return pb.ListLeasesResponse(leases=[_pb(x) for x in await asyncio.to_thread(self.s.lease_manager.list)])

    @translated
    async def AddResource(self, request: pb.AddLeaseResourceRequest, context: Any) -> pb.Lease:
        ns = namespace_of(context)
        digests = {request.digest} if request.digest else set()
        snaps = {request.snapshot} if request.snapshot else set()
        del ns  # snapshot names in leases are matched across namespaces (as pulls' are), see gc.collect
        return _pb(await asyncio.to_thread(self.s.lease_manager.add, request.id, digests, snaps))
