"""Every message of the dockyard-containerd API (generated modules gathered in one namespace)."""

from dockyard.api.common_pb2 import *  # noqa: F401,F403
from dockyard.api.containers_pb2 import *  # noqa: F401,F403
from dockyard.api.content_pb2 import *  # noqa: F401,F403
from dockyard.api.diff_pb2 import *  # noqa: F401,F403
from dockyard.api.gc_pb2 import *  # noqa: F401,F403
from dockyard.api.images_pb2 import *  # noqa: F401,F403
from dockyard.api.leases_pb2 import *  # noqa: F401,F403
from dockyard.api.snapshots_pb2 import *  # noqa: F401,F403
from dockyard.api.tasks_pb2 import *  # noqa: F401,F403
from dockyard.api.transfer_pb2 import *  # noqa: F401,F403
from dockyard.api.version_pb2 import *  # noqa: F401,F403
