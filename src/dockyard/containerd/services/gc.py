"""The GC service of dockyard-containerd: mark and sweep, and fsck (gRPC wiring over ``gc.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

from dockyard.api import pb, rpc
from dockyard.containerd import gc
from dockyard.containerd.services.base import Services, translated


class GCServicer(rpc.GCServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    @translated
    async def Collect(self, request: pb.CollectRequest, context: Any) -> pb.CollectResponse:
        def run() -> gc.GCResult:
            with self.s.gc_lock, self.s.unpack_lock:  # no unpack commits while snapshots are swept
                return gc.collect(self.s.content, self.s.meta, self.s.snapshotter, self.s.lease_manager.live(),
                                  request.dry_run)

        r = await asyncio.to_thread(run)
        return pb.CollectResponse(blobs=r.blobs, snapshots=r.snapshots, reclaimed=r.reclaimed)

    @translated
    async def Fsck(self, request: pb.FsckRequest, context: Any) -> pb.FsckResponse:
        def run() -> list[gc.Problem]:
            with self.s.gc_lock, self.s.unpack_lock:
                return gc.fsck(self.s.content, self.s.meta, self.s.snapshotter, request.repair)

        problems = await asyncio.to_thread(run)
        return pb.FsckResponse(problems=[pb.FsckProblem(kind=p.kind, subject=p.subject, detail=p.detail,
                                                        repaired=p.repaired) for p in problems])
