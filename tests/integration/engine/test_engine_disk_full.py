"""A full disk does not wedge the store (issue 13): on a data root that is a small tmpfs,
filled to the last byte, ``rm -f``, ``rmi`` and ``system prune`` succeed and free the space;
a pull that fails for want of space leaves no blob, snapshot or ingest behind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root
BIN = Path(sys.executable).parent


def _mounted(path: Path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


@contextmanager
def tmpfs_daemon(busybox_tar: Path, size: str) -> Iterator[Daemon]:
    """A daemon whose data root is a tmpfs of ``size``, with busybox:latest imported."""
    d = Daemon(Path(tempfile.mkdtemp(prefix="dy-", dir="/tmp")))
    d.data_root.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0710", "tmpfs", str(d.data_root)], check=True)
    try:
        d.start()
        r = d.cli("import", str(busybox_tar), "busybox:latest")
        assert r.returncode == 0, r.stderr.decode()
        yield d
    finally:
        d.cleanup()  # stops the daemons, unmounts what is under its base (the tmpfs too)
        if _mounted(d.data_root):
            subprocess.run(["umount", "-l", str(d.data_root)], check=False)


def free(d: Daemon) -> int:
    st = os.statvfs(d.data_root)
    return st.f_bavail * st.f_frsize


def ok(d: Daemon, *args: str, timeout: float = 120) -> str:
    r = d.cli(*args, timeout=timeout)
    assert r.returncode == 0, f"{args}: {r.stderr.decode()}"
    return r.stdout.decode()


def fill(d: Daemon, name: str, *volume: str, then: str = "sleep 600") -> None:
    """A container that writes until the disk is full (in its rootfs, or a volume), then runs
    ``then``; returns once the disk is full (with ``exit 0``: once the container exited, which
    may have taken a database's space reserve to record)."""
    target = "/data/fill" if volume else "/fill"
    ok(d, "run", "-d", "--name", name, *volume, "busybox", "sh", "-c", f"cat /dev/zero > {target}; {then}")
    deadline = time.monotonic() + 60
    while free(d) > 64 << 10 if then != "exit 0" else \
            ok(d, "inspect", "-f", "{{.State.Status}}", name).strip() != "exited":
        assert time.monotonic() < deadline, f"{free(d)} bytes still free"
        time.sleep(0.1)
    assert free(d) < 5 << 20, f"{free(d)} bytes free"


def test_rm_rmi_and_prune_work_on_a_full_disk(busybox_tar: Path) -> None:
    with tmpfs_daemon(busybox_tar, "64m") as d:
        ok(d, "tag", "busybox:latest", "other:1")
        ok(d, "create", "--name", "idle", "busybox", "true")
        fill(d, "filler")
        ok(d, "rm", "-f", "filler")
        assert free(d) > 20 << 20, "rm -f freed nothing"

        fill(d, "filler2", "-v", "/data", then="exit 0")  # stopped, an anonymous volume: prune takes both
        ok(d, "rmi", "other:1")
        ok(d, "rm", "-f", "idle")
        ok(d, "system", "prune", "-af", "--volumes")
        assert free(d) > 40 << 20, "prune freed nothing"
        assert ok(d, "ps", "-aq").split() == []
        assert ok(d, "volume", "ls", "-q").split() == []
        # and the store works again
        ok(d, "import", str(busybox_tar), "busybox:latest")
        assert ok(d, "run", "--rm", "busybox", "echo", "alive").strip() == "alive"


def store_listing(d: Daemon) -> dict[str, list[str]]:
    root = d.data_root / "containerd"
    out = {}
    for what, path in (("blobs", root / "content" / "blobs" / "sha256"), ("ingests", root / "content" / "ingest"),
                       ("snapshots", root / "snapshots" / "overlayfs" / "snapshots")):
        out[what] = sorted(p.name for p in path.iterdir()) if path.exists() else []
    return out


def test_a_pull_that_fills_the_disk_leaves_nothing_behind(fresh_daemon: Daemon, registry: str,
                                                          busybox_tar: Path, tmp_path: Path) -> None:
    ref = f"{registry}/big/image:1"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    # three layers over busybox: 1 MiB, then 40 MiB, then 1 MiB, all random (incompressible)
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nRUN head -c 1048576 /dev/urandom > /one\n"
        "RUN head -c 41943040 /dev/urandom > /big\nRUN head -c 1048576 /dev/urandom > /two\n")
    ok(fresh_daemon, "build", "-q", "-t", ref, str(ctx), timeout=300)
    ok(fresh_daemon, "push", ref, timeout=300)

    with tmpfs_daemon(busybox_tar, "48m") as d:
        before = store_listing(d)
        r = d.cli("pull", ref, timeout=300)
        assert r.returncode != 0, "the pull fit: the test needs a disk it cannot fit on"
        err = r.stderr.decode().lower()
        assert "space" in err or "full" in err, err
        assert store_listing(d) == before
        assert free(d) > 30 << 20
        assert ok(d, "images", "-q", ref).strip() == ""
        assert ok(d, "run", "--rm", "busybox", "echo", "still works").strip() == "still works"


def test_a_pull_that_fails_midway_leaves_no_unreferenced_blobs(fresh_daemon: Daemon, registry: str,
                                                               busybox_tar: Path, tmp_path: Path) -> None:
    """The registry loses a layer (its blob file deleted): the pull fails after fetching the
    manifest, the config and the other layers, which it removes again."""
    ref = f"{registry}/lost/image:1"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN head -c 2097152 /dev/urandom > /one\n"
                                    "RUN head -c 4194304 /dev/urandom > /lost\n")
    ok(fresh_daemon, "build", "-q", "-t", ref, str(ctx), timeout=300)
    ok(fresh_daemon, "push", ref, timeout=300)
    blobs = sorted((tmp_path / "registry" / "content" / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    blobs[-1].unlink()  # the 4 MiB layer, the last one

    with tmpfs_daemon(busybox_tar, "256m") as d:
        before = store_listing(d)
        r = d.cli("pull", ref, timeout=300)
        assert r.returncode != 0, r.stdout.decode()
        after = store_listing(d)
        assert (after["blobs"], after["snapshots"]) == (before["blobs"], before["snapshots"])
        assert ok(d, "images", "-q", ref).strip() == ""
