"""Build the container's filesystem view inside its mount namespace.

Order follows runc's ``prepareRootfs``: make the host tree non-propagating,
bind the rootfs onto itself (pivot_root needs a mount point), perform the
spec's mounts in order with every destination resolved *inside* the rootfs and
mounted through an ``O_PATH`` fd (so a symlink swapped in after the check
cannot redirect it), create /dev, then pivot_root.  Masked/read-only paths and
the read-only root come after the pivot (``finalize``).
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from . import syscalls as sc
from .devices import create_devices, create_symlinks
from .mountopts import PROPAGATION, parse_options
from .securejoin import is_within, secure_join

_PRESERVED_STATVFS = {
    os.ST_NOSUID: sc.MS_NOSUID,
    os.ST_NODEV: sc.MS_NODEV,
    os.ST_NOEXEC: sc.MS_NOEXEC,
    os.ST_NOATIME: sc.MS_NOATIME,
    os.ST_NODIRATIME: sc.MS_NODIRATIME,
    os.ST_RELATIME: sc.MS_RELATIME,
}


def _locked_flags(path: str) -> int:
    """Flags of the existing mount that a bind remount must keep (they are locked in a userns)."""
    f = os.statvfs(path).f_flag
    return sum(ms for st, ms in _PRESERVED_STATVFS.items() if f & st)


def _mkdirs_inside(rootfs: str, unsafe: str, is_dir: bool) -> str:
    """Create ``unsafe`` under rootfs without following any symlink out; return the real path."""
    path = secure_join(rootfs, unsafe)
    rel = os.path.relpath(path, rootfs)
    cur = rootfs
    parts = [] if rel == "." else rel.split("/")
    for i, part in enumerate(parts):
        cur = os.path.join(cur, part)
        last = i == len(parts) - 1
        try:
            if last and not is_dir:
                fd = os.open(cur, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
                os.close(fd)
            else:
                os.mkdir(cur, 0o755)
        except FileExistsError:
            pass
        except OSError as err:
            if err.errno != errno.ELOOP:
                raise
    again = secure_join(rootfs, unsafe)
    if again != path:
        raise OSError(errno.EXDEV, f"mount destination {unsafe} changed while being created")
    return path


def _real_root(rootfs: str) -> str:
    """The host path of a rootfs held by fd (see ``_hold``): what the kernel says that fd is."""
    return os.readlink(rootfs) if rootfs.startswith(FD_PREFIX) else rootfs


class SafeTarget:
    """An O_PATH fd on a verified destination; mount through ``/proc/self/fd/N``."""

    def __init__(self, rootfs: str, path: str) -> None:
        self.fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        real = os.readlink(f"/proc/self/fd/{self.fd}")
        if not is_within(_real_root(rootfs), real):
            os.close(self.fd)
            raise OSError(errno.EXDEV, f"mount destination {path} resolves outside the rootfs ({real})")
        self.proc_path = f"/proc/self/fd/{self.fd}"

    def __enter__(self) -> str:
        return self.proc_path

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def set_root_propagation(propagation: str | None) -> None:
    flag = PROPAGATION.get(propagation or "rslave", sc.MS_SLAVE | sc.MS_REC)
    sc.mount(None, "/", None, flag | sc.MS_REC)


def make_parent_mount_private(rootfs: str) -> None:
    """pivot_root refuses a new root whose parent mount is shared, bind refuses an unbindable one.

    Only the mount that holds ``rootfs`` is made private, not recursively, as runc does;
    the requested propagation is applied to the new ``/`` after the pivot.
    """
    best, shared = "", False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split(" - ", 1)[0].split()
            point = fields[4].replace("\\040", " ")
            if (rootfs == point or rootfs.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, shared = point, any(o.startswith("shared:") or o == "unbindable" for o in fields[6:])
    if best and shared:
        sc.mount(None, best, None, sc.MS_PRIVATE)


def bind_rootfs(rootfs: str) -> None:
    sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)


def mount_entry(rootfs: str, m: dict[str, Any], cgroup_paths: dict[str, str] | None = None) -> None:
    dest_rel = m.get("destination", "")
    if not dest_rel.startswith("/"):
        dest_rel = "/" + dest_rel
    fstype = m.get("type") or ""
    source = m.get("source") or ""
    opts = parse_options(m.get("options"))
    if fstype == "bind":
        opts = opts._replace(flags=opts.flags | sc.MS_BIND)
    if fstype == "cgroup" or fstype == "cgroup2":
        mount_cgroup(rootfs, dest_rel, opts.flags, cgroup_paths or {})
        return
    if opts.is_bind:
        try:
            st = os.stat(source)
        except OSError as err:
            raise OSError(err.errno, f"bind mount source {source}: {err.strerror}") from err
        dest = _mkdirs_inside(rootfs, dest_rel, stat.S_ISDIR(st.st_mode))
        with SafeTarget(rootfs, dest) as target:
            sc.mount(source, target, None, sc.MS_BIND | (opts.flags & sc.MS_REC))
        extra = opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
        # remount/propagation act on the new mount: re-open the (re-verified) destination
        with SafeTarget(rootfs, dest) as target:
            if extra:
                sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | extra | _locked_flags(target))
            for p in opts.propagation:
                sc.mount(None, target, None, p)
            if opts.recursive_attrs:
                set_recursive_attrs(target, opts, dest_rel)
        return
    if fstype in ("proc", "sysfs"):
        _refuse_non_directory(rootfs, dest_rel, fstype)
    dest = _mkdirs_inside(rootfs, dest_rel, True)
    with SafeTarget(rootfs, dest) as target:
        try:
            sc.mount(source or fstype, target, fstype, opts.flags, opts.data)
        except OSError as err:
            if fstype == "sysfs" and err.errno == errno.EPERM:
                # not our network namespace (e.g. --net=host in a userns): bind the host's /sys
                sc.mount("/sys", target, None, sc.MS_BIND | sc.MS_REC)
                with SafeTarget(rootfs, dest) as again:
                    sc.mount(None, again, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _locked_flags(again))
            elif fstype == "mqueue" and err.errno in (errno.EPERM, errno.ENODEV):
                sc.mount("/dev/mqueue", target, None, sc.MS_BIND)
            else:
                raise OSError(err.errno, f"mount {fstype} on {dest_rel}: {err.strerror}") from err
    if opts.propagation or opts.recursive_attrs:
        with SafeTarget(rootfs, dest) as target:
            for p in opts.propagation:
                sc.mount(None, target, None, p)
            if opts.recursive_attrs:
                set_recursive_attrs(target, opts, dest_rel)


def _refuse_non_directory(rootfs: str, dest_rel: str, fstype: str) -> None:
    """runc's rule: proc and sysfs go on a real directory of the rootfs, never through a symlink
    (one would move them, and their masks, elsewhere)."""
    try:
        st = os.lstat(os.path.join(rootfs, dest_rel.lstrip("/")))
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        raise OSError(errno.ENOTDIR, f'error mounting "{fstype}" to rootfs at "{dest_rel}": '
                      f'filesystem "{fstype}" must be mounted on ordinary directory')


def set_recursive_attrs(target: str, opts: Any, dest_rel: str) -> None:
    """``rro`` & co: the mount at ``target`` and every mount below it (mount_setattr AT_RECURSIVE)."""
    fd = os.open(target, os.O_PATH | os.O_CLOEXEC)
    try:
        sc.mount_setattr_recursive(fd, opts.attr_set, opts.attr_clr, f"recursive options of {dest_rel}")
    finally:
        os.close(fd)


def mount_cgroup(rootfs: str, dest_rel: str, flags: int, cgroup_paths: dict[str, str]) -> None:
    """v1: a tmpfs holding one read-only bind of *our* cgroup per hierarchy; v2: cgroup2 or a bind."""
    dest = _mkdirs_inside(rootfs, dest_rel, True)
    ro = sc.MS_RDONLY if flags & sc.MS_RDONLY else 0
    if "" in cgroup_paths and len(cgroup_paths) == 1:
        with SafeTarget(rootfs, dest) as target:
            try:
                sc.mount("cgroup", target, "cgroup2", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | ro)
            except OSError:
                sc.mount(cgroup_paths[""], target, None, sc.MS_BIND | sc.MS_REC)
                if ro:
                    with SafeTarget(rootfs, dest) as again:
                        sc.mount(None, again, None, sc.MS_BIND | sc.MS_REMOUNT | ro | _locked_flags(again))
        return
    with SafeTarget(rootfs, dest) as target:
        sc.mount("tmpfs", target, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")
    for name, host_path in _v1_hierarchies(cgroup_paths):
        sub = _mkdirs_inside(rootfs, os.path.join(dest_rel, name), True)
        if not os.path.isdir(host_path):
            continue
        with SafeTarget(rootfs, sub) as target:
            sc.mount(host_path, target, None, sc.MS_BIND)
        with SafeTarget(rootfs, sub) as target:
            # keep the host mount's locked atime flags: a user namespace refuses to clear them
            sc.mount(None, target, None,
                     sc.MS_BIND | sc.MS_REMOUNT | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | ro | _locked_flags(target))
    if ro:
        with SafeTarget(rootfs, dest) as target:
            sc.mount(None, target, None, sc.MS_REMOUNT | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | ro)


def _v1_hierarchies(cgroup_paths: dict[str, str]) -> list[tuple[str, str]]:
    """(dir name under /sys/fs/cgroup, host dir to bind) for each v1 hierarchy we are in."""
    from ..cgroups.fs import own_cgroups
    from ..cgroups.v1 import HYBRID, host_mountpoints

    own = own_cgroups()
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for ctrl, mnt in host_mountpoints().items():
        if mnt in seen or ctrl == HYBRID:
            continue
        seen.add(mnt)
        path = cgroup_paths.get(ctrl) or os.path.join(mnt, own.get(ctrl, "/").lstrip("/"))
        out.append((os.path.basename(mnt), path))
    return out


def pivot(rootfs: str, no_pivot: bool) -> None:
    """Make rootfs the new /: pivot_root(".", ".") + lazy umount of the old root, or MS_MOVE+chroot."""
    os.chdir(rootfs)
    if no_pivot:
        _hide_full_proc_sys(os.getcwd())
        sc.mount(".", "/", None, sc.MS_MOVE)
        os.chroot(".")
    else:
        old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        try:
            sc.pivot_root(".", ".")
            # the old root now sits on top of "."; keep its unmount from propagating to the host.
            # From the old root's fd (as runc): "." looked up from the new root's directory is the
            # new root's mount, and rslave there would cut the container's shared mounts from the host
            os.fchdir(old_root)
        finally:
            os.close(old_root)
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")


def _hide_full_proc_sys(rootfs: str) -> None:
    """--no-pivot leaves the host's mounts in our namespace, under the chroot. A complete proc or
    sysfs among them would let the container mount a fresh, unmasked one (the kernel allows it
    when such a full mount exists): as runc does, each is detached, or covered by a tmpfs when
    it may not be."""
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    targets = []
    for line in lines:
        fields = line.split(" ")
        sep = fields.index("-")
        root, point, fstype = fields[3], _unescape(fields[4]), fields[sep + 1]
        if root == "/" and fstype in ("proc", "sysfs") and not is_within(rootfs, point):
            targets.append(point)
    for point in targets:
        try:
            sc.mount(None, point, None, sc.MS_SLAVE | sc.MS_REC)  # the detach must not reach the host
        except FileNotFoundError:
            continue  # under one detached already
        try:
            sc.umount2(point, sc.MNT_DETACH)
        except OSError as err:
            if err.errno not in (errno.EINVAL, errno.EPERM):
                raise
            sc.mount("tmpfs", point, "tmpfs", 0)


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    if "\\" not in field:
        return field
    import re

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mask_path(path: str) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
    else:
        sc.mount("/dev/null", path, None, sc.MS_BIND)


def readonly_path(path: str) -> None:
    try:
        sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
    except FileNotFoundError:
        return
    sc.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC | _locked_flags(path))


def remount_root_readonly() -> None:
    sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _locked_flags("/"))


FD_PREFIX = "/proc/self/fd/"


def _hold(path: str) -> str:
    """``path`` by an O_PATH fd of ours: reached through /proc/self/fd without walking its
    parents again (held until init execs: its fds are closed then)."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError as err:
        raise OSError(err.errno, f"bind mount source {path}: {err.strerror}") from err
    return f"{FD_PREFIX}{fd}"


