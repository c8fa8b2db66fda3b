"""First-mount copy of image content into an empty volume, without mounting anything.

Docker copies what the image has at the mount point into a new, empty volume.
The engine must not mount, so instead of mounting the container's rootfs we
read the snapshot's layers as containerd describes them (``Snapshots.Mounts``):
a bind source, or overlay ``upperdir`` over ``lowerdir``s, merged the way
overlayfs merges them (upper wins, whiteouts hide, opaque directories stop the
descent). Those are plain directories on the host.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def layer_dirs(mounts: Sequence[Any]) -> list[Path]:
    """Layer directories of a snapshot, topmost first."""
    dirs: list[Path] = []
    for m in mounts:
        if m.type == "bind":
            dirs.append(Path(m.source))
        elif m.type == "overlay":
            upper = [o.split("=", 1)[1] for o in m.options if o.startswith("upperdir=")]
            lower = [o.split("=", 1)[1] for o in m.options if o.startswith("lowerdir=")]
            dirs += [Path(u) for u in upper]
            for item in lower:
                dirs += [Path(p) for p in item.split(":") if p]
    return dirs


def _whiteout(p: Path) -> bool:
    try:
        st = os.lstat(p)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(p: Path) -> bool:
    for attr in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(p, attr, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def _merge(layers: list[Path], dest: Path) -> None:
    """Copy the merged view of ``layers`` (topmost first; each a directory) into ``dest``."""
    seen: set[str] = set()
    for i, layer in enumerate(layers):
        try:
            entries = sorted(os.listdir(layer))
        except OSError:
            continue
        for name in entries:
            if name in seen:
                continue
            seen.add(name)
            src = layer / name
            if _whiteout(src):
                continue
            target = dest / name
            st = os.lstat(src)
            if stat.S_ISDIR(st.st_mode):
                target.mkdir(exist_ok=True)
                below = [] if _opaque(src) else [lay / name for lay in layers[i + 1:] if (lay / name).is_dir()
                                                  and not (lay / name).is_symlink()]
                _merge([src, *below], target)
                shutil.copystat(src, target, follow_symlinks=False)
                os.lchown(target, st.st_uid, st.st_gid)
            elif stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(src), target)
                os.lchown(target, st.st_uid, st.st_gid)
            elif stat.S_ISREG(st.st_mode):
                shutil.copy2(src, target, follow_symlinks=False)
                os.lchown(target, st.st_uid, st.st_gid)


def copy_image_path(mounts: Sequence[Any], path: str, dest: Path) -> bool:
    """Copy the image's content at ``path`` into the empty directory ``dest``; False if it had none."""
    rel = path.strip("/")
    layers = []
    for d in layer_dirs(mounts):
        p = d / rel
        cur = d
        hidden = False
        for part in Path(rel).parts:  # a whiteout or an opaque dir above hides lower layers' content
            cur = cur / part
            if _whiteout(cur):
                hidden = True
                break
        if p.is_dir() and not p.is_symlink():
            layers.append(p)
            if _opaque(p):
                break
        if hidden:
            break
    if not layers:
        return False
    _merge(layers, dest)
    st = os.lstat(layers[0])
    os.chmod(dest, stat.S_IMODE(st.st_mode))
    os.lchown(dest, st.st_uid, st.st_gid)
    return True
