"""A host directory with a tmpfs mounted on its ``sub/``: the source of a bind whose submount a
recursive read-only (``rro``) bind must make read-only too."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def dir_with_tmpfs_sub() -> Iterator[Path]:
    """The directory (under /tmp: the container's user must reach it); unmounted and removed after."""
    top = Path(tempfile.mkdtemp(prefix="dockyard-rro-", dir="/tmp"))
    (top / "sub").mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "rro-test", str(top / "sub")], check=True)
    try:
        yield top
    finally:
        subprocess.run(["umount", "-l", str(top / "sub")], check=False)
        subprocess.run(["rm", "-rf", "--one-file-system", str(top)], check=False)
