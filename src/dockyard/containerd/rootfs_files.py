"""Files of a container's root filesystem, for ``docker cp``, ``export`` and ``diff``: containerd
owns the mounts. A running task's rootfs is already mounted in its bundle; a stopped container's
snapshot is mounted on a private temporary directory for the duration of one call
(``mounted``). What is read and written there goes through ``dockyard.archive`` (``files``,
``safe_extract``), as the engine's ``cp`` into volumes and binds does, in a remapped container's
own ids (the Containers service passes its snapshot's ``archive.idmap.IdMap``); ``changes`` reads an
overlay snapshot's upper directory for ``docker diff``. ``viewed`` shows a snapshot read-only to
one reader, for the engine's reads of a rootfs (users, volume copy-up; ``Snapshots.ReadFiles`` and
``Snapshots.Archive``): ``read_files`` takes small files from it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from dockyard import errors
from dockyard.archive.files import locate
from dockyard.archive.safe_extract import Root
from dockyard.containerd import mount as mountlib
from dockyard.types import Mount

READ_FILES_MAX = 1 << 20
T = TypeVar("T")


@contextlib.contextmanager
def mounted(running_root: Path | None, mounts: list[Mount], work_dir: Path) -> Iterator[str]:
    """The container's rootfs as a host path: the task's, or the snapshot mounted for this call."""
    if running_root is not None and os.path.ismount(running_root):
        yield str(running_root)
        return
    with mountlib.mounted(mounts, work_dir, "view-") as target:
        yield str(target)


def read_only(mounts: Iterable[Mount]) -> list[Mount]:
    """``mounts`` as a read-only view: an overlay's upper directory becomes its topmost lower (no
    work directory is used, so a task's own mount of the same upper is not disturbed); a bind is ro."""
    out = []
    for m in mounts:
        if m.type == "overlay":
            dirs = mountlib.overlay_dirs(m)
            opts = [o for o in dirs.rest if o not in ("rw", "volatile")]
            layers = [dirs.upper, *dirs.lower] if dirs.upper else dirs.lower
            out.append(Mount(m.type, m.source, (*opts, "lowerdir=" + ":".join(layers), "ro"), m.target))
        else:
            out.append(Mount(m.type, m.source, (*(o for o in m.options if o != "rw"), "ro"), m.target))
    return out


def viewed(running_root: Path | None, mounts: list[Mount], work_dir: Path, read: Callable[[str], T]) -> T:
    """``read(root)`` on a snapshot's files, read-only: a running task's rootfs where it is, else the
    snapshot mounted read-only in a mount namespace of a thread of its own, which ends with the call
    (so the mount is gone with the thread, also on error or a crash, and no unmount is waited for)."""
    if running_root is not None and os.path.ismount(running_root):
        return read(str(running_root))
    target = work_dir / "view"
    target.mkdir(parents=True, exist_ok=True)

    def inside() -> T:
        mountlib.private_namespace()
        mountlib.mount_all(read_only(mounts), target)
        return read(str(target))

    return _on_thread(inside)


def _on_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` on a new thread that ends with it (its mount namespace dies with it)."""
    out: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as err:  # handed to the caller below
            failed.append(err)

    t = threading.Thread(target=run, name="snapshot-view")
    t.start()
    t.join()
    if failed:
        raise failed[0]
    return out[0]


def read_files(root: str, paths: Iterable[str], max_size: int = READ_FILES_MAX) -> dict[str, bytes]:
    """The regular files among ``paths`` of ``root`` (directories resolved inside it, the last name
    not followed), each at most ``max_size`` bytes; the others are left out."""
    out: dict[str, bytes] = {}
    with Root(root) as r:
        for path in paths:
            try:
                loc = locate(r, path)
                fd = os.open(loc.name or ".", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                             dir_fd=loc.dir.fd)
            except (errors.NotFound, errors.InvalidArgument, OSError):
                continue
            try:
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode) and st.st_size <= max_size:
                    with os.fdopen(fd, "rb", closefd=False) as f:
                        out[path] = f.read(max_size + 1)[:max_size]
            finally:
                os.close(fd)
    return out


def changes(upper: Path, lowers: list[str]) -> list[tuple[int, str]]:
    """``docker diff`` from an overlay upper dir: (kind, path), kind 0 = changed, 1 = added, 2 = deleted."""
    out: list[tuple[int, str]] = []

    def in_lower(rel: str) -> bool:
        return any(os.path.lexists(os.path.join(lo, rel)) for lo in lowers)

    for dirpath, dirnames, filenames in os.walk(upper):
        rel_dir = os.path.relpath(dirpath, upper)
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(full)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append((2, "/" + rel))
            else:
                out.append((0 if in_lower(rel) else 1, "/" + rel))
    return sorted(out, key=lambda x: x[1])


def overlay_dirs(mounts: list[Mount]) -> tuple[Path, list[str]] | None:
    """(upperdir, lowerdirs) of a snapshot's overlay mount; None for other kinds."""
    for m in mounts:
        dirs = mountlib.overlay_dirs(m) if m.type == "overlay" else None
        if dirs is not None and dirs.upper:
            return Path(dirs.upper), dirs.lower
    return None
