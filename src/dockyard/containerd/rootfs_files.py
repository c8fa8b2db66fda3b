"""Files of a container's root filesystem, for ``docker cp``, ``export`` and ``diff``: containerd
owns the mounts. A running task's rootfs is already mounted in its bundle; a stopped container's
snapshot is mounted on a private temporary directory for the duration of one call
(``mounted``). What is read and written there goes through ``dockyard.archive`` (``files``,
``safe_extract``), as the engine's ``cp`` into volumes and binds does; ``changes`` reads an
overlay snapshot's upper directory for ``docker diff``.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from dockyard.containerd import mount as mountlib
from dockyard.types import Mount


@contextlib.contextmanager
def mounted(running_root: Path | None, mounts: list[Mount], work_dir: Path) -> Iterator[str]:
    """The container's rootfs as a host path: the task's, or the snapshot mounted for this call."""
    if running_root is not None and os.path.ismount(running_root):
        yield str(running_root)
        return
    with mountlib.mounted(mounts, work_dir, "view-") as target:
        yield str(target)


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
        if m.type != "overlay":
            continue
        upper, lowers = None, []
        for opt in m.options:
            if opt.startswith("upperdir="):
                upper = Path(opt.split("=", 1)[1])
            elif opt.startswith("lowerdir="):
                lowers = opt.split("=", 1)[1].split(":")
        if upper is not None:
            return upper, lowers
    return None
