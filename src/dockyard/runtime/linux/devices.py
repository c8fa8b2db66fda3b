"""Populate the container's /dev: the standard devices and the std symlinks.

mknod is tried first; where it is refused (user namespaces, a devices cgroup
without ``m``), the host's device node is bind-mounted on an empty file, which
is what runc does too.  A host node is never chowned or chmodded: owner and mode
are set on the node made here only (the host's /dev/null once became owned by a
user namespace's root: crun chowns its stdio, and a test gave it the host's
/dev/null as stdin).
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from . import syscalls as sc
from .securejoin import secure_join

DEFAULT_DEVICES: tuple[dict[str, Any], ...] = (
    {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666},
    {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o666},
    {"path": "/dev/full", "type": "c", "major": 1, "minor": 7, "fileMode": 0o666},
    {"path": "/dev/random", "type": "c", "major": 1, "minor": 8, "fileMode": 0o666},
    {"path": "/dev/urandom", "type": "c", "major": 1, "minor": 9, "fileMode": 0o666},
    {"path": "/dev/tty", "type": "c", "major": 5, "minor": 0, "fileMode": 0o666},
)

SYMLINKS: tuple[tuple[str, str], ...] = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
)

_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


# runc's setupPtmx makes /dev/ptmx the symlink into the container's own devpts: never a host node
_NOT_CREATED = ("/dev/ptmx",)


def create_device(rootfs: str, dev: dict[str, Any], bind_fallback: bool = True) -> None:
    """mknod the device in the container's /dev; where mknod is refused, bind the host's node.

    Owner and mode are set only on the node made here, through an fd checked to be that node on
    the container's filesystem: a host device bound in (user namespaces) is never chowned or
    chmodded, nor is anything a symlink or a mount point would lead to."""
    if os.path.normpath(dev["path"]) in _NOT_CREATED:
        return
    path = secure_join(rootfs, dev["path"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    kind = _TYPES.get(dev.get("type", "c"))
    if kind is None:
        raise OSError(errno.EINVAL, f"device {dev['path']}: unknown type {dev.get('type')!r}")
    mode = int(dev.get("fileMode", 0o666)) & 0o7777
    rdev = os.makedev(int(dev.get("major", 0)), int(dev.get("minor", 0)))
    if os.path.lexists(path):
        os.unlink(path)  # EBUSY on a mount point: nothing is ever made over a bound node
    try:
        os.mknod(path, kind | mode, rdev)
    except PermissionError:
        if not bind_fallback:
            raise
        _bind_host_device(dev["path"], path, kind, rdev)
        return
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        want_rdev = rdev if kind in (stat.S_IFCHR, stat.S_IFBLK) else 0  # a FIFO's numbers are ignored
        if stat.S_IFMT(st.st_mode) != kind or st.st_rdev != want_rdev or st.st_dev != os.stat(os.path.dirname(path)).st_dev:
            raise OSError(errno.EXDEV, f"device {dev['path']} changed while being created")
        node = f"/proc/self/fd/{fd}"  # the inode of ``fd`` itself, whatever the path now names
        os.chmod(node, mode)  # mknod honours the umask
        os.chown(node, int(dev.get("uid", 0)), int(dev.get("gid", 0)))
    finally:
        os.close(fd)


def _bind_host_device(source: str, path: str, kind: int, rdev: int) -> None:
    """Bind the host's node ``source`` on a new empty file at ``path`` (only if it is the device named)."""
    st = os.stat(source)
    if stat.S_IFMT(st.st_mode) != kind or st.st_rdev != rdev:
        raise OSError(errno.EINVAL, f"device {source}: the host's node is not the device the spec names")
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        sc.mount(source, f"/proc/self/fd/{fd}", None, sc.MS_BIND)
    finally:
        os.close(fd)


def create_devices(rootfs: str, extra: list[dict[str, Any]] | None, defaults: bool) -> None:
    old = os.umask(0)
    try:
        for dev in (list(DEFAULT_DEVICES) if defaults else []) + list(extra or []):
            create_device(rootfs, dev)
    finally:
        os.umask(old)


def create_symlinks(rootfs: str) -> None:
    for target, link in SYMLINKS:
        path = secure_join(rootfs, link)
        try:
            os.symlink(target, path)
        except FileExistsError:
            pass
