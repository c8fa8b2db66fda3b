"""First-mount copy of image content into an empty volume, without mounting anything.

Docker copies what the image has at the mount point into a new, empty volume.
The engine must not mount, so instead of mounting the container's rootfs we
read the snapshot's layers as containerd describes them (``Snapshots.Mounts``):
a bind source, or overlay ``upperdir`` over ``lowerdir``s, merged the way
overlayfs merges them (upper wins, whiteouts hide, opaque directories stop the
descent). Those are plain directories on the host.

Both sides are untrusted. A layer's symlinks are the image's, never followed on
the host: the mount point's path is walked one component at a time with
``lstat``, and a symlink on it (which a container would resolve inside its own
root) is treated as hiding what is below. The volume may be shared with a
running container that plants symlinks in it meanwhile, so every write goes
through ``archive/safe_extract`` (directory fds, ``O_NOFOLLOW``, ``O_EXCL``).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dockyard.archive.safe_extract import (
    Dir,
    Root,
    create_file,
    lstat_at,
    open_dir,
    set_owner_mode_at,
    set_owner_mode_fd,
    set_xattr,
)

_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


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


def _lstat(p: Path) -> os.stat_result | None:
    try:
        return os.lstat(p)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _whiteout(st: os.stat_result | None) -> bool:
    return st is not None and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(p: Path) -> bool:
    for attr in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(p, attr, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def _stack_at(layers: list[Path], name: str) -> list[Path]:
    """The directories ``name`` of ``layers`` (topmost first) that overlayfs would merge:
    down to the first layer where it is something else (a file, a symlink, a whiteout) or opaque."""
    out: list[Path] = []
    for layer in layers:
        p = layer / name
        st = _lstat(p)
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            break
        out.append(p)
        if _opaque(p):
            break
    return out


def _merge(layers: list[Path], out: Root, parts: tuple[str, ...]) -> None:
    """Copy the merged view of ``layers`` (topmost first; each a directory) into ``out``/``parts``."""
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
            st = os.lstat(src)
            if _whiteout(st):
                continue
            parent = out.dir(parts)
            if stat.S_ISDIR(st.st_mode):
                if lstat_at(parent, name) is None:
                    os.mkdir(name, 0o700, dir_fd=parent.fd)
                _merge(_stack_at(layers[i:], name), out, (*parts, name))
                out.trim()
                _dir_meta(out.dir(parts), name, src, st)
            elif stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(src), name, dir_fd=parent.fd)
                set_owner_mode_at(parent, name, st.st_uid, st.st_gid, None)
            elif stat.S_ISREG(st.st_mode):
                _copy_file(src, parent, name, st)


def _copy_file(src: Path, parent: Dir, name: str, st: os.stat_result) -> None:
    sfd = os.open(src, _READ)
    try:
        dfd = create_file(parent, name)
        try:
            with os.fdopen(sfd, "rb", closefd=False) as r, os.fdopen(dfd, "wb", closefd=False) as w:
                shutil.copyfileobj(r, w, 1 << 20)
            _meta_fd(dfd, sfd, st)
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def _dir_meta(parent: Dir, name: str, src: Path, st: os.stat_result) -> None:
    sfd = os.open(src, _READ | os.O_DIRECTORY)
    try:
        dfd = open_dir(parent, name)
        try:
            _meta_fd(dfd, sfd, st)
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def _meta_fd(dfd: int, sfd: int, st: os.stat_result) -> None:
    """Owner, mode, xattrs (overlayfs' own left out), then times, as ``cp -a``."""
    set_owner_mode_fd(dfd, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
    try:
        names = os.listxattr(sfd)
    except OSError as err:
        if err.errno != errno.ENOTSUP:
            raise
        names = []
    for attr in names:
        if not attr.startswith("user.overlay."):
            set_xattr(dfd, attr, os.getxattr(sfd, attr))
    os.utime(dfd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _image_dirs(mounts: Sequence[Any], path: str) -> list[Path]:
    """The layer directories at ``path`` to merge, topmost first; nothing followed on the way.

    A file, symlink or whiteout on the path hides the layers below; so does an opaque directory."""
    parts = [p for p in path.split("/") if p not in ("", ".", "..")]
    found: list[Path] = []
    for d in layer_dirs(mounts):
        cur, present, hides_below = d, True, False
        for part in parts:
            cur = cur / part
            st = _lstat(cur)
            if st is None:
                present = False
                break
            if not stat.S_ISDIR(st.st_mode):
                return found
            hides_below = hides_below or _opaque(cur)
        if present:
            found.append(cur)
        if hides_below:
            return found
    return found


def copy_image_path(mounts: Sequence[Any], path: str, dest: Path) -> bool:
    """Copy the image's content at ``path`` into the empty directory ``dest``; False if it had none."""
    layers = _image_dirs(mounts, path)
    if not layers:
        return False
    with Root(dest) as out:
        _merge(layers, out, ())
        st = os.lstat(layers[0])
        fd = open_dir(out.dir(()))
        try:
            set_owner_mode_fd(fd, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
        finally:
            os.close(fd)
    return True
