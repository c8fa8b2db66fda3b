"""Filesystem-tree helpers for snapshotters: faithful copy and disk usage.

The native snapshotter's correctness is the copy's: a container must see the
same ownership, modes (setuid included), xattrs (file capabilities), hard
links, device nodes and timestamps as in its parent.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from dockyard.containerd.snapshots.snapshotter import Usage


def usage(root: Path) -> Usage:
    """Blocks (×512) and inodes under ``root``, each hard-linked inode counted once."""
    seen: set[tuple[int, int]] = set()
    size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, ""]:
            path = os.path.join(dirpath, name) if name else dirpath
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            ident = (st.st_dev, st.st_ino)
            if ident in seen:
                continue
            seen.add(ident)
            size += st.st_blocks * 512
    return Usage(size=size, inodes=len(seen))


def copy_xattrs(src: str, dst: str) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError as err:
        if err.errno in (errno.ENOTSUP, errno.EPERM):
            return
        raise
    for name in names:
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
        except OSError as err:
            if err.errno not in (errno.ENOTSUP, errno.EPERM):
                raise


def _copy_file_data(src: str, dst: str, mode: int) -> None:
    sfd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode & 0o777)
        try:
            size = os.fstat(sfd).st_size
            copied = 0
            try:
                while copied < size:
                    n = os.copy_file_range(sfd, dfd, size - copied)
                    if n == 0:
                        break
                    copied += n
            except OSError as err:
                if err.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                os.lseek(sfd, copied, os.SEEK_SET)
                with os.fdopen(os.dup(sfd), "rb") as fs, os.fdopen(os.dup(dfd), "wb") as fd:
                    fd.seek(copied)
                    shutil.copyfileobj(fs, fd, 1 << 20)
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


IdShift = Callable[[int, int], tuple[int, int]]


def _same_ids(uid: int, gid: int) -> tuple[int, int]:
    return uid, gid


def _apply_meta(src_st: os.stat_result, src: str, dst: str, shift: IdShift = _same_ids) -> None:
    """Owner, then mode (chown clears setuid), then xattrs (chown clears caps), then times."""
    is_link = stat.S_ISLNK(src_st.st_mode)
    try:
        os.lchown(dst, *shift(src_st.st_uid, src_st.st_gid))
    except PermissionError:
        pass
    if not is_link:
        os.chmod(dst, stat.S_IMODE(src_st.st_mode))
    copy_xattrs(src, dst)
    os.utime(dst, ns=(src_st.st_atime_ns, src_st.st_mtime_ns), follow_symlinks=False)


def copy_tree(src: Path, dst: Path, shift: IdShift = _same_ids) -> None:
    """Copy the contents of ``src`` into the existing directory ``dst``; ``shift`` maps each
    owner (uid, gid) to the copy's (a user namespace's remapped tree)."""
    links: dict[tuple[int, int], str] = {}
    _copy_dir(str(src), str(dst), links, shift)
    _apply_meta(os.lstat(src), str(src), str(dst), shift)


def _copy_dir(src: str, dst: str, links: dict[tuple[int, int], str], shift: IdShift = _same_ids) -> None:
    with os.scandir(src) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        s = entry.path
        d = os.path.join(dst, entry.name)
        st = entry.stat(follow_symlinks=False)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(d, 0o700)
            _copy_dir(s, d, links, shift)
            _apply_meta(st, s, d, shift)
            continue
        if st.st_nlink > 1:
            first = links.get((st.st_dev, st.st_ino))
            if first is not None:
                os.link(first, d)
                continue
            links[(st.st_dev, st.st_ino)] = d
        if stat.S_ISREG(mode):
            _copy_file_data(s, d, mode)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(s), d)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            os.mknod(d, mode, st.st_rdev)
        else:
            continue
        _apply_meta(st, s, d, shift)
