"""Scratch mounts (extraction into a new snapshot) are overlayfs ``volatile``: their unmount does
not sync the filesystem, and the upper is left mountable again (the kernel's mark is cleared)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dockyard.containerd import mount as mountlib
from dockyard.types import Mount

pytestmark = pytest.mark.root


def _overlay(base: Path) -> Mount:
    for d in ("lower", "upper", "work"):
        (base / d).mkdir()
    (base / "lower" / "f").write_text("lower\n")
    return Mount("overlay", "overlay", (f"lowerdir={base / 'lower'}", f"upperdir={base / 'upper'}",
                                        f"workdir={base / 'work'}"))


def test_a_scratch_mount_is_volatile_and_its_upper_mounts_again(tmp_path: Path) -> None:
    m = _overlay(tmp_path)
    with mountlib.mounted([m], tmp_path / "mnt", scratch=True) as target:
        options = next(line.split()[3] for line in Path("/proc/self/mounts").read_text().splitlines()
                       if line.split()[1] == str(target))
        assert {"volatile", "fsync=volatile"} & set(options.split(","))  # as the kernel shows it
        (target / "g").write_text("written\n")
        assert (tmp_path / "work" / "work" / "incompat" / "volatile").is_dir()  # the kernel's mark
    assert (tmp_path / "upper" / "g").read_text() == "written\n"
    assert not (tmp_path / "work" / "work" / "incompat").exists()
    with mountlib.mounted([m], tmp_path / "mnt") as target:  # mountable again, as an upper
        assert (target / "g").read_text() == "written\n" and (target / "f").read_text() == "lower\n"
    assert subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout.count(
        str(tmp_path)) == 0


def test_only_overlays_with_an_upper_become_volatile() -> None:
    view = Mount("overlay", "overlay", ("lowerdir=/a:/b",))
    bind = Mount("bind", "/x", ("rbind", "ro"))
    upper = Mount("overlay", "overlay", ("lowerdir=/a", "upperdir=/u", "workdir=/w"))
    assert mountlib.volatile([view, bind, upper]) == [view, bind, Mount("overlay", "overlay", (
        "lowerdir=/a", "upperdir=/u", "workdir=/w", "volatile"))]
