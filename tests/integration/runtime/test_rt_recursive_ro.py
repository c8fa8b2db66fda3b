"""``rro``: a recursively read-only bind, sub-mounts included (mount_setattr AT_RECURSIVE).

Regression (issue 13): dockyard-runc accepted ``rro`` and left the bind writable; runc and crun
answer EROFS. The canary is the host directory: nothing may appear in it, nor in its sub-mount.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rtkit import Bundle, Runtime

from tests.submounts import dir_with_tmpfs_sub

pytestmark = pytest.mark.root

_WRITE = "touch /m/top; echo top=$?; touch /m/sub/inner; echo sub=$?; mkdir /m/sub/d; echo mkdir=$?"


@pytest.fixture
def source_with_submount() -> Iterator[Path]:
    """A host directory with a tmpfs mounted on its ``sub/`` (unmounted and removed after)."""
    with dir_with_tmpfs_sub() as top:
        yield top


def _bind(bundle: Bundle, source: Path, options: list[str]) -> None:
    (bundle.rootfs / "m").mkdir(exist_ok=True)
    bundle.config["mounts"].append({"destination": "/m", "type": "bind", "source": str(source), "options": options})


def test_rro_bind_is_read_only_down_to_its_submounts(bundle: Bundle, any_runtime: Runtime,
                                                     source_with_submount: Path) -> None:
    _bind(bundle, source_with_submount, ["rbind", "rro"])
    bundle.write(["sh", "-c", _WRITE])
    proc = any_runtime.run(bundle)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["top=1", "sub=1", "mkdir=1"]
    assert "Read-only file system" in proc.stderr
    assert sorted(p.name for p in source_with_submount.iterdir()) == ["sub"]
    assert list((source_with_submount / "sub").iterdir()) == []


def test_plain_ro_leaves_submounts_writable(bundle: Bundle, runtime: Runtime, source_with_submount: Path) -> None:
    """What ``rro`` adds: ``ro`` on an rbind makes only the top mount read-only (as the kernel and runc do)."""
    _bind(bundle, source_with_submount, ["rbind", "ro"])
    bundle.write(["sh", "-c", _WRITE])
    proc = runtime.run(bundle)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["top=1", "sub=0", "mkdir=0"]


def test_recursive_options_parse_into_mount_attributes() -> None:
    from dockyard.runtime.linux import syscalls as sc
    from dockyard.runtime.linux.mountopts import parse_options

    opts = parse_options(["rbind", "rro", "rnosuid", "rnoatime"])
    assert opts.attr_set == sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NOATIME
    assert opts.attr_clr == sc.MOUNT_ATTR__ATIME
    assert opts.data == ""  # never handed to the filesystem as data, where a bind ignores it
    later = parse_options(["rro", "rrw"])
    assert (later.attr_set, later.attr_clr) == (0, sc.MOUNT_ATTR_RDONLY)
