"""kill -9 of both daemons with running containers: after a restart every container is re-adopted.

The shims outlive both daemons (live-restore); the restarted engine follows their tasks again: the
containers are still running, their logs go on, and stop and wait work with the right exit codes.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root

COUNT = int(os.environ.get("DOCKYARD_CRASH_CONTAINERS", "20"))


def _pid(path: os.PathLike[str] | str) -> int:
    with open(path) as f:
        return int(f.read().strip())


def test_kill9_both_daemons_then_everything_is_readopted(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    names = [f"crash{i}" for i in range(COUNT)]
    for name in names:
        r = d.cli("run", "-d", "--name", name, "busybox", "sh", "-c",
                  "trap 'exit 7' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")
        assert r.returncode == 0, r.stderr
    time.sleep(0.5)
    engine_pid = _pid(d.exec_root / "dockyardd.pid")
    containerd_pid = _pid(d.exec_root / "containerd" / "dockyard-containerd.pid")
    os.kill(containerd_pid, signal.SIGKILL)
    os.kill(engine_pid, signal.SIGKILL)
    assert d.proc is not None
    d.proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{containerd_pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    d.start()  # a new dockyardd on the same roots, which starts a new containerd

    for name in names:
        state = json.loads(d.cli("inspect", name).stdout)[0]["State"]
        assert state["Running"] is True, (name, state)
    before = d.cli("logs", names[0]).stdout.count(b"tick")
    time.sleep(1.0)
    after = d.cli("logs", names[0]).stdout.count(b"tick")
    assert after > before, "logs did not continue after the restart"

    r = d.cli("stop", "-t", "5", *names[:2])
    assert r.returncode == 0, r.stderr
    for name in names[:2]:
        assert json.loads(d.cli("inspect", name).stdout)[0]["State"]["ExitCode"] == 7
    assert d.cli("kill", names[2]).returncode == 0
    r = d.cli("wait", names[2])
    assert r.stdout.strip() == b"137", r


def test_a_restarted_engine_removes_what_removed_containers_left_in_containerd(fresh_daemon: Daemon) -> None:
    """A ``--rm`` container leaves the engine's records at once and its containerd record and
    snapshot just after; a crash in between leaves them behind. The next engine removes
    containerd containers it has no record of (here: one made directly in its namespace)."""
    import asyncio

    from dockyard.api import pb
    from dockyard.containerd.client import ContainerdClient
    from dockyard.engine.daemon import NAMESPACE

    d = fresh_daemon
    address = str(d.exec_root / "containerd.sock")
    orphan = "0" * 63 + "1"

    async def make() -> None:
        cd = ContainerdClient(address, NAMESPACE)
        try:
            await cd.snapshots.Prepare(pb.PrepareSnapshotRequest(key=orphan, parent=""))
            await cd.containers.Create(pb.Container(id=orphan, snapshotter="overlayfs", snapshot_key=orphan,
                                                    spec=b"{}", runtime="dockyard-runc"))
        finally:
            await cd.close()

    async def left() -> tuple[bool, bool]:
        cd = ContainerdClient(address, NAMESPACE)
        try:
            ids = [c.id for c in (await cd.containers.List(pb.ListContainersRequest())).containers]
            try:
                await cd.snapshots.Stat(pb.SnapshotKey(key=orphan))
                snapshot = True
            except Exception:  # noqa: BLE001 - NotFound, translated
                snapshot = False
            return orphan in ids, snapshot
        finally:
            await cd.close()

    asyncio.run(make())
    assert asyncio.run(left()) == (True, True)
    assert d.cli("run", "--rm", "busybox", "true").returncode == 0  # a known container is untouched by this
    assert d.stop() == 0
    d.start()  # the same roots: a new engine and containerd
    assert asyncio.run(left()) == (False, False)
    assert d.cli("run", "--rm", "busybox", "echo", "still fine").stdout == b"still fine\n"


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.5])
def test_kill9_of_both_daemons_during_a_build_leaves_a_store_that_builds_again(fresh_daemon: Daemon, tmp_path,
                                                                            delay: float) -> None:  # type: ignore[no-untyped-def]
    """Build layers are published behind and step records written behind: a kill -9 of both
    daemons in the middle of a build must leave nothing that a rebuild or a run trips over."""
    import hashlib
    import subprocess

    d = fresh_daemon
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY big.bin /big.bin\nRUN md5sum /big.bin > /sum\n"
                                    "COPY small.txt /small.txt\nRUN cat /small.txt >> /sum\n")
    big = os.urandom(8 << 20)
    (ctx / "big.bin").write_bytes(big)
    (ctx / "small.txt").write_text("small\n")
    build = subprocess.Popen([str(d_bin()), "-H", d.host, "build", "-q", "-t", "crash-build", str(ctx)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(delay)
    engine_pid = _pid(d.exec_root / "dockyardd.pid")
    containerd_pid = _pid(d.exec_root / "containerd" / "dockyard-containerd.pid")
    os.kill(containerd_pid, signal.SIGKILL)
    os.kill(engine_pid, signal.SIGKILL)
    build.communicate(timeout=30)
    assert d.proc is not None
    d.proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{containerd_pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    d.start()
    r = d.cli("build", "-q", "-t", "crash-build", str(ctx), timeout=120)
    assert r.returncode == 0, r.stderr.decode() + r.stdout.decode()
    out = d.cli("run", "--rm", "crash-build", "cat", "/sum").stdout.decode()
    assert out == f"{hashlib.md5(big).hexdigest()}  /big.bin\nsmall\n"
    assert d.cli("rmi", "crash-build").returncode == 0


def d_bin():  # type: ignore[no-untyped-def]
    from tests.conftest import BIN

    return BIN / "dockyard"
