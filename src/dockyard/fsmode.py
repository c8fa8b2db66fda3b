"""Modes of what the daemons keep on disk: no host user but root may read or traverse it.

The data and exec roots are 0710 (root and, where a client group needs the API socket in the
exec root, that group), everything that holds a container's env, logs, config or rootfs is
0600/0700 beneath them (the CVE-2021-41091/41103 class: a world-traversable path to a rootfs
lets any host user run its setuid binaries). Modes are set explicitly, never through the
umask, and existing entries are chmod'ed too, so a daemon started on an older root tightens it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
ROOT_DIR = 0o710


def private_dir(path: Path, mode: int = PRIVATE_DIR, gid: int = 0) -> Path:
    """``path`` exists as a directory of root:``gid`` with exactly ``mode``."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    st = path.stat()
    if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, gid):
        os.chown(path, 0, gid)
    if st.st_mode & 0o7777 != mode:
        os.chmod(path, mode)
    return path


def _private_opener(path: str, flags: int) -> int:
    fd = os.open(path, flags, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)  # an existing file keeps its mode at open
    return fd


def open_private(path: Path | str, mode: str, **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` for a file only root may read (logs, configs): 0600, also if it existed."""
    return open(path, mode, opener=_private_opener, **kwargs)
