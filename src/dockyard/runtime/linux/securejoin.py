"""Resolve a path inside a root directory the way the kernel would after chroot.

A container image is untrusted: ``/evil -> /tmp/outside`` or ``../../etc`` must
never let a mount land on the host (the CVE-2021-30465 class).  We walk the
path one component at a time with ``lstat``/``readlink`` and evaluate every
symlink relative to ``root`` (absolute links restart at ``root``; ``..`` never
climbs above it), like Go's filepath-securejoin.  Missing components are kept
lexically, so the caller can create them and re-verify.
"""

from __future__ import annotations

import errno
import os
import stat

_MAX_SYMLINKS = 255


def secure_join(root: str, unsafe_path: str) -> str:
    """Return ``root``-contained host path for ``unsafe_path``.

    The result always starts with ``root``; symlinks met on the way are
    resolved with ``root`` as their ``/``.
    """
    root = os.path.abspath(root)
    pending = [c for c in unsafe_path.split("/") if c not in ("", ".")]
    pending.reverse()  # a stack: pop() yields the next component
    resolved: list[str] = []
    links = 0
    while pending:
        comp = pending.pop()
        if comp in ("", "."):
            continue
        if comp == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, comp)
        try:
            st = os.lstat(candidate)
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ENOTDIR):
                resolved.append(comp)
                continue
            raise
        if not stat.S_ISLNK(st.st_mode):
            resolved.append(comp)
            continue
        links += 1
        if links > _MAX_SYMLINKS:
            raise OSError(errno.ELOOP, f"too many symlinks resolving {unsafe_path!r} in {root}")
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = []
        parts = [c for c in target.split("/") if c not in ("", ".")]
        pending.extend(reversed(parts))
    return os.path.join(root, *resolved) if resolved else root


def is_within(root: str, path: str) -> bool:
    """True when ``path`` is ``root`` or below it (lexically, both absolute)."""
    root = os.path.abspath(root)
    path = os.path.abspath(path)
    return path == root or path.startswith(root.rstrip("/") + "/")
