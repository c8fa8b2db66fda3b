"""Fixtures for the runtime's root-only integration suite.

Each test gets a fresh bundle (a busybox-static rootfs copied from the host), a
private ``--root`` and a unique cgroup parent; teardown force-deletes every
container, removes the cgroups, reaps orphans and checks nothing stayed mounted.
The binary under test is ``DOCKYARD_RUNTIME`` (default: our CLI) so the same
suite can be pointed at runc for differential runs.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rtkit import CGROUP_PARENT, HOST_DEVICES, Bundle, Runtime, host_device_stats, reap, skip_without_root

RUNTIMES = ("dockyard-runc", "runc", "crun")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_without_root(config, items)


@pytest.fixture(scope="session", autouse=True)
def _subreaper() -> Iterator[None]:
    """Orphaned container inits re-parent to the test process, so teardown can reap them."""
    if os.geteuid() == 0:
        from dockyard.runtime.linux import syscalls as sc

        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    # A bundle without cgroupsPath (e.g. from `spec`) lands under the runtime's default parent.
    had_default = set(Path("/sys/fs/cgroup").glob("*/dockyard-runc"))
    yield
    parents = [*Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}"),
               *(p for p in Path("/sys/fs/cgroup").glob("*/dockyard-runc") if p not in had_default)]
    for parent in parents:
        try:
            parent.rmdir()
        except OSError:
            pass


@pytest.fixture(autouse=True)
def _host_devices_untouched() -> Iterator[None]:
    """Every runtime test: the host's device nodes keep owner, mode and ctime (repaired, then failed)."""
    before = host_device_stats()
    yield
    after = host_device_stats()
    changed = {p: (before[p], after[p]) for p in HOST_DEVICES if after[p] != before[p]}
    for path, ((uid, gid, mode, _), _) in changed.items():
        os.chown(path, uid, gid)
        os.chmod(path, mode & 0o7777)
    assert not changed, f"host devices changed (uid, gid, mode, ctime before/after): {changed}"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(tmp_path / "state")
    yield rt
    for cid in set(rt.ids):
        rt("delete", "--force", cid)
    reap()


@pytest.fixture
def bundle(tmp_path: Path) -> Iterator[Bundle]:
    cid = "t" + uuid.uuid4().hex[:12]
    b = Bundle(tmp_path / "bundle", cid)
    yield b
    cleanup_bundle(b, tmp_path)


@pytest.fixture
def userns_bundle(tmp_path: Path) -> Iterator[Bundle]:
    """A bundle the mapped root (host uid 100000) can reach: pytest's tmp_path sits under a 0700 dir.

    It has a user namespace mapping 0-65535 to host 100000-165535 and a bind
    mount of ``volume/`` (owned by the mapped root) on /mnt.
    """
    import shutil
    import tempfile

    from rtkit import userns_config

    top = Path(tempfile.mkdtemp(prefix="dockyard-uns-", dir="/tmp"))
    try:
        top.chmod(0o755)
        b = Bundle(top / "bundle", "u" + uuid.uuid4().hex[:12])
        userns_config(b, top / "volume")
        yield b
        cleanup_bundle(b, top)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def cleanup_bundle(b: Bundle, tmp_path: Path) -> None:
    """Remove the bundle's cgroups (killing stragglers), reap, and check nothing stayed mounted."""
    for d in b.cgroup_dirs(everything=True):
        for _ in range(100):
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                for pid in (d / "cgroup.procs").read_text().split():
                    try:
                        os.kill(int(pid), 9)
                    except ProcessLookupError:
                        pass
                reap()
                time.sleep(0.01)
    reap()
    with open("/proc/self/mountinfo") as f:
        leaked = [line for line in f if str(tmp_path) in line]
    assert not leaked, f"mounts leaked onto the host: {leaked}"


@pytest.fixture(scope="session")
def _hugetlb_v1() -> None:
    """crun's hugetlb mount point (rtkit.CRUN_ARGV mounts on it privately per call).

    An empty directory in /sys/fs/cgroup's tmpfs, made once and left: removing it could race
    with another test run that is about to mount on it."""
    Path("/sys/fs/cgroup/hugetlb").mkdir(exist_ok=True)


@pytest.fixture(params=RUNTIMES)
def any_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    """The same case under dockyard-runc, runc and crun (the Debian packages)."""
    import shutil

    name = request.param
    if name != "dockyard-runc" and shutil.which(name) is None:
        pytest.skip(f"{name} is not installed (apt-get install -y {name})")
    if name == "crun":
        request.getfixturevalue("_hugetlb_v1")
    rt = Runtime(tmp_path / f"state-{name}", name)
    yield rt
    for cid in set(rt.ids):
        rt("delete", "--force", cid)
    reap()
