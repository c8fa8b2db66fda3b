"""The cgroup v2 manager on this host's unified hierarchy.

This machine is a v1 hybrid: every controller is bound to a v1 hierarchy, but the
unified (v2) hierarchy is mounted too, without controllers. What v2 does without
controllers — directories, membership, ``cgroup.freeze``, ``cgroup.kill``,
``cgroup.events``, core ``unified`` keys — runs here for real; limits that need a
controller (memory.max, pids.max) cannot, and are covered by the v1 tests.
"""

from __future__ import annotations

import os
import signal
import uuid

import pytest

from dockyard.runtime.cgroups.v2 import CgroupV2

pytestmark = pytest.mark.root

UNIFIED = next((line.split()[1] for line in open("/proc/self/mounts") if line.split()[2] == "cgroup2"), None)


@pytest.fixture
def cg():
    if UNIFIED is None:
        pytest.skip("no cgroup2 hierarchy mounted on this host")
    mgr = CgroupV2(f"/dockyard-test-v2-{uuid.uuid4().hex[:8]}/c1", root=UNIFIED)
    parent = os.path.dirname(mgr.dir)
    children: list[int] = []
    yield mgr, children
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    mgr.remove()
    if os.path.isdir(parent):
        os.rmdir(parent)


def _sleeper(children: list[int]) -> int:
    pid = os.fork()
    if pid == 0:
        os.execvp("sleep", ["sleep", "60"])
    children.append(pid)
    return pid


def test_create_add_task_and_list_pids(cg):
    mgr, children = cg
    mgr.create()
    assert os.path.isfile(os.path.join(mgr.dir, "cgroup.procs"))
    pid = _sleeper(children)
    mgr.add_task(pid)
    assert mgr.pids() == [pid]
    assert f"0::/{os.path.relpath(mgr.dir, UNIFIED)}" in open(f"/proc/{pid}/cgroup").read()


def test_freeze_and_thaw_report_through_cgroup_events(cg):
    mgr, children = cg
    mgr.create()
    mgr.add_task(_sleeper(children))
    mgr.freeze(True)
    assert "frozen 1" in open(os.path.join(mgr.dir, "cgroup.events")).read()
    mgr.freeze(False)
    assert "frozen 0" in open(os.path.join(mgr.dir, "cgroup.events")).read()


def test_kill_all_empties_the_cgroup_and_wait_empty_sees_it(cg):
    mgr, children = cg
    mgr.create()
    pids = [_sleeper(children) for _ in range(3)]
    for pid in pids:
        mgr.add_task(pid)
    assert sorted(mgr.pids()) == sorted(pids)
    mgr.kill_all(signal.SIGKILL)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.WTERMSIG(status) == signal.SIGKILL
    children.clear()
    assert mgr.wait_empty(5.0)
    mgr.remove()
    assert not os.path.exists(mgr.dir)


def test_unified_keys_are_written_and_path_tricks_refused(cg):
    mgr, _ = cg
    mgr.create()
    mgr.apply({"unified": {"cgroup.max.depth": "3"}})
    assert open(os.path.join(mgr.dir, "cgroup.max.depth")).read().strip() == "3"
    with pytest.raises(OSError, match="invalid unified cgroup key"):
        mgr.apply({"unified": {"../cgroup.procs": "1"}})


def test_a_limit_whose_controller_is_missing_fails_with_an_error(cg):
    """pids is bound to v1 here: pids.max does not exist in the v2 directory; the runtime must say so."""
    mgr, _ = cg
    mgr.create()
    if "pids" in open(os.path.join(UNIFIED, "cgroup.controllers")).read().split():
        pytest.skip("pids is a v2 controller on this host")
    with pytest.raises(OSError):
        mgr.apply({"pids": {"limit": 10}})
