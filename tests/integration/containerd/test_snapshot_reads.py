"""The engine reads a rootfs through containerd: a snapshot shown read-only to one reader, in a
mount namespace of its own (``rootfs_files.viewed``), small files taken from it (``Snapshots.ReadFiles``) and a directory
archived from it into a new volume (``Snapshots.Archive`` + ``volumes/copyup``); no mount is ever
left on the host, also when the read fails."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.archive.files import write_tar
from dockyard.containerd import mount as mountlib
from dockyard.containerd import rootfs_files
from dockyard.types import Mount
from dockyard.volumes import copyup

pytestmark = pytest.mark.root


def _mounts_under(base: Path, proc: str = "/proc/self") -> list[str]:
    return [line.split()[4] for line in Path(proc, "mountinfo").read_text().splitlines()
            if line.split()[4].startswith(str(base))]


def _snapshot(base: Path) -> Mount:
    """An active overlay snapshot: /etc/passwd changed in the upper, /etc/group deleted (whiteout)."""
    lower, upper = base / "lower", base / "upper"
    for d in (lower / "etc", lower / "data" / "sub", upper / "etc", upper / "data", base / "work"):
        d.mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (lower / "etc" / "group").write_text("root:x:0:\n")
    (upper / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnew:x:7:7::/home/new:/bin/sh\n")
    os.mknod(upper / "etc" / "group", 0o600 | 0o020000, os.makedev(0, 0))
    (lower / "data" / "a").write_text("lower-a")
    (lower / "data" / "gone").write_text("x")
    (lower / "data" / "sub" / "s").write_text("s")
    (upper / "data" / "a").write_text("upper-a")
    os.mknod(upper / "data" / "gone", 0o600 | 0o020000, os.makedev(0, 0))
    os.chown(upper / "data", 1234, 4321)
    os.chmod(upper / "data", 0o751)
    (upper / "etc" / "link").symlink_to("/etc/passwd")
    return Mount("overlay", "overlay", ("index=off", f"workdir={base / 'work'}", f"upperdir={upper}",
                                        f"lowerdir={lower}"))


def test_read_only_keeps_the_upper_as_the_top_lower_and_binds_ro() -> None:
    active = Mount("overlay", "overlay", ("index=off", "workdir=/w", "upperdir=/u", "lowerdir=/a:/b", "volatile"))
    bind = Mount("bind", "/x", ("rbind", "rw"))
    assert rootfs_files.read_only([active, bind]) == [
        Mount("overlay", "overlay", ("index=off", "lowerdir=/u:/a:/b", "ro")), Mount("bind", "/x", ("rbind", "ro"))]


def test_files_are_read_from_a_read_only_view_only_the_reader_sees(tmp_path: Path) -> None:
    m, work = _snapshot(tmp_path), tmp_path / "cd-work"
    seen: list[list[str]] = []

    def read(root: str) -> dict[str, bytes]:
        seen.append(_mounts_under(work, "/proc/thread-self"))
        with pytest.raises(OSError):
            Path(root, "etc", "planted").write_text("x")  # read-only: the engine's read changes nothing
        return rootfs_files.read_files(root, ["/etc/passwd", "/etc/group", "/etc/link", "/etc", "/nothing/x"])

    files = rootfs_files.viewed(None, [m], work, read)
    assert files == {"/etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnew:x:7:7::/home/new:/bin/sh\n"}
    assert seen == [[str(work / "view")]]  # mounted for the reader, in its own mount namespace
    assert _mounts_under(tmp_path) == []  # never on the host's
    assert rootfs_files.read_files(str(tmp_path / "upper"), ["/etc/passwd"], max_size=4) == {}


def test_a_failed_read_leaves_no_mount_behind(tmp_path: Path) -> None:
    m, work = _snapshot(tmp_path), tmp_path / "cd-work"

    def fail(root: str) -> None:
        raise RuntimeError("reader failed")

    with pytest.raises(RuntimeError, match="reader failed"):
        rootfs_files.viewed(None, [m], work, fail)
    assert _mounts_under(tmp_path) == []
    assert not (tmp_path / "upper" / "etc" / "planted").exists()
    # the snapshot is still usable as an upper afterwards (its work dir was never taken)
    with mountlib.mounted([m], tmp_path / "mnt") as root:
        assert Path(root, "data", "a").read_text() == "upper-a"
    bogus = [Mount("overlay", "overlay", (f"lowerdir={tmp_path / 'nonexistent'}",))]
    with pytest.raises(mountlib.MountError):
        rootfs_files.viewed(None, bogus, work, fail)
    assert _mounts_under(tmp_path) == []


def test_a_running_tasks_rootfs_is_read_where_it_is(tmp_path: Path) -> None:
    running, work = tmp_path / "bundle" / "rootfs", tmp_path / "cd-work"
    running.mkdir(parents=True)
    bogus = [Mount("overlay", "overlay", (f"lowerdir={tmp_path / 'nonexistent'}",))]
    with pytest.raises(mountlib.MountError):  # no task's rootfs mounted there: the snapshot is viewed
        rootfs_files.viewed(running, bogus, work, str)
    mountlib.mount(Mount("tmpfs", "tmpfs", ("size=1m",)), running)  # as a task's rootfs: its own fs
    try:
        assert rootfs_files.viewed(running, bogus, work, str) == str(running)
    finally:
        mountlib.unmount_all(running)
    assert _mounts_under(tmp_path) == []


class _FakeContainerd:
    """``snapshot_archive`` as the Snapshots service makes it: a view, ``write_tar``, errors first."""

    def __init__(self, mounts: list[Mount], work: Path) -> None:
        self.mounts, self.work = mounts, work

    def snapshot_archive(self, key: str, path: str) -> AsyncIterator[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            out = io.BytesIO()
            rootfs_files.viewed(None, self.mounts, self.work, lambda root: write_tar(root, path, out))
            data = out.getvalue()
            for i in range(0, len(data), 4096):
                yield data[i:i + 4096]

        return chunks()


def test_copy_up_fills_a_volume_from_the_merged_view(tmp_path: Path) -> None:
    cd, dest = _FakeContainerd([_snapshot(tmp_path)], tmp_path / "cd-work"), tmp_path / "vol"
    dest.mkdir()
    assert asyncio.run(copyup.copy_image_path(cd, "c1", "/data", dest))  # type: ignore[arg-type]
    assert (dest / "a").read_text() == "upper-a"
    assert not (dest / "gone").exists()
    assert (dest / "sub" / "s").read_text() == "s"
    st = os.stat(dest)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1234, 4321, 0o751)  # the image directory's
    for missing in ("/nothing", "/etc/passwd"):  # absent, or not a directory: nothing to copy
        assert not asyncio.run(copyup.copy_image_path(cd, "c1", missing, tmp_path / "v2"))  # type: ignore[arg-type]
    assert not (tmp_path / "v2").exists()
    assert _mounts_under(tmp_path) == []


def test_copy_up_refuses_what_the_archive_limits_refuse(tmp_path: Path) -> None:
    from dockyard.archive import safe_extract

    cd, dest = _FakeContainerd([_snapshot(tmp_path)], tmp_path / "cd-work"), tmp_path / "vol"
    dest.mkdir()
    old = safe_extract.set_limits(safe_extract.Limits(max_members=2))
    try:
        with pytest.raises(errors.InvalidArgument):
            asyncio.run(copyup.copy_image_path(cd, "c1", "/data", dest))  # type: ignore[arg-type]
    finally:
        safe_extract.set_limits(old)
