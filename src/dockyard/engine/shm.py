"""A ``shareable`` IPC's /dev/shm, as dockerd's setupIPCDirs: a tmpfs mounted on the host at
``<data-root>/containers/<id>/mounts/shm`` when the container starts, bound into it as /dev/shm;
a container started with ``--ipc container:<id>`` binds its donor's (and joins its IPC namespace,
``spec.join_donors``), which must then be ``shareable`` (or the host's, settled at create):
"non-shareable IPC" is refused at start, as dockerd. The mount goes when the container is removed.
A ``private`` IPC keeps the runtime's own tmpfs inside the container, a ``none`` one has none."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard import errors

if TYPE_CHECKING:
    from dockyard.engine.container import Container

DEFAULT_SIZE = 64 * 1024 * 1024  # dockerd's config.DefaultShmSize
_OPTIONS = ["rbind", "nosuid", "nodev", "noexec"]


def path(data_root: Path, id: str) -> Path:
    return data_root / "containers" / id / "mounts" / "shm"


def in_use(host_config: Mapping[str, Any]) -> bool:
    """Does the start need this module: a shareable IPC, or one joined from another container?"""
    mode = host_config.get("IpcMode") or ""
    return mode == "shareable" or mode.startswith("container:")


def _mount(target: Path, size: int) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(target):  # a restart: dockerd mounts it again, this one was never unmounted
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"nosuid,nodev,noexec,mode=1777,size={size}", "shm",
                        str(target)], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise errors.Internal(f"mounting shm tmpfs: {r.stderr.strip()}")


def unmount(data_root: Path, id: str) -> None:
    """At removal, before the container's directory goes: the shareable IPC's tmpfs, if any."""
    target = path(data_root, id)
    if os.path.ismount(target):
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


def _source(data_root: Path, c: Container, lookup: Callable[[str], Container]) -> str:
    """The host directory the container's /dev/shm binds."""
    mode = c.host_config.ipc_mode
    if mode == "shareable":
        _mount(path(data_root, c.id), int(c.host_config.shm_size or DEFAULT_SIZE))
        return str(path(data_root, c.id))
    donor = lookup(mode.partition(":")[2])
    if donor.host_config.ipc_mode == "host":
        return "/dev/shm"
    donor_shm = path(data_root, donor.id)
    if not os.path.ismount(donor_shm):
        raise errors.InvalidArgument(f"container {donor.id}: non-shareable IPC "
                                     "(hint: use IpcMode:shareable for the donor container)")
    return str(donor_shm)


def _users_own(c: Container) -> bool:
    """A /dev/shm the user mounts (-v, --mount, --tmpfs) wins over the IPC's, as dockerd's HasMountFor."""
    listed = any(m.get("Destination") == "/dev/shm" for m in c.mounts or [])
    return listed or "/dev/shm" in (c.host_config.tmpfs or {})


def apply(data_root: Path, c: Container, spec: dict[str, Any], lookup: Callable[[str], Container]) -> bool:
    """At start: the /dev/shm of a shareable or joining container's spec binds the host's tmpfs.
    False if the spec needs no change."""
    if not in_use(c.host_config) or _users_own(c):
        return False
    source = _source(data_root, c, lookup)
    wanted = {"destination": "/dev/shm", "type": "bind", "source": source, "options": list(_OPTIONS)}
    mounts = spec.setdefault("mounts", [])
    if wanted in mounts:
        return False
    at = next((i for i, m in enumerate(mounts) if m.get("destination") == "/dev/shm"), None)
    if at is None:
        mounts.append(wanted)
    else:
        mounts[at] = wanted  # in the default's place: after /dev
    return True
