"""``--mount type=image`` (API 1.48): an image's filesystem, read-only, at a path of the container.

At create each image mount gets a view snapshot of the image's chain (key ``<id>-image-<n>``; a view
is never collected, and it keeps its parents, so a forced ``rmi`` leaves the mount working) and the
spec mounts it: the view's own mount (a bind of its one layer or a read-only overlay of its layers),
or for ``ImageOptions.Subpath`` the path inside the image, resolved across its layers as dockerd's
safepath resolves it (a symlink may point anywhere inside the image, never out of it). As dockerd,
a subpath that is missing or leaves the image fails the start, not the create (``check``)."""

from __future__ import annotations

import os
import posixpath
from typing import Any

from dockyard import errors
from dockyard.api import pb
from dockyard.engine.container import Container

_MAX_LINKS = 255


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
    """At create: a view per image mount, its spec mount and its ``Mounts`` record."""
    for n, m in enumerate(_mounts_of(c)):
        subpath = _subpath(m)
        img = await eng.images.get(m.get("Source") or "")
        view = await eng.cd.snapshots.View(pb.PrepareSnapshotRequest(key=_key(c.id, n), parent=img.chain_id))
        entry = _spec_mount(list(view.mounts), m["Target"], subpath)
        if entry is not None:  # else the start refuses it (check)
            spec["mounts"].append(entry)
        c.mounts = [*(c.mounts or []), {"Type": "image", "Source": img.id, "Destination": m["Target"], "Mode": "",
                                        "RW": False, "Propagation": "rprivate"}]


async def check(eng: Any, c: Container) -> None:
    """At start: every image mount's subpath exists in the image and stays inside it."""
    for n, m in enumerate(_mounts_of(c)):
        subpath = _subpath(m)
        if subpath:
            view = await eng.cd.snapshots.Mounts(pb.SnapshotKey(key=_key(c.id, n)))
            resolve(_layers(list(view.mounts)), subpath)


async def remove_views(eng: Any, id: str) -> None:
    """At removal: the container's views (numbered from 0)."""
    n = 0
    while True:
        try:
            await eng.cd.snapshots.Remove(pb.SnapshotKey(key=_key(id, n)))
        except errors.NotFound:
            return
        n += 1


def _layers(mounts: list[Any]) -> list[str]:
    """The view's layer directories, topmost first."""
    out: list[str] = []
    for mnt in mounts:
        if mnt.type == "bind":
            out.append(mnt.source)
        for opt in mnt.options:
            if opt.startswith("lowerdir="):
                out += opt.removeprefix("lowerdir=").split(":")
    return out


def _spec_mount(mounts: list[Any], dest: str, subpath: str) -> dict[str, Any] | None:
    layers = _layers(mounts)
    if not subpath:
        if len(layers) == 1:
            return {"destination": dest, "type": "bind", "source": layers[0], "options": ["rbind", "ro", "rprivate"]}
        return {"destination": dest, "type": "overlay", "source": "overlay",
                "options": ["ro", "lowerdir=" + ":".join(layers)]}
    try:
        found = resolve(layers, subpath)
    except errors.InvalidArgument:
        return None
    if len(found) == 1:
        return {"destination": dest, "type": "bind", "source": found[0], "options": ["rbind", "ro", "rprivate"]}
    return {"destination": dest, "type": "overlay", "source": "overlay",
            "options": ["ro", "lowerdir=" + ":".join(found)]}


def _lookup(layers: list[str], rel: str) -> list[str]:
    """Where ``rel`` (no symlink left in its parents) is in the merged image: the topmost layer's
    path, and for a directory every layer's copy down to an opaque one (overlay's merge rules)."""
    found: list[str] = []
    for layer in layers:
        path = os.path.join(layer, rel)
        parent, name = os.path.split(path)
        if os.path.lexists(os.path.join(parent, ".wh." + name)):
            break
        if os.path.lexists(path):
            found.append(path)
            if not os.path.isdir(path) or os.path.islink(path):
                break
            if os.path.lexists(os.path.join(path, ".wh..wh..opq")):
                break
    return found[:1] if found and (os.path.islink(found[0]) or not os.path.isdir(found[0])) else found


def resolve(layers: list[str], subpath: str) -> list[str]:
    """``subpath`` inside the merged image, symlinks followed inside it: its layer paths (one for a
    file, every layer's copy for a directory). dockerd's safepath errors when it is missing or a
    symlink takes it out of the image."""
    parts, done, links = subpath.split("/"), "", 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not done:
                raise errors.InvalidArgument(f"path concatenation escapes the base directory, subpath: {subpath}")
            done = posixpath.dirname(done)
            continue
        rel = posixpath.join(done, part)
        found = _lookup(layers, rel)
        if not found:
            raise errors.InvalidArgument(f"cannot access path {subpath}: no such file or directory")
        if os.path.islink(found[0]):
            links += 1
            target = os.readlink(found[0])
            if posixpath.isabs(target) or links > _MAX_LINKS:
                raise errors.InvalidArgument(f"path concatenation escapes the base directory, subpath: {subpath}")
            parts = [*target.split("/"), *parts]
            continue
        done = rel
    if not done:
        return layers
    return _lookup(layers, done)
