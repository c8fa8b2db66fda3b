"""Populate the container's /dev: the standard devices and the std symlinks.

mknod is tried first; where it is refused (user namespaces, a devices cgroup
without ``m``), the host's device node is bind-mounted on an empty file, which
is what runc does too.
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


def create_device(rootfs: str, dev: dict[str, Any], bind_fallback: bool = True) -> None:
    path = secure_join(rootfs, dev["path"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    kind = _TYPES.get(dev.get("type", "c"))
    if kind is None:
        raise OSError(errno.EINVAL, f"device {dev['path']}: unknown type {dev.get('type')!r}")
    mode = int(dev.get("fileMode", 0o666)) & 0o7777
    try:
        if os.path.lexists(path):
            os.unlink(path)
        os.mknod(path, kind | mode, os.makedev(int(dev.get("major", 0)), int(dev.get("minor", 0))))
        os.chmod(path, mode)  # mknod honours the umask
    except PermissionError:
        if not bind_fallback:
            raise
        with open(path, "a"):
            pass
        sc.mount(dev["path"], path, None, sc.MS_BIND)
        return
    os.chown(path, int(dev.get("uid", 0)), int(dev.get("gid", 0)))


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
