"""runc's cgroup v1 and hook rules that its bats suite checks, on fake cgroup files: no root."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from dockyard.runtime import hooks
from dockyard.runtime.cgroups import v1
from dockyard.runtime.cgroups.v1 import CgroupV1, device_writes, mountpoints


def test_device_rules_minimal_transitions() -> None:
    """A deny after "deny all" changes nothing (and "rwa" made the kernel refuse it): not written."""
    rules = [{"allow": False, "access": "rwm"}, {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "rwa"},
             {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
             {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}]
    assert device_writes(rules) == [("devices.deny", "a"), ("devices.allow", "c 1:3 rwm"), ("devices.deny", "c 1:3 w")]
    allow_all = [{"allow": True, "access": "rwm"}, {"allow": True, "type": "b", "major": 8, "access": "rwma"}]
    assert device_writes(allow_all) == [("devices.allow", "a")]
    assert device_writes([{"allow": False, "type": "c", "major": 1, "minor": 11, "access": "rwa"}]) == \
        [("devices.deny", "c 1:11 rw")]


def _cg(path: Path, **files: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, value in files.items():
        (path / (name if "." in name else name.replace("_", ".", 1))).write_text(value)
    return path


def test_cpuset_fills_empty_ancestors(tmp_path: Path) -> None:
    """A pod cgroup made by hand without cpus/mems: the container's cpuset inherits through it."""
    root = _cg(tmp_path / "cpuset", cpuset_cpus="0-1\n", cpuset_mems="0\n")
    pod = _cg(root / "pod", cpuset_cpus="", cpuset_mems="")
    leaf = _cg(pod / "c", cpuset_cpus="", cpuset_mems="")
    CgroupV1._mkdir_cpuset(str(leaf))
    for d in (pod, leaf):
        assert (d / "cpuset.cpus").read_text() == "0-1" and (d / "cpuset.mems").read_text() == "0"
    assert (root / "cpuset.cpus").read_text() == "0-1\n"


def test_memory_unlimited_lifts_memsw(tmp_path: Path) -> None:
    mem = _cg(tmp_path / "memory", memory_limit_in_bytes="33554432", **{"memory.memsw.limit_in_bytes": "96468992"})
    CgroupV1._apply_memory(str(mem), {"limit": -1})
    assert (mem / "memory.memsw.limit_in_bytes").read_text() == "-1"
    assert (mem / "memory.limit_in_bytes").read_text() == "-1"


def test_cfs_period_retried_after_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shorter period refused with the old quota (a parent's limit) goes in after the new quota."""
    cpu = _cg(tmp_path / "cpu", cpu_cfs_period_us="1000000", cpu_cfs_quota_us="500000")
    real_write = v1.write
    order = []

    def write(path: str, value: object) -> None:
        order.append((Path(path).name, value))
        if path.endswith("period_us") and (Path(path).parent / "cpu.cfs_quota_us").read_text() == "500000":
            raise OSError(errno.EINVAL, "exceeds the parent's quota")
        real_write(path, value)  # type: ignore[arg-type]

    monkeypatch.setattr(v1, "write", write)
    CgroupV1._apply_cfs(str(cpu), 10000, 3000)
    assert order == [("cpu.cfs_period_us", 10000), ("cpu.cfs_quota_us", 3000), ("cpu.cfs_period_us", 10000)]
    assert (cpu / "cpu.cfs_period_us").read_text() == "10000"
    with pytest.raises(OSError):
        CgroupV1._apply_cfs(str(_cg(tmp_path / "cpu2", cpu_cfs_quota_us="500000")), 10000, None)


def test_hybrid_hierarchy_found(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text("35 25 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n")
    assert mountpoints(str(info)) == {"memory": "/sys/fs/cgroup/memory", v1.HYBRID: "/sys/fs/cgroup/unified"}


def test_hook_end_worded_as_runc() -> None:
    assert hooks._wait_status(3) == "exit status 3"
    assert hooks._wait_status(-31) == "signal: bad system call"
    assert hooks._wait_status(-9) == "signal: killed"


def test_events_lines_mention_oom_only_for_an_oom() -> None:
    """runc's stats have no OOM counter; its tests wait for an OOM with ``grep oom``."""
    from dockyard.runtime.lifecycle.events import dumps

    stats = {"type": "stats", "id": "c", "data": {"memory": {"usage": {"usage": 1}, "oom_kill": 0}, "pids": {}}}
    assert "oom" not in dumps(stats)
    assert stats["data"]["memory"]["oom_kill"] == 0  # the in-process reader's copy keeps it
    assert dumps({"type": "oom", "id": "c"}) == '{"type":"oom","id":"c"}'


def test_checkpoint_parent_path_checked_first(tmp_path: Path) -> None:
    """checkpoint stays unsupported, but a bad --parent-path is told as runc tells it."""
    from dockyard.errors import InvalidArgument
    from dockyard.runtime.cli import check_parent_path

    with pytest.raises(InvalidArgument, match="--parent-path must be relative"):
        check_parent_path(["--parent-path", "/abs", "--image-path", str(tmp_path)])
    with pytest.raises(InvalidArgument, match="invalid --parent-path: stat .*/parent: no such file"):
        check_parent_path(["--parent-path=./parent", f"--image-path={tmp_path}"])
    (tmp_path / "parent").mkdir()
    check_parent_path(["--parent-path", "parent", "--image-path", str(tmp_path)])
    check_parent_path(["--work-path", "w"])


def test_hierarchies_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shim template reads the hierarchies before it forks: a container's create (its cgroup
    manager, then init's cgroup mount) does not read /proc/self/mountinfo for them again."""
    reads: list[str] = []

    def counted(mountinfo: str = "/proc/self/mountinfo") -> dict[str, str]:
        reads.append(mountinfo)
        return {"memory": "/sys/fs/cgroup/memory"}

    monkeypatch.setattr(v1, "mountpoints", counted)
    monkeypatch.setattr(v1, "_host_mounts", None)
    first = v1.host_mountpoints()
    first["memory"] = "changed by a caller"
    CgroupV1("dockyard/x")
    assert v1.host_mountpoints() == {"memory": "/sys/fs/cgroup/memory"}
    assert len(reads) == 1
