"""Image volumes (KEP-4639): a ``Mount`` naming an image instead of a host path gets that image's
filesystem, read-only. Each is a read-only ``View`` snapshot of the image (key
``<container>-imgvol-<n>``) mounted on the host under ``<state>/imgvol/<container>/<n>``, then
bound into the container like any host path (with ``image_sub_path``: that directory of it).
The mounts stay across a restart of dockyard-cri and go with the container."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

from dockyard import errors
from dockyard.api import pb
from dockyard.containerd.client import ContainerdClient
from dockyard.cri import cni
from dockyard.cri.api import api_pb2 as cri
from dockyard.cri.images import CriImages


def _key(container_id: str, n: int) -> str:
    return f"{container_id}-imgvol-{n}"


async def mount_all(cd: ContainerdClient, images: CriImages, config: cri.ContainerConfig, container_id: str,
                    root: Path) -> None:
    """Gives each image mount of ``config`` its host path (and its image's ID as ``image_ref``);
    on failure, undoes what it mounted."""
    try:
        for n, m in enumerate(config.mounts):
            if m.image.image:
                await _mount_one(cd, images, m, container_id, n, root)
    except BaseException:
        await unmount_all(cd, container_id, root, len(config.mounts))
        raise


async def _mount_one(cd: ContainerdClient, images: CriImages, m: cri.Mount, container_id: str, n: int,
                     root: Path) -> None:
    if m.host_path:
        raise errors.InvalidArgument(f"mount {m.container_path!r}: an image volume has no host_path")
    if not m.readonly:
        raise errors.InvalidArgument(f"mount {m.container_path!r}: an image volume must be read-only")
    image = await images.get(m.image.image)
    view = await cd.snapshots.View(pb.PrepareSnapshotRequest(key=_key(container_id, n), parent=image.chain_id))
    target = root / container_id / str(n)
    target.mkdir(parents=True, exist_ok=True)
    for mnt in view.mounts:
        await asyncio.to_thread(_mount, mnt.type, mnt.source, [*mnt.options, "ro"], target)
    host = target / m.image_sub_path.lstrip("/") if m.image_sub_path else target
    if m.image_sub_path and (".." in Path(m.image_sub_path).parts or not host.is_dir()):
        raise errors.InvalidArgument(f"mount {m.container_path!r}: image_sub_path {m.image_sub_path!r} "
                                     f"is not a directory of {m.image.image}")
    m.host_path = str(host)
    m.image.image_ref = image.id


def _mount(kind: str, source: str, options: list[str], target: Path) -> None:
    opts = [o for o in options if o != "rw"]
    if kind == "bind":
        cmd = ["mount", "--bind", source, str(target)]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode == 0:
            cmd = ["mount", "-o", "remount,bind,ro", str(target)]
    else:
        cmd = ["mount", "-t", kind, "-o", ",".join(opts), source, str(target)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise errors.Internal(f"image volume: {' '.join(cmd)}: {r.stderr.strip()}")


async def unmount_all(cd: ContainerdClient, container_id: str, root: Path, count: int) -> None:
    base = root / container_id
    for n in range(count):
        target = base / str(n)
        if await asyncio.to_thread(cni.is_mounted, target):
            r = subprocess.run(["umount", str(target)], capture_output=True, check=False)
            if r.returncode != 0:  # still in use by a process that outlived the container: detach it
                subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)
        try:
            await cd.snapshots.Remove(pb.SnapshotKey(key=_key(container_id, n)))
        except errors.NotFound:
            pass
    shutil.rmtree(base, ignore_errors=True)
