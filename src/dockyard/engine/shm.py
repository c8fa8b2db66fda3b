"""A ``shareable`` IPC's /dev/shm, as dockerd's setupIPCDirs: a tmpfs on the host bound into the
container as /dev/shm, which containerd mounts anew when the task is created and unmounts when the
task is deleted, at the container's exit, as dockerd (``containerd/tasks/shm.py``); the engine names it in the spec's
``io.dockyard.ipc.shm`` annotation, at create. A container started with ``--ipc container:<id>``
binds its donor's (and joins its IPC namespace, ``spec.join_donors``), which must then be
``shareable`` (or the host's, settled at create): "non-shareable IPC" is refused at start, as
dockerd. A ``private`` IPC keeps the runtime's own tmpfs inside the container, a ``none`` one has none."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dockyard import errors

if TYPE_CHECKING:
    from dockyard.engine.container import Container

ANNOTATION = "io.dockyard.ipc.shm"  # the container whose tmpfs is /dev/shm (read by containerd)
_HOST_OPTIONS = ["rbind", "nosuid", "nodev", "noexec"]


def _users_own(c: Container) -> bool:
    """A /dev/shm the user mounts (-v, --mount, --tmpfs) wins over the IPC's, as dockerd's HasMountFor."""
    listed = any(m.get("Destination") == "/dev/shm" for m in c.mounts or [])
    return listed or "/dev/shm" in (c.host_config.tmpfs or {})


def _shareable(c: Container) -> bool:
    return c.host_config.ipc_mode == "shareable" and not _users_own(c)


def at_create(c: Container, spec: dict[str, Any]) -> None:
    """A shareable container's own tmpfs, named in its spec."""
    if _shareable(c):
        spec.setdefault("annotations", {})[ANNOTATION] = c.id


def apply(c: Container, spec: dict[str, Any], lookup: Callable[[str], Container]) -> bool:
    """At start, of a container joining another's IPC: its /dev/shm is the donor's tmpfs (or the
    host's). False if the spec needs no change."""
    mode = c.host_config.ipc_mode
    if not mode.startswith("container:") or _users_own(c):
        return False
    donor = lookup(mode.partition(":")[2])
    if donor.host_config.ipc_mode == "host":
        wanted = {"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": list(_HOST_OPTIONS)}
        mounts = spec.setdefault("mounts", [])
        if wanted in mounts:
            return False
        at = next((i for i, m in enumerate(mounts) if m.get("destination") == "/dev/shm"), None)
        if at is None:
            mounts.append(wanted)
        else:
            mounts[at] = wanted  # in the default's place: after /dev
        return True
    if not _shareable(donor):
        raise errors.InvalidArgument(f"container {donor.id}: non-shareable IPC "
                                     "(hint: use IpcMode:shareable for the donor container)")
    annotations = spec.setdefault("annotations", {})
    if annotations.get(ANNOTATION) == donor.id:
        return False
    annotations[ANNOTATION] = donor.id
    return True
