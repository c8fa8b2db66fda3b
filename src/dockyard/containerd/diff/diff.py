"""Overlay upper directory -> layer tar (containerd's Comparer for overlay).

An overlay upper dir already *is* the diff: new and changed files, plus
whiteouts as 0/0 character devices and opaque directories marked with the
``trusted.overlay.opaque=y`` xattr. We translate those into OCI whiteout
entries. Entries are sorted and owners numeric, so output is reproducible; a user namespace's
snapshot (``ids``) is written with the container's ids, the host's shifted back as it is walked.
Requires the snapshot to be mounted with redirect_dir and metacopy off
(the kernel defaults; our overlay mounts never turn them on).
"""

from __future__ import annotations

import os
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

from dockyard.archive.idmap import IdMap
from dockyard.containerd.diff.apply import WHITEOUT_OPAQUE, WHITEOUT_PREFIX

_OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    """An overlay upper directory made opaque (it hides every lower copy), either xattr namespace."""
    for name in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def _pax_xattrs(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in sorted(names):
        if name.startswith(_OVERLAY_XATTR_PREFIXES):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        out["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return out


def _info(name: str, st: os.stat_result, ids: IdMap | None) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = (st.st_uid, st.st_gid) if ids is None else ids.to_container(st.st_uid, st.st_gid)
    ti.uname = ti.gname = ""
    ti.mtime = int(st.st_mtime)
    return ti


def write_diff(upper: Path, out: BinaryIO, exclude: frozenset[str] = frozenset(), ids: IdMap | None = None) -> None:
    """Write the layer tar for ``upper`` into ``out``, without the paths in ``exclude`` (relative,
    like ``etc/hosts``): a file always, a directory when nothing but excluded paths is under it
    (the mount points a runtime made for a build step, and their parents)."""
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        _walk(tf, str(upper), "", links, exclude, ids)


def _walk(tf: tarfile.TarFile, base: str, rel: str, links: dict[tuple[int, int], str],
          exclude: frozenset[str] = frozenset(), ids: IdMap | None = None) -> None:
    directory = os.path.join(base, rel) if rel else base
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        arc = f"{rel}/{name}" if rel else name
        st = os.lstat(path)
        if arc in exclude and (not stat.S_ISDIR(st.st_mode) or _only_excluded(path, arc, exclude)):
            continue
        if _is_whiteout(st):
            wh = tarfile.TarInfo(f"{rel}/{WHITEOUT_PREFIX}{name}" if rel else f"{WHITEOUT_PREFIX}{name}")
            wh.mode, wh.mtime, wh.uname, wh.gname = 0, int(st.st_mtime), "", ""
            tf.addfile(wh)
            continue
        ti = _info(arc, st, ids)
        ti.pax_headers = _pax_xattrs(path)
        if stat.S_ISDIR(st.st_mode):
            ti.type = tarfile.DIRTYPE
            tf.addfile(ti)
            if is_opaque(path):
                op = tarfile.TarInfo(f"{arc}/{WHITEOUT_OPAQUE}")
                op.mode, op.mtime, op.uname, op.gname = 0, int(st.st_mtime), "", ""
                tf.addfile(op)
            _walk(tf, base, arc, links, exclude, ids)
            continue
        key = (st.st_dev, st.st_ino)
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1 and key in links:
            ti.type = tarfile.LNKTYPE
            ti.linkname = links[key]
            tf.addfile(ti)
            continue
        if st.st_nlink > 1:
            links[key] = arc
        if stat.S_ISREG(st.st_mode):
            ti.size = st.st_size
            with open(path, "rb") as f:
                tf.addfile(ti, f)
        elif stat.S_ISLNK(st.st_mode):
            ti.type = tarfile.SYMTYPE
            ti.linkname = os.readlink(path)
            tf.addfile(ti)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            ti.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            tf.addfile(ti)
        elif stat.S_ISFIFO(st.st_mode):
            ti.type = tarfile.FIFOTYPE
            tf.addfile(ti)
        # sockets are not representable in tar and are skipped


def _only_excluded(path: str, arc: str, exclude: frozenset[str]) -> bool:
    """Whether the directory ``arc`` holds nothing the layer keeps (and hides nothing below it)."""
    if is_opaque(path):
        return False
    for name in os.listdir(path):
        child, sub = os.path.join(path, name), f"{arc}/{name}"
        if sub not in exclude:
            return False
        if stat.S_ISDIR(os.lstat(child).st_mode) and not _only_excluded(child, sub, exclude):
            return False
    return True


def diff_upper(upper: Path, exclude: frozenset[str] = frozenset(), ids: IdMap | None = None) -> BinaryIO:
    """The layer tar of ``upper`` as a seekable stream (spooled to disk when large)."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)
    write_diff(upper, spool, exclude, ids)  # type: ignore[arg-type]
    spool.seek(0)
    return spool  # type: ignore[return-value]
