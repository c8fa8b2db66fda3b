"""Every resource and isolation option of ``docker run`` applied as dockerd applies it, seen from
inside the container (and at its cgroup), and OOM kills reported (``State.OOMKilled``, ``oom``).

The docker CLI passes the flags (it builds the HostConfig as clients do); the daemon is the
session's private one. Memory stays small: the machine is shared.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Daemon, inspect

pytestmark = pytest.mark.root

DOCKER = "/usr/bin/docker"
V1 = not os.path.exists("/sys/fs/cgroup/cgroup.controllers")


@pytest.fixture(autouse=True)
def _docker_cli() -> None:
    if not os.path.exists(DOCKER):
        pytest.skip("needs the docker CLI at /usr/bin/docker")


def docker(d: Daemon, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCKER, "-H", d.host, *args], capture_output=True, text=True, timeout=timeout)


def run(d: Daemon, *args: str) -> str:
    """``docker run --rm <args>``: its output; a failure fails the test with the CLI's message."""
    r = docker(d, "run", "--rm", *args)
    assert r.returncode == 0, f"run {args}: {r.stderr}"
    return r.stdout


def cgroup_file(controller: str, path: str) -> str:
    """What the container reads at /sys/fs/cgroup/<controller>/<path> (its own cgroup, v1)."""
    return f"cat /sys/fs/cgroup/{controller}/{path}"


def first_block_device() -> str:
    for name in sorted(os.listdir("/dev")):
        path = f"/dev/{name}"
        if stat.S_ISBLK(os.stat(path).st_mode):
            return path
    pytest.skip("no block device on this host")


# -- memory -----------------------------------------------------------------------------


