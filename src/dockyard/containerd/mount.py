"""Perform the mounts snapshotters return (containerd's mount package).

Snapshotters only *describe* mounts (``list[Mount]``); this module turns them
into ``mount(2)`` calls through ctypes, so no ``mount`` binary is needed and
errors carry the real errno. It is used by the unpacker and by anyone who
needs a snapshot's contents on the host (diff, build, export).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from dockyard.errors import Internal, InvalidArgument
from dockyard.types import Mount

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

MNT_FORCE = 0x1
MNT_DETACH = 0x2
_CLONE_FS, _CLONE_NEWNS = 0x00000200, 0x00020000

# option -> (clear?, flag); "clear" options remove a flag set by a default
_FLAGS: dict[str, tuple[bool, int]] = {
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "bind": (False, MS_BIND),
    "rbind": (False, MS_BIND | MS_REC),
    "nosuid": (False, MS_NOSUID),
    "suid": (True, MS_NOSUID),
    "nodev": (False, MS_NODEV),
    "dev": (True, MS_NODEV),
    "noexec": (False, MS_NOEXEC),
    "exec": (True, MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS),
    "async": (True, MS_SYNCHRONOUS),
    "dirsync": (False, MS_DIRSYNC),
    "mand": (False, MS_MANDLOCK),
    "nomand": (True, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME),
    "atime": (True, MS_NOATIME),
    "nodiratime": (False, MS_NODIRATIME),
    "diratime": (True, MS_NODIRATIME),
    "relatime": (False, MS_RELATIME),
    "norelatime": (True, MS_RELATIME),
    "strictatime": (False, MS_STRICTATIME),
    "remount": (False, MS_REMOUNT),
    "defaults": (False, 0),
}
_PROPAGATION = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class MountError(Internal):
    """A mount or unmount syscall failed; names source, target and errno."""

    def __init__(self, op: str, source: str, target: str, err: int, detail: str = "") -> None:
        self.op, self.source, self.target, self.errno = op, source, target, err
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{op} {source!r} on {target!r}: {os.strerror(err)} [errno {err}]{extra}")


_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        lib.mount.restype = ctypes.c_int
        lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        lib.umount2.restype = ctypes.c_int
        _libc = lib
    return _libc


def _sys_mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    rc = _lib().mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags, data.encode() if data else None)
    if rc != 0:
        err = ctypes.get_errno()
        raise MountError("mount", source, target, err, f"type={fstype or 'none'} data={data[:200]!r}")


class OverlayDirs(NamedTuple):
    """An overlay mount's options split: its layer directories and everything else, in order."""

    lower: list[str]  # topmost first
    upper: str  # "" for a read-only overlay
    work: str
    rest: list[str]


def overlay_dirs(m: Mount) -> OverlayDirs:
    """The directories an overlay ``m`` names (``lowerdir``, ``upperdir``, ``workdir``) and its other options."""
    lower: list[str] = []
    upper = work = ""
    rest: list[str] = []
    for opt in m.options:
        key, _, value = opt.partition("=")
        if key == "lowerdir":
            lower = value.split(":")
        elif key == "upperdir":
            upper = value
        elif key == "workdir":
            work = value
        else:
            rest.append(opt)
    return OverlayDirs(lower, upper, work, rest)


def parse_options(options: Sequence[str]) -> tuple[int, int, str]:
    """Split mount options into (flags, propagation flags, data string)."""
    flags = 0
    propagation = 0
    data: list[str] = []
    for opt in options:
        if opt in _FLAGS:
            clear, flag = _FLAGS[opt]
            flags = flags & ~flag if clear else flags | flag
        elif opt in _PROPAGATION:
            propagation |= _PROPAGATION[opt]
        else:
            data.append(opt)
    return flags, propagation, ",".join(data)


