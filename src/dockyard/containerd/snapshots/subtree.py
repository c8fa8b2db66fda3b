"""The mounts that show one path of a view, for ``Snapshots.SubtreeMounts``.

A ``--mount type=image`` with a subpath mounts a directory or file of an image, not its root.
The snapshotter's own mounts of the view (a read-only bind of its one layer, or an overlay of
its layers) say where its layers are; the path is resolved across them with overlay's merge
rules (a whiteout hides, an opaque directory stops the descent; both in overlay form, as the
overlay snapshotter stores them) and symlinks followed inside the view, as dockerd's safepath
does: a link may point anywhere inside the view, never out of it (an absolute target, or ``..``
above the root, is refused). The result is a bind of the
one layer's path for a file (or a directory only one layer has), else a read-only overlay of
every layer's copy of the directory. Callers hand these mounts to a spec as they come.
"""

from __future__ import annotations

import os
import posixpath
import stat

from dockyard import errors
from dockyard.containerd.diff.diff import is_opaque
from dockyard.containerd.mount import overlay_dirs
from dockyard.types import Mount

_MAX_LINKS = 255


def subtree_mounts(mounts: list[Mount], path: str) -> list[Mount]:
    """The mounts of ``path`` (relative to the view's root) inside the view mounted by ``mounts``."""
    layers = _layers(mounts)
    found = resolve(layers, path)
    if len(found) == 1:
        return [Mount(type="bind", source=found[0], options=("rbind", "ro"))]
    return [Mount(type="overlay", source="overlay", options=("ro", "lowerdir=" + ":".join(found)))]


def _layers(mounts: list[Mount]) -> list[str]:
    """The view's layer directories, topmost first."""
    out: list[str] = []
    for mnt in mounts:
        if mnt.type == "bind":
            out.append(mnt.source)
        dirs = overlay_dirs(mnt)
        if dirs.upper:
            raise errors.InvalidArgument("a subtree is only shown of a read-only view")
        out += dirs.lower
    return out


def _lookup(layers: list[str], rel: str) -> list[str]:
    """Where ``rel`` (no symlink left in its parents) is in the merged view: the topmost layer's
    path, and for a directory every layer's copy down to an opaque one (overlay's merge rules,
    its whiteouts in overlay form: a 0/0 character device, an ``overlay.opaque`` xattr)."""
    found: list[str] = []
    for layer in layers:
        path = os.path.join(layer, rel)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0) or (found and not is_dir):
            break  # a whiteout, or a lower non-directory under a directory: hidden
        found.append(path)
        if not is_dir or is_opaque(path):
            break
    return found


def resolve(layers: list[str], subpath: str) -> list[str]:
    """``subpath`` inside the merged layers, symlinks followed inside them: its layer paths (one for a
    file, every layer's copy for a directory). As dockerd's safepath, an error when it is missing
    or a symlink takes it out of the view."""
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