@pytest.mark.skipif(not V1, reason="cgroup v1 files")
def test_memory_limit_gets_twice_as_much_swap_by_default(daemon: Daemon) -> None:
    out = run(daemon, "-m", "32m", "busybox", "sh", "-c",
              "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    assert out.split() == [str(32 << 20), str(64 << 20)]
    r = docker(daemon, "create", "-m", "32m", "busybox", "true")
    assert r.returncode == 0, r.stderr
    try:
        host = inspect(daemon, r.stdout.strip())["HostConfig"]
        assert (host["Memory"], host["MemorySwap"]) == (32 << 20, 64 << 20)
        assert host["ShmSize"] == 64 << 20 and host["IpcMode"] == "private" and host["OomKillDisable"] is False
    finally:
        docker(daemon, "rm", "-f", r.stdout.strip())


@pytest.mark.skipif(not V1, reason="cgroup v1 files")
def test_memory_swap_minus_one_is_unlimited_and_a_value_is_memory_plus_swap(daemon: Daemon) -> None:
    unlimited = run(daemon, "-m", "32m", "--memory-swap", "-1", "busybox", "cat",
                    "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    assert int(unlimited) > 1 << 60
    given = run(daemon, "-m", "32m", "--memory-swap", "48m", "busybox", "cat",
                "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    assert int(given) == 48 << 20


@pytest.mark.skipif(not V1, reason="cgroup v1 files")
def test_memory_reservation_swappiness_and_oom_kill_disable(daemon: Daemon) -> None:
    out = run(daemon, "-m", "32m", "--memory-reservation", "16m", "--memory-swappiness", "7", "--oom-kill-disable",
              "busybox", "sh", "-c", "cd /sys/fs/cgroup/memory && cat memory.soft_limit_in_bytes memory.swappiness "
              "&& grep oom_kill_disable memory.oom_control")
    assert out.split() == [str(16 << 20), "7", "oom_kill_disable", "1"]


@pytest.mark.skipif(not V1, reason="cgroup v1 files")
def test_kernel_memory_is_ignored_as_dockerd_ignores_it(daemon: Daemon) -> None:
    out = run(daemon, "--kernel-memory", "50m", "busybox", "cat", "/sys/fs/cgroup/memory/memory.kmem.limit_in_bytes")
    assert int(out) > 1 << 60


# -- cpu, pids, block I/O ---------------------------------------------------------------


@pytest.mark.skipif(not V1, reason="cgroup v1 files")
def test_cpu_period_quota_shares(daemon: Daemon) -> None:
    out = run(daemon, "--cpu-period", "50000", "--cpu-quota", "25000", "--cpu-shares", "512", "busybox", "sh", "-c",
              "cd /sys/fs/cgroup/cpu && cat cpu.cfs_period_us cpu.cfs_quota_us cpu.shares")
    assert out.split() == ["50000", "25000", "512"]
    cpus = run(daemon, "--cpus", "0.5", "busybox", "sh", "-c",
               "cd /sys/fs/cgroup/cpu && cat cpu.cfs_period_us cpu.cfs_quota_us")
    assert cpus.split() == ["100000", "50000"]


@pytest.mark.skipif(not V1, reason="cgroup v1 files")
def test_cpuset_cpus_and_mems(daemon: Daemon) -> None:
    out = run(daemon, "--cpuset-cpus", "0", "--cpuset-mems", "0", "busybox", "sh", "-c",
              "cd /sys/fs/cgroup/cpuset && cat cpuset.cpus cpuset.mems")
    assert out.split() == ["0", "0"]


@pytest.mark.skipif(not V1, reason="cgroup v1 files")
def test_pids_limit(daemon: Daemon) -> None:
    assert run(daemon, "--pids-limit", "42", "busybox", "cat", "/sys/fs/cgroup/pids/pids.max").strip() == "42"
    assert run(daemon, "--pids-limit", "-1", "busybox", "cat", "/sys/fs/cgroup/pids/pids.max").strip() == "max"


@pytest.mark.skipif(not V1, reason="cgroup v1 files")
def test_block_io_throttles(daemon: Daemon) -> None:
    dev = first_block_device()
    rdev = os.stat(dev).st_rdev
    majmin = f"{os.major(rdev)}:{os.minor(rdev)}"
    out = run(daemon, "--device-read-bps", f"{dev}:1mb", "--device-write-bps", f"{dev}:2mb",
              "--device-read-iops", f"{dev}:100", "--device-write-iops", f"{dev}:200", "busybox", "sh", "-c",
              "cd /sys/fs/cgroup/blkio && cat blkio.throttle.read_bps_device blkio.throttle.write_bps_device "
              "blkio.throttle.read_iops_device blkio.throttle.write_iops_device")
    assert out.splitlines() == [f"{majmin} {1 << 20}", f"{majmin} {2 << 20}", f"{majmin} 100", f"{majmin} 200"]


def test_blkio_weight_applied_or_discarded_as_dockerd_does(daemon: Daemon) -> None:
    """No CFQ/BFQ scheduler (the usual case on virtual disks): dockerd discards the weight; the
    container runs either way."""
    from dockyard.engine.validate import sysinfo

    cmd = "cat /sys/fs/cgroup/blkio/blkio.weight 2>/dev/null || cat /sys/fs/cgroup/blkio/blkio.bfq.weight"
    out = run(daemon, "--blkio-weight", "300", "busybox", "sh", "-c", cmd if sysinfo().blkio_weight else "true")
    if sysinfo().blkio_weight and V1:
        assert out.strip() == "300"


# -- /dev/shm, devices --------------------------------------------------------------------


def test_shm_size_default_64m_and_given(daemon: Daemon) -> None:
    default = run(daemon, "busybox", "df", "-k", "/dev/shm").splitlines()[-1].split()
    assert default[1] == "65536"
    given = run(daemon, "--shm-size", "16m", "busybox", "df", "-k", "/dev/shm").splitlines()[-1].split()
    assert given[1] == "16384"


def test_ipc_none_has_no_dev_shm_mount(daemon: Daemon) -> None:
    out = run(daemon, "--ipc", "none", "busybox", "sh", "-c", "grep -c ' /dev/shm ' /proc/self/mounts || true")
    assert out.strip() == "0"


def test_device_node_and_its_cgroup_rule(daemon: Daemon) -> None:
    """``--device /dev/loop-control:/dev/mine:r``: the node exists and may be opened for reading only;
    without the flag the same node (made with mknod, allowed) cannot be opened."""
    host = os.stat("/dev/loop-control")
    maj, mnr = os.major(host.st_rdev), os.minor(host.st_rdev)
    out = run(daemon, "--device", "/dev/loop-control:/dev/mine:r", "busybox", "sh", "-c",
              "ls -l /dev/mine; (exec 3</dev/mine) && echo read-ok; (exec 4>/dev/mine) && echo write-ok; true")
    assert out.startswith("c") and f"{maj}, {mnr}" in out.splitlines()[0]
    assert "read-ok" in out and "write-ok" not in out
    denied = run(daemon, "busybox", "sh", "-c", f"mknod /dev/mine c {maj} {mnr}; (exec 3</dev/mine) && echo read-ok; true")
    assert "read-ok" not in denied


def test_device_cgroup_rule_allows_a_node_made_inside(daemon: Daemon) -> None:
    host = os.stat("/dev/loop-control")
    maj, mnr = os.major(host.st_rdev), os.minor(host.st_rdev)
    out = run(daemon, "--device-cgroup-rule", f"c {maj}:{mnr} r", "busybox", "sh", "-c",
              f"mknod /dev/mine c {maj} {mnr} && exec 3</dev/mine && echo read-ok")
    assert "read-ok" in out


def test_bad_device_refused_at_create(daemon: Daemon) -> None:
    before = docker(daemon, "ps", "-aq").stdout.split()
    r = docker(daemon, "create", "--device", "/nonexistent-device:/dev/x", "busybox", "true")
    assert r.returncode != 0 and "error gathering device information" in r.stderr
    r = docker(daemon, "create", "--device", "/etc/hostname:/dev/x", "busybox", "true")
    assert r.returncode != 0 and "not a device node" in r.stderr
    assert docker(daemon, "ps", "-aq").stdout.split() == before


# -- namespaces ---------------------------------------------------------------------------


def test_pid_host_sees_host_processes(daemon: Daemon) -> None:
    out = run(daemon, "--pid", "host", "busybox", "sh", "-c", f"readlink /proc/self/ns/pid; test -d /proc/{os.getpid()} "
              "&& echo sees-host")
    assert out.split() == [os.readlink("/proc/self/ns/pid"), "sees-host"]
    private = run(daemon, "busybox", "readlink", "/proc/self/ns/pid").strip()
    assert private != os.readlink("/proc/self/ns/pid")


def test_ipc_host_shares_the_hosts_sysv_ipc(daemon: Daemon) -> None:
    made = subprocess.run(["ipcmk", "-M", "4096"], capture_output=True, text=True, check=True).stdout
    shmid = made.split()[-1]
    try:
        out = run(daemon, "--ipc", "host", "busybox", "sh", "-c", "readlink /proc/self/ns/ipc; cat /proc/sysvipc/shm")
        assert out.splitlines()[0] == os.readlink("/proc/self/ns/ipc")
        assert any(line.split()[1:2] == [shmid] for line in out.splitlines()[2:])
        private = run(daemon, "busybox", "cat", "/proc/sysvipc/shm")
        assert not any(line.split()[1:2] == [shmid] for line in private.splitlines()[1:])
    finally:
        subprocess.run(["ipcrm", "-m", shmid], check=False)


def test_ipc_shareable_and_container_mode(daemon: Daemon) -> None:
    donor = docker(daemon, "run", "-d", "--ipc", "shareable", "busybox", "sleep", "60").stdout.strip()
    private = docker(daemon, "run", "-d", "busybox", "sleep", "60").stdout.strip()
    try:
        assert donor and private
        donor_ns = docker(daemon, "exec", donor, "readlink", "/proc/self/ns/ipc").stdout.strip()
        joined = run(daemon, "--ipc", f"container:{donor[:12]}", "busybox", "readlink", "/proc/self/ns/ipc").strip()
        assert joined == donor_ns
        r = docker(daemon, "run", "--rm", "--ipc", f"container:{private}", "busybox", "true")
        assert r.returncode != 0 and "non-shareable IPC" in r.stderr
    finally:
        docker(daemon, "rm", "-f", donor, private)


def test_pid_container_mode_sees_the_other_containers_processes(daemon: Daemon) -> None:
    other = docker(daemon, "run", "-d", "busybox", "sleep", "4321").stdout.strip()
    try:
        out = run(daemon, "--pid", f"container:{other}", "busybox", "ps", "-o", "args")
        assert "sleep 4321" in out
    finally:
        docker(daemon, "rm", "-f", other)


def test_pid_container_mode_joins_its_donor_at_start(daemon: Daemon) -> None:
    """As dockerd: a donor that is not running fails the joiner's start (500), not its create; once the
    donor runs, the same joiner starts in its PID namespace."""
    donor = docker(daemon, "create", "busybox", "sleep", "4322").stdout.strip()
    joiner = ""
    try:
        assert donor
        r = docker(daemon, "create", "--pid", f"container:{donor}", "busybox", "ps", "-o", "args")
        assert r.returncode == 0, r.stderr
        joiner = r.stdout.strip()
        r = docker(daemon, "start", "-a", joiner)
        assert r.returncode != 0 and f"failed to join PID namespace: container {donor} is not running" in r.stderr
        assert docker(daemon, "start", donor).returncode == 0
        r = docker(daemon, "start", "-a", joiner)
        assert r.returncode == 0 and "sleep 4322" in r.stdout, r.stderr
    finally:
        docker(daemon, "rm", "-f", *(c for c in (joiner, donor) if c))


def test_uts_host_has_the_hosts_hostname(daemon: Daemon) -> None:
    out = run(daemon, "--uts", "host", "busybox", "sh", "-c", "hostname; readlink /proc/self/ns/uts")
    assert out.split() == [socket.gethostname(), os.readlink("/proc/self/ns/uts")]


@pytest.mark.skipif(not V1, reason="cgroup v1 layout")
def test_cgroup_parent(daemon: Daemon) -> None:
    parent = f"{daemon.cgroup_parent}/custom-parent"  # under the daemon's own, so its cleanup removes it
    cid = docker(daemon, "run", "-d", "--cgroup-parent", parent, "busybox", "sleep", "60").stdout.strip()
    try:
        assert cid
        for controller in ("memory", "pids", "cpu"):
            procs = Path(f"/sys/fs/cgroup/{controller}/{parent}/{cid}/cgroup.procs").read_text().split()
            assert str(inspect(daemon, cid)["State"]["Pid"]) in procs
    finally:
        docker(daemon, "rm", "-f", cid)
        gone = not Path(f"/sys/fs/cgroup/memory/{parent}/{cid}").exists()
        for made in Path("/sys/fs/cgroup").glob(f"*/{parent}"):  # the runtime leaves the parent, as runc does
            made.rmdir()
    assert gone


def test_oom_score_adj(daemon: Daemon) -> None:
    assert run(daemon, "--oom-score-adj", "321", "busybox", "cat", "/proc/self/oom_score_adj").strip() == "321"


# -- OOM ------------------------------------------------------------------------------------


def test_oom_kill_is_reported_in_inspect_and_as_an_event(daemon: Daemon) -> None:
    since = str(int(time.time()) - 1)
    r = docker(daemon, "run", "-d", "-m", "8m", "busybox", "tail", "/dev/zero")
    cid = r.stdout.strip()
    assert cid, r.stderr
    try:
        code = docker(daemon, "wait", cid, timeout=60).stdout.strip()
        state = inspect(daemon, cid)["State"]
        assert code == "137" and state["ExitCode"] == 137
        assert state["OOMKilled"] is True
        events = docker(daemon, "events", "--since", since, "--until", str(int(time.time()) + 1), "--filter",
                        f"container={cid}", "--format", "{{json .}}").stdout.splitlines()
        actions = [json.loads(e)["Action"] for e in events]
        assert "oom" in actions and actions.index("oom") < actions.index("die")
    finally:
        docker(daemon, "rm", "-f", cid)


def test_no_oom_no_flag(daemon: Daemon) -> None:
    cid = docker(daemon, "run", "-d", "-m", "16m", "busybox", "true").stdout.strip()
    try:
        docker(daemon, "wait", cid)
        assert inspect(daemon, cid)["State"]["OOMKilled"] is False
    finally:
        docker(daemon, "rm", "-f", cid)
