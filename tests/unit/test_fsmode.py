"""fsmode: logs and directories only root may read, also when they existed before."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dockyard.fsmode import open_private, private_dir


def _mode(p: Path | str) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_open_private_tightens_an_existing_file(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    log.write_bytes(b"old\n")
    log.chmod(0o644)
    with open_private(log, "ab") as f:
        f.write(b"new\n")
    assert _mode(log) == 0o600 and log.read_bytes() == b"old\nnew\n"
    with open_private(tmp_path / "fresh", "wb"):
        pass
    assert _mode(tmp_path / "fresh") == 0o600


def test_private_dir_makes_and_tightens(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir(mode=0o755)
    old.chmod(0o755)
    assert private_dir(old) == old and _mode(old) == 0o700
    assert _mode(private_dir(tmp_path / "a" / "b", 0o710)) == 0o710
