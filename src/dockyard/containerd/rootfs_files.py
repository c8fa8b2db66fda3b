"""Files of a container's root filesystem, for ``docker cp``, ``export`` and ``diff``.

containerd owns the mounts: a running task's rootfs is already mounted in its
bundle; a stopped container's snapshot is mounted on a private temporary
directory for the duration of one call. Paths are resolved inside that root
without following symlinks out of it (``resolve_in_root``); writes go through
``archive/safe_extract``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from dockyard import errors
from dockyard.containerd.archive.safe_extract import extract_archive
from dockyard.containerd.diff.apply import resolve_in_root
from dockyard.containerd import mount as mountlib
from dockyard.types import Mount

# Go's os.FileMode type bits, which the docker CLI decodes from X-Docker-Container-Path-Stat
GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27


@contextlib.contextmanager
def mounted(running_root: Path | None, mounts: list[Mount], work_dir: Path) -> Iterator[str]:
    """The container's rootfs as a host path: the task's, or the snapshot mounted for this call."""
    if running_root is not None and os.path.ismount(running_root):
        yield str(running_root)
        return
    with mountlib.mounted(mounts, work_dir, "view-") as target:
        yield str(target)


def resolve(root: str, path: str, follow_last: bool = False) -> str:
    """Host path of container ``path``; the last component's symlink is kept unless ``follow_last``."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        return root
    try:
        parent = resolve_in_root(root, parts[:-1])
    except FileNotFoundError as err:
        raise errors.NotFound(f"Could not find the file {path} in container") from err
    except NotADirectoryError as err:
        raise errors.InvalidArgument(f"{path}: not a directory") from err
    full = os.path.join(parent, parts[-1]) if parts[-1] != ".." else os.path.dirname(parent)
    if follow_last and os.path.islink(full):
        return resolve_in_root(root, [*parts[:-1], parts[-1]])
    return full


def stat_path(root: str, path: str) -> dict[str, Any]:
    full = resolve(root, path)
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        raise errors.NotFound(f"Could not find the file {path} in container") from None
    mode = stat.S_IMODE(st.st_mode)
    link = ""
    if stat.S_ISDIR(st.st_mode):
        mode |= GO_MODE_DIR
    elif stat.S_ISLNK(st.st_mode):
        mode |= GO_MODE_SYMLINK
        link = os.readlink(full)
    from datetime import datetime, timezone

    mtime = datetime.fromtimestamp(st.st_mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"name": os.path.basename(path.rstrip("/")) or "/", "size": st.st_size, "mode": mode, "mtime": mtime,
            "linkTarget": link}


def write_tar(root: str, path: str, out: IO[bytes]) -> None:
    """A tar of ``path`` named by its base name (``/`` = the whole rootfs, names relative), as dockerd does."""
    full = resolve(root, path)
    if not os.path.lexists(full):
        raise errors.NotFound(f"Could not find the file {path} in container")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        if full == root or path.strip("/") == "":
            for name in sorted(os.listdir(root)):
                tf.add(os.path.join(root, name), arcname=name, recursive=True)
        else:
            tf.add(full, arcname=os.path.basename(full), recursive=True)


def extract_tar(root: str, path: str, src: IO[bytes], no_overwrite_dir_non_dir: bool = False) -> None:
    """Unpack a tar into directory ``path`` of the container (``docker cp`` into it).

    Through the one routine for untrusted roots (``archive/safe_extract``): the container
    may have planted symlinks anywhere, and may still be running."""
    extract_archive(src, root, path, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir)


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
