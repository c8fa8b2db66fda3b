"""``--mount type=image`` (API 1.48): an image's filesystem, read-only, at a path of the container.

At create each image mount gets a view snapshot of the image's chain (key ``<id>-image-<n>``; a view
is never collected, and it keeps its parents, so a forced ``rmi`` leaves the mount working) and the
spec mounts what containerd returns for it, as it comes: the view's mounts, or for
``ImageOptions.Subpath`` the mounts of that path inside the view (``Snapshots.SubtreeMounts``,
resolved by containerd as dockerd's safepath resolves it: a symlink may point anywhere inside the
image, never out of it). The engine never sees a snapshotter's directories. As dockerd, a subpath
that is missing or leaves the image fails the start, not the create (``check``)."""

from __future__ import annotations

import posixpath
from typing import Any

from dockyard import errors
from dockyard.api import pb
from dockyard.engine.container import Container


def _mounts_of(c: Container) -> list[dict[str, Any]]:
    return [m for m in c.host_config.mounts or [] if m.get("Type") == "image"]


def _key(id: str, n: int) -> str:
    return f"{id}-image-{n}"


def _subpath(m: dict[str, Any]) -> str:
    subpath = (m.get("ImageOptions") or {}).get("Subpath") or ""
    if subpath and (posixpath.isabs(subpath) or ".." in subpath.split("/")):
        raise errors.InvalidArgument(f"invalid mount config: subpath must be a relative path within the volume: "
                                     f"{subpath!r}")
    return posixpath.normpath(subpath) if subpath else ""


async def prepare(eng: Any, c: Container, spec: dict[str, Any]) -> None:
    """At create: a view per image mount, its spec mounts and its ``Mounts`` record."""
    for n, m in enumerate(_mounts_of(c)):
        subpath = _subpath(m)
        img = await eng.images.get(m.get("Source") or "")
        view = await eng.cd.snapshots.View(pb.PrepareSnapshotRequest(key=_key(c.id, n), parent=img.chain_id))
        mounts = list(view.mounts)
        if subpath:
            try:
                mounts = list((await _subtree(eng, c.id, n, subpath)).mounts)
            except errors.InvalidArgument:
                mounts = []  # the start refuses it (check)
        spec["mounts"] += [_spec_mount(mnt, m["Target"]) for mnt in mounts]
        c.mounts = [*(c.mounts or []), {"Type": "image", "Source": img.id, "Destination": m["Target"], "Mode": "",
                                        "RW": False, "Propagation": "rprivate"}]


async def check(eng: Any, c: Container) -> None:
    """At start: every image mount's subpath exists in the image and stays inside it."""
    for n, m in enumerate(_mounts_of(c)):
        subpath = _subpath(m)
        if subpath:
            await _subtree(eng, c.id, n, subpath)


async def _subtree(eng: Any, id: str, n: int, subpath: str) -> Any:
    return await eng.cd.snapshots.SubtreeMounts(pb.SnapshotPathRequest(key=_key(id, n), path=subpath))


async def remove_views(eng: Any, id: str) -> None:
    """At removal: the container's views (numbered from 0)."""
    n = 0
    while True:
        try:
            await eng.cd.snapshots.Remove(pb.SnapshotKey(key=_key(id, n)))
        except errors.NotFound:
            return
        n += 1


def _spec_mount(mnt: Any, dest: str) -> dict[str, Any]:
    """A mount containerd returned, at ``dest`` of the container: read-only, and a bind private."""
    options = [o for o in mnt.options if o != "rw"]
    if "ro" not in options:
        options.append("ro")
    if mnt.type == "bind" and not any(o.endswith(("private", "shared", "slave")) for o in options):
        options.append("rprivate")
    return {"destination": dest, "type": mnt.type, "source": mnt.source, "options": options}
