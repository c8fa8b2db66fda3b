"""``--pid``/``--ipc container:<id>`` at start: the donor's namespaces are joined by its PID, which
only a running donor has, so dockerd resolves them when the joiner starts, not when it is created.
The containerd container is made again with the spec that names them (dockerd too makes its
containerd container at every start)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from dockyard.api import pb
from dockyard.engine import shm
from dockyard.engine import spec as specs

if TYPE_CHECKING:
    from dockyard.engine.container import Container
    from dockyard.engine.daemon import Engine
    from dockyard.engine.records import HostConfig


def joins_another(host_config: HostConfig) -> bool:
    return any((mode or "").startswith("container:") for mode in (host_config.pid_mode, host_config.ipc_mode))


async def join(eng: Engine, c: Container) -> None:
    """Sets the donors' namespace paths in the container's spec; a donor that does not run is
    refused (``Internal`` for a PID donor, as dockerd's "failed to join PID namespace"). The
    /dev/shm of one joining another's IPC is the donor's tmpfs on the host (engine/shm.py)."""
    if not joins_another(c.host_config):
        return
    record = await eng.cd.containers.Get(pb.GetContainerRequest(id=c.id))
    spec = json.loads(record.spec)
    joined = specs.join_donors(spec, c.host_config.to_json(), eng.get)
    shared = shm.apply(c, spec, eng.get)  # --ipc container:<shareable donor>
    if not joined and not shared:
        return
    await eng.cd.containers.Delete(pb.DeleteContainerRequest(id=c.id))
    await eng.cd.containers.Create(pb.Container(
        id=record.id, image=record.image, snapshotter=record.snapshotter, snapshot_key=record.snapshot_key,
        spec=json.dumps(spec).encode(), runtime=record.runtime, labels=dict(record.labels)))
