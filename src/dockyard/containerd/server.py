"""The gRPC server of dockyard-containerd: one servicer per service (``containerd/services/``).

Servicers only translate: protobuf in, a call into content / snapshots / metadata /
images / tasks, protobuf out, and errors through one table (``services/base.py``).
"""

from __future__ import annotations

import grpc

from dockyard.api import rpc
from dockyard.containerd.services.base import Services
from dockyard.containerd.services.containers import ContainersServicer
from dockyard.containerd.services.content import ContentServicer
from dockyard.containerd.services.diff import DiffServicer
from dockyard.containerd.services.gc import GCServicer
from dockyard.containerd.services.images import ImagesServicer
from dockyard.containerd.services.leases import LeasesServicer
from dockyard.containerd.services.snapshots import SnapshotsServicer
from dockyard.containerd.services.tasks import TasksServicer
from dockyard.containerd.services.transfer import TransferServicer
from dockyard.containerd.services.version import VersionServicer

__all__ = ["Services", "build_server"]


def build_server(services: Services, address: str) -> grpc.aio.Server:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20),
                                      ("grpc.max_send_message_length", 64 << 20)])
    rpc.add_ContentServicer_to_server(ContentServicer(services), server)
    rpc.add_DiffServicer_to_server(DiffServicer(services), server)
    rpc.add_ImagesServicer_to_server(ImagesServicer(services), server)
    rpc.add_SnapshotsServicer_to_server(SnapshotsServicer(services), server)
    rpc.add_ContainersServicer_to_server(ContainersServicer(services), server)
    rpc.add_TasksServicer_to_server(TasksServicer(services), server)
    rpc.add_VersionServicer_to_server(VersionServicer(), server)
    rpc.add_TransferServicer_to_server(TransferServicer(services), server)
    rpc.add_GCServicer_to_server(GCServicer(services), server)
    rpc.add_LeasesServicer_to_server(LeasesServicer(services), server)
    server.add_insecure_port(address)
    return server