def _become_root_holding(rootfs: str, mounts: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Hold the rootfs and every bind source by fd, then become root of the user namespace: that
    root (host uid 100000, say) may not traverse the host's 0700 directories on the way to them."""
    from .userns import become_root

    held = [{**m, "source": _hold(m["source"])} if _is_bind(m) else m for m in mounts]
    root = _hold(rootfs)
    become_root()
    return root, held


_KEPT_ON_REMOUNT = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_NOATIME | sc.MS_RELATIME | sc.MS_STRICTATIME


def _is_readonly_dev(m: dict[str, Any]) -> bool:
    """A tmpfs /dev with ``ro``: runc mounts it writable and remounts it read-only at the end."""
    return (m.get("type") == "tmpfs" and m.get("destination", "").rstrip("/") == "/dev"
            and "ro" in (m.get("options") or []))


def _is_bind(m: dict[str, Any]) -> bool:
    return m.get("type") == "bind" or any(o in ("bind", "rbind") for o in m.get("options") or [])


def prepare(config: dict[str, Any], rootfs: str, cgroup_paths: dict[str, str], late_root: bool = False) -> str:
    """Everything before the pivot: propagation, rootfs bind, spec mounts, /dev. ``late_root``:
    init becomes root of its user namespace here (``_become_root_holding``). Returns the path
    the rootfs is reached by from now on."""
    linux = config.get("linux") or {}
    set_root_propagation(linux.get("rootfsPropagation"))
    make_parent_mount_private(rootfs)
    bind_rootfs(rootfs)
    mounts = config.get("mounts") or []
    if late_root:
        rootfs, mounts = _become_root_holding(rootfs, mounts)
    for m in mounts:
        if _is_readonly_dev(m):  # its devices and symlinks are made first: read-only in finalize
            m = {**m, "options": [o for o in m.get("options") or [] if o != "ro"]}
        mount_entry(rootfs, m, cgroup_paths)
    dev_is_tmpfs = any(m.get("destination", "").rstrip("/") == "/dev" and m.get("type") == "tmpfs" for m in mounts)
    if not any(_is_bind(m) and m.get("destination", "").rstrip("/") == "/dev" for m in mounts):
        create_devices(rootfs, linux.get("devices"), defaults=dev_is_tmpfs)  # runc: none into a bound /dev
    if dev_is_tmpfs:
        create_symlinks(rootfs)
    return rootfs


def finalize(config: dict[str, Any]) -> None:
    """After the pivot: root propagation, read-only paths, masked paths, read-only root."""
    linux = config.get("linux") or {}
    propagation = linux.get("rootfsPropagation")
    if propagation in PROPAGATION:
        # on the new "/" only: applied before the pivot it would reach the host's mounts
        sc.mount(None, "/", None, PROPAGATION[propagation])
    for m in config.get("mounts") or []:
        if _is_readonly_dev(m):
            flags = parse_options(m.get("options")).flags
            sc.mount(None, "/dev", None, sc.MS_REMOUNT | sc.MS_RDONLY | (flags & _KEPT_ON_REMOUNT))
    for p in linux.get("readonlyPaths") or []:
        readonly_path(p)
    for p in linux.get("maskedPaths") or []:
        mask_path(p)
    if (config.get("root") or {}).get("readonly"):
        remount_root_readonly()
