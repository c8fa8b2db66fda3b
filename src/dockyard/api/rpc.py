"""Every service stub and servicer of the dockyard-containerd API."""

from dockyard.api.containers_pb2_grpc import *  # noqa: F401,F403
from dockyard.api.content_pb2_grpc import *  # noqa: F401,F403
from dockyard.api.diff_pb2_grpc import *  # noqa: F401,F403
from dockyard.api.gc_pb2_grpc import *  # noqa: F401,F403
from dockyard.api.images_pb2_grpc import *  # noqa: F401,F403
from dockyard.api.leases_pb2_grpc import *  # noqa: F401,F403
from dockyard.api.snapshots_pb2_grpc import *  # noqa: F401,F403
from dockyard.api.tasks_pb2_grpc import *  # noqa: F401,F403
from dockyard.api.transfer_pb2_grpc import *  # noqa: F401,F403
from dockyard.api.version_pb2_grpc import *  # noqa: F401,F403
