"""The rootfs of a task in a user namespace it joins by path (a CRI pod's, ``userns_options`` POD).

The snapshot's overlay is mounted over idmapped layers: each lower directory becomes a detached
mount idmapped to that user namespace (``open_tree`` + ``mount_setattr(MOUNT_ATTR_IDMAP)``) and is
handed to overlayfs by fd (``fsconfig`` ``lowerdir+``, Linux 6.13+); the new, empty upper
directory is given to the namespace's root. The image's root-owned files are then the namespace
root's without a copy of the image, as containerd 2's idmapped snapshots. The layer mounts are
never attached anywhere: they live as long as the overlay does, and unmounting the rootfs (task
deletion) frees them. overlayfs itself refuses to be idmapped (EINVAL), hence the layers.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.containerd.mount import overlay_dirs
from dockyard.types import Mount

_SYS = {"open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "mount_setattr": 442}
OPEN_TREE_CLONE = 1
O_CLOEXEC = 0o2000000
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
MOUNT_ATTR_IDMAP = 0x00100000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
FSOPEN_CLOEXEC = FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_FLAG, FSCONFIG_SET_STRING, FSCONFIG_SET_FD, FSCONFIG_CMD_CREATE = 0, 1, 5, 6


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)


def _call(name: str, *args: Any) -> int:
    r = int(_libc.syscall(_SYS[name], *args))
    if r < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")
    return r


def joined_userns(spec: dict[str, Any]) -> tuple[str, int, int] | None:
    """(path, host uid, host gid of its root) when the spec joins a user namespace by path with
    mappings (a CRI pod's); None otherwise (the engine's ``--userns-remap`` makes a new one, on a
    remapped snapshot)."""
    linux = spec.get("linux") or {}
    path = next((ns.get("path") for ns in linux.get("namespaces") or [] if ns.get("type") == "user"), "")
    if not path or not linux.get("uidMappings") or not linux.get("gidMappings"):
        return None
    uid, gid = (_host_root(linux[k]) for k in ("uidMappings", "gidMappings"))
    if uid is None or gid is None:
        raise errors.InvalidArgument("user namespace: container ID 0 is not mapped")
    return path, uid, gid


def _host_root(mappings: list[dict[str, Any]]) -> int | None:
    for m in mappings:
        if int(m["containerID"]) == 0 and int(m["size"]) > 0:
            return int(m["hostID"])
    return None


def mount_idmapped(mounts: Sequence[Mount], target: Path, userns: tuple[str, int, int]) -> None:
    """Mount the snapshot's overlay on ``target`` over its layers idmapped to ``userns``."""
    if len(mounts) != 1 or mounts[0].type != "overlay":
        raise errors.FailedPrecondition("a rootfs in a user namespace needs an overlay snapshot with layers")
    lower, upper, work, rest = overlay_dirs(mounts[0])
    if not lower or not upper or not work:
        raise errors.FailedPrecondition("a rootfs in a user namespace needs a writable overlay snapshot")
    path, uid, gid = userns
    os.chown(upper, uid, gid)  # the new container's empty layer: its root writes there
    fds: list[int] = []
    try:
        fds.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        attr = _MountAttr(MOUNT_ATTR_IDMAP, 0, 0, fds[0])
        layers = []
        for layer in lower:
            fd = _call("open_tree", AT_FDCWD, layer.encode(), OPEN_TREE_CLONE | O_CLOEXEC)
            fds.append(fd)
            _call("mount_setattr", fd, b"", AT_EMPTY_PATH, ctypes.byref(attr), ctypes.sizeof(attr))
            layers.append(fd)
        fs = _call("fsopen", b"overlay", FSOPEN_CLOEXEC)
        fds.append(fs)
        for fd in layers:
            _call("fsconfig", fs, FSCONFIG_SET_FD, b"lowerdir+", None, fd)
        for key, value in (("upperdir", upper), ("workdir", work), *(o.partition("=")[::2] for o in rest)):
            if value:
                _call("fsconfig", fs, FSCONFIG_SET_STRING, key.encode(), value.encode(), 0)
            else:
                _call("fsconfig", fs, FSCONFIG_SET_FLAG, key.encode(), None, 0)
        _call("fsconfig", fs, FSCONFIG_CMD_CREATE, None, None, 0)
        mnt = _call("fsmount", fs, FSMOUNT_CLOEXEC, 0)
        fds.append(mnt)
        _call("move_mount", mnt, b"", AT_FDCWD, str(target).encode(), MOVE_MOUNT_F_EMPTY_PATH)
    except OSError as err:
        if err.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise errors.FailedPrecondition(f"idmapped rootfs: the kernel refuses it ({err.strerror})") from err
        raise errors.Internal(f"idmapped rootfs on {target}: {err.strerror}") from err
    finally:
        for fd in fds:  # the mounted overlay holds what it needs; open fds would keep the target busy
            os.close(fd)
