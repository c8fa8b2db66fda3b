"""Thin ctypes wrappers for the syscalls Python 3.11's ``os`` lacks.

Every wrapper raises ``OSError`` with errno and the operation's arguments, so the
init process can report a precise message ("mount proc on /proc: EPERM") to
``create`` through the sync channel.  libc is loaded lazily: ``state``/``kill``
never pay for ctypes.
"""

from __future__ import annotations

import ctypes
import os

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 0x2

# mount_setattr(2): attributes of a mount (and, with AT_RECURSIVE, of every mount below it)
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000

# clone(2)/unshare(2) namespace flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# prctl(2) options
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_SYSCALL_NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126, "setns": 308, "unshare": 272, "mount_setattr": 442},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91, "setns": 268, "unshare": 97, "mount_setattr": 442},
}


_LIBC: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    """The process's libc, opened once (a module global: functools costs an import)."""
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def _check(ret: int, what: str, path: str | None = None) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return ret


def _nr(name: str) -> int:
    try:
        return _SYSCALL_NUMBERS[os.uname().machine][name]
    except KeyError as err:
        raise OSError(38, f"syscall {name} unknown on {os.uname().machine}") from err


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """mount(2); errors name source, target and fstype."""
    ret = libc().mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data or None))
    _check(ret, f"mount {source or fstype or ''} on {target} ({fstype or 'bind'}, flags {flags:#x}, data {data!r})")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64)]


def mount_setattr_recursive(fd: int, attr_set: int, attr_clr: int, what: str) -> None:
    """mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE): the mount at ``fd`` and all below it.

    ENOSYS (a kernel before 5.12) is reported as such: a recursive option is never ignored."""
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    ret = libc().syscall(ctypes.c_long(_nr("mount_setattr")), ctypes.c_int(fd), b"",
                         ctypes.c_uint(AT_EMPTY_PATH | AT_RECURSIVE), ctypes.byref(attr),
                         ctypes.c_size_t(ctypes.sizeof(attr)))
    if ret < 0 and ctypes.get_errno() == 38:
        raise OSError(38, f"{what}: recursive mount options need mount_setattr(2) (Linux 5.12+), "
                          "which this kernel does not have")
    _check(ret, f"mount_setattr {what} (set {attr_set:#x}, clear {attr_clr:#x})")


def umount2(target: str, flags: int = 0) -> None:
    _check(libc().umount2(_b(target), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    ret = libc().syscall(ctypes.c_long(_nr("pivot_root")), _b(new_root), _b(put_old))
    _check(ret, f"pivot_root {new_root} {put_old}")


def unshare(flags: int) -> None:
    _check(libc().unshare(ctypes.c_int(flags)), f"unshare {flags:#x}")


def setns(fd: int, nstype: int = 0) -> None:
    _check(libc().setns(ctypes.c_int(fd), ctypes.c_int(nstype)), f"setns {nstype:#x}")


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(libc().setdomainname(raw, ctypes.c_size_t(len(raw))), f"setdomainname {name}")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    args = [ctypes.c_ulong(a) for a in (arg2, arg3, arg4, arg5)]
    return _check(libc().prctl(ctypes.c_int(option), *args), f"prctl {option}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the three capability sets of the calling thread (64-bit masks)."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    ret = libc().syscall(ctypes.c_long(_nr("capset")), ctypes.byref(hdr), ctypes.byref(data))
    _check(ret, "capset")


def set_name(name: str) -> None:
    """Give the process a title (``dockyard-init``) visible in ps/comm."""
    buf = ctypes.create_string_buffer(name.encode()[:15])
    try:
        prctl(PR_SET_NAME, ctypes.addressof(buf))
    except OSError:
        pass