def mount(m: Mount, target: Path) -> None:
    """Mount one Mount on ``target`` (bind, overlay, or any kernel filesystem type)."""
    flags, propagation, data = parse_options(m.options)
    fstype = m.type
    if fstype == "bind":
        flags |= MS_BIND
        fstype = ""
    tgt = str(target)
    if flags & MS_BIND:
        # The kernel ignores MS_RDONLY & co. on the initial bind: remount to apply them.
        _sys_mount(m.source, tgt, "", flags & (MS_BIND | MS_REC), "")
        if flags & ~(MS_BIND | MS_REC):
            try:
                _sys_mount("", tgt, "", flags | MS_REMOUNT | MS_BIND, "")
            except MountError:
                _umount(tgt, MNT_DETACH)
                raise
    elif fstype == "overlay" and len(data) >= _PAGE_SIZE:
        _mount_overlay_compact(m.source, tgt, flags, data)
    else:
        _sys_mount(m.source, tgt, fstype, flags, data)
    if propagation:
        _sys_mount("", tgt, "", propagation, "")


def private_namespace() -> None:
    """Move the calling thread into a mount namespace of its own (``unshare``, its filesystem
    attributes unshared too), every mount in it private: what it mounts never reaches the host."""
    if _lib().unshare(_CLONE_NEWNS | _CLONE_FS) != 0:
        raise MountError("unshare", "", "", ctypes.get_errno(), "CLONE_NEWNS | CLONE_FS")
    _sys_mount("", "/", "", MS_REC | MS_PRIVATE, "")


def _common_dir(paths: Sequence[str]) -> str:
    common = os.path.commonpath(paths)
    return common if os.path.isdir(common) else os.path.dirname(common)


def _mount_overlay_compact(source: str, target: str, flags: int, data: str) -> None:
    """Overlay options over a page long: rewrite dirs relative to their common
    parent and mount from a child process whose cwd is that parent.

    The kernel resolves relative overlay paths against the caller's cwd. A
    fresh interpreter does the chdir, so the daemon's own cwd (shared by all
    its threads) is never changed.
    """
    parts = data.split(",")
    dir_keys = ("lowerdir=", "upperdir=", "workdir=")
    dirs: list[str] = []
    for p in parts:
        for k in dir_keys:
            if p.startswith(k):
                dirs.extend(p[len(k):].split(":"))
    if not dirs or not all(os.path.isabs(d) for d in dirs):
        raise MountError("mount", source, target, errno.EINVAL, "overlay options too long and not compactable")
    base = _common_dir(dirs)
    out = []
    for p in parts:
        for k in dir_keys:
            if p.startswith(k):
                p = k + ":".join(os.path.relpath(d, base) for d in p[len(k):].split(":"))
        out.append(p)
    compact = ",".join(out)
    if len(compact) >= _PAGE_SIZE:
        raise MountError("mount", source, target, errno.E2BIG, "overlay options too long even relative to common dir")
    script = (
        "import ctypes,ctypes.util,sys,os\n"
        "l=ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6',use_errno=True)\n"
        "l.mount.argtypes=[ctypes.c_char_p,ctypes.c_char_p,ctypes.c_char_p,ctypes.c_ulong,ctypes.c_char_p]\n"
        "r=l.mount(sys.argv[1].encode(),sys.argv[2].encode(),b'overlay',int(sys.argv[3]),sys.argv[4].encode())\n"
        "sys.exit(ctypes.get_errno() if r else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-I", "-c", script, source, os.path.abspath(target), str(flags), compact], cwd=base, check=False)
    if proc.returncode != 0:
        raise MountError("mount", source, target, proc.returncode or errno.EIO, f"overlay (relative to {base})")


def mount_all(mounts: Sequence[Mount], target: Path) -> None:
    """Mount each Mount on ``target`` (or ``target/<m.target>``) in order; all or nothing."""
    done: list[str] = []
    try:
        for m in mounts:
            where = Path(target)
            if m.target:
                rel = m.target.lstrip("/")
                if ".." in Path(rel).parts:
                    raise InvalidArgument(f"mount target {m.target!r} escapes {target}")
                where = where / rel
            mount(m, where)
            done.append(str(where))
    except BaseException:
        for where_s in reversed(done):
            try:
                unmount_all(Path(where_s), detach=True)
            except MountError:
                pass
        raise


