"""The version service of dockyard-containerd (gRPC wiring over the library)."""

from __future__ import annotations

from typing import Any

from dockyard import __version__
from dockyard.api import pb, rpc


class VersionServicer(rpc.VersionServicer):
    async def Version(self, request: pb.Empty, context: Any) -> pb.VersionResponse:
        return pb.VersionResponse(version=__version__, revision="")
