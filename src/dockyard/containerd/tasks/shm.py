"""A shareable IPC's /dev/shm (dockerd's setupIPCDirs), mounted by containerd for the engine.

A container whose spec carries the ``io.dockyard.ipc.shm`` annotation gets its /dev/shm from a
tmpfs on the host at ``<state>/shm/<namespace>/<owner>``, the annotation's value naming the owner:
the container itself (``--ipc shareable``: a new tmpfs is mounted each time its task is created, sized
by the ``size=`` option of the spec's /dev/shm mount) or its IPC donor (``--ipc container:<id>``: the
donor's tmpfs, which must be mounted). The spec's /dev/shm becomes a bind of that tmpfs. The tmpfs is
unmounted when the task is deleted (at its exit, or a failed create), as dockerd's Cleanup unmounts it
at every exit, and at the container's delete (what a crash left); a joiner's bind keeps its files."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.containerd.mount import is_mounted, mount, unmount
from dockyard.types import Mount

ANNOTATION = "io.dockyard.ipc.shm"
DEFAULT_SIZE = 64 * 1024 * 1024  # dockerd's config.DefaultShmSize
_BIND_OPTIONS = ["rbind", "nosuid", "nodev", "noexec"]


def path(root: Path, namespace: str, id: str) -> Path:
    return root / namespace / id


def _size(spec: dict[str, Any]) -> int:
    """The ``size=`` of the spec's /dev/shm tmpfs (the engine's ``--shm-size``)."""
    shm: dict[str, Any] = next((m for m in spec.get("mounts") or [] if m.get("destination") == "/dev/shm"), {})
    sizes = [o.partition("=")[2] for o in shm.get("options") or [] if o.startswith("size=")]
    return int(sizes[-1]) if sizes and sizes[-1].isdigit() else DEFAULT_SIZE


def _mount(target: Path, size: int) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if is_mounted(target):  # left by a crash: each start has a new tmpfs, as dockerd's setupIPCDirs
        unmount(target, detach=True)
    mount(Mount("tmpfs", "shm", ("nosuid", "nodev", "noexec", "mode=1777", f"size={size}")), target)


def prepare(root: Path, namespace: str, id: str, spec: dict[str, Any]) -> None:
    """At task create, before the bundle's config.json is written: the tmpfs of a shareable
    IPC mounted, and the spec's /dev/shm bound to the tmpfs its annotation names."""
    owner = (spec.get("annotations") or {}).get(ANNOTATION)
    if not owner:
        return
    target = path(root, namespace, owner)
    if owner == id:
        _mount(target, _size(spec))
    elif not is_mounted(target):
        raise errors.FailedPrecondition(f"container {owner}: non-shareable IPC")
    bind = {"destination": "/dev/shm", "type": "bind", "source": str(target), "options": list(_BIND_OPTIONS)}
    mounts = spec.setdefault("mounts", [])
    at = next((i for i, m in enumerate(mounts) if m.get("destination") == "/dev/shm"), None)
    if at is None:
        mounts.append(bind)
    else:
        mounts[at] = bind  # in the default's place: after /dev


def release(root: Path, namespace: str, id: str) -> None:
    """At task and container delete: its tmpfs, if it has one (a joiner's bind of it keeps it alive)."""
    target = path(root, namespace, id)
    if is_mounted(target):
        unmount(target, detach=True)
    with contextlib.suppress(OSError):
        target.rmdir()