def _umount(target: str, flags: int) -> None:
    if _lib().umount2(target.encode(), flags) != 0:
        err = ctypes.get_errno()
        raise MountError("unmount", "", target, err)


def unmount(target: Path, detach: bool = False) -> None:
    """Unmount the top mount on ``target``; EINVAL (nothing mounted) is an error here."""
    _umount(str(target), MNT_DETACH if detach else 0)


def _mountpoints_under(target: str) -> list[str]:
    """Mount points at or below ``target`` from /proc/self/mountinfo, deepest first."""
    out = []
    prefix = target.rstrip("/") + "/"
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.split(b" ")
            mp = fields[4].decode("utf-8", "surrogateescape")
            mp = mp.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
            if mp == target or mp.startswith(prefix):
                out.append(mp)
    out.sort(key=lambda p: p.count("/"), reverse=True)
    return out


def unmount_all(target: Path, detach: bool = False) -> None:
    """Unmount everything mounted at or below ``target`` (stacked and nested mounts).

    Not mounted at all is fine: cleanup paths call this unconditionally.
    """
    real = os.path.realpath(target)
    for _ in range(64):
        points = _mountpoints_under(real)
        if not points:
            return
        for mp in points:
            try:
                _umount(mp, MNT_DETACH if detach else 0)
            except MountError as err:
                if err.errno not in (errno.EINVAL, errno.ENOENT):
                    raise
    raise MountError("unmount", "", real, errno.EBUSY, "mounts keep reappearing")


def is_mounted(target: Path) -> bool:
    real = os.path.realpath(target)
    return real in _mountpoints_under(real)


def volatile(mounts: Sequence[Mount]) -> list[Mount]:
    """``mounts`` with overlayfs' ``volatile`` on each overlay that has an upper directory.

    Unmounting an overlay syncs the filesystem under it (``syncfs``): all of its dirty data,
    anybody's, which under another process's writeback takes 100 ms and more. ``volatile``
    skips that. For snapshots nobody mounts as an upper again (one being extracted and then
    committed, a build step's container) nothing is lost by it: their data was never
    fsynced either. The kernel marks such an upper (``work/incompat``); ``clear_volatile``
    removes the mark after a clean unmount."""
    return [Mount(m.type, m.source, (*m.options, "volatile"), m.target)
            if m.type == "overlay" and "volatile" not in m.options
            and any(o.startswith("upperdir=") for o in m.options) else m
            for m in mounts]


def clear_volatile(mounts: Sequence[Mount]) -> None:
    """After a clean unmount of ``volatile(mounts)``: the upper may be mounted again."""
    for m in mounts:
        for o in m.options:
            if o.startswith("workdir="):
                shutil.rmtree(Path(o.removeprefix("workdir=")) / "work" / "incompat", ignore_errors=True)


@contextlib.contextmanager
def mounted(mounts: Sequence[Mount], work_dir: Path, prefix: str = "mnt-",
            scratch: bool = False) -> Iterator[Path]:
    """A host directory showing ``mounts``: a single bind's source as it is, anything else mounted
    on a new directory under ``work_dir`` (unmounted and removed afterwards; a crash's leftovers
    are found there by ``gc.recover_mounts``). ``scratch``: the mount is ``volatile`` (a
    snapshot being extracted: see ``volatile``)."""
    if len(mounts) == 1 and mounts[0].type == "bind" and not mounts[0].target:
        yield Path(mounts[0].source)
        return
    work_dir.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix=prefix, dir=work_dir))
    try:
        mount_all(volatile(mounts) if scratch else mounts, target)
        try:
            yield target
        finally:
            unmount_all(target)
            if scratch:
                clear_volatile(mounts)
    finally:
        with contextlib.suppress(OSError):
            target.rmdir()  # never rmtree: if the unmount failed, the snapshot is still behind it
