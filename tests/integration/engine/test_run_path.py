"""The walking skeleton, end to end through every process boundary, on the real kernel.

dockyard (CLI) → HTTP → dockyardd → gRPC → dockyard-containerd → dockyard-shim →
dockyard-runc → a process in its own namespaces, on an overlayfs snapshot, in a
memory cgroup.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Daemon, _cgroup_dirs, _mounts_under, inspect

pytestmark = pytest.mark.root


def run(d: Daemon, *args: str) -> subprocess.CompletedProcess[bytes]:
    return d.cli("run", *args)


def test_output_reaches_the_cli_and_exit_code_becomes_the_cli_exit_code(daemon: Daemon) -> None:
    r = run(daemon, "--rm", "busybox", "echo", "hello from dockyard")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello from dockyard\n"

    r = run(daemon, "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3
    assert r.stdout == b"out\n"
    assert r.stderr == b"err\n"


def test_container_has_its_own_hostname_pid_namespace_and_memory_cgroup(daemon: Daemon) -> None:
    r = run(daemon, "--name", "ns-check", "busybox", "sh", "-c",
            "hostname; echo pid=$$; ps -o pid,comm; cat /proc/self/cgroup")
    assert r.returncode == 0, r.stderr
    c = inspect(daemon, "ns-check")
    lines = r.stdout.decode().splitlines()
    assert lines[0] == c["Id"][:12]
    assert lines[1] == "pid=1"
    pids = [line.split()[0] for line in lines[3:] if line.split() and line.split()[0].isdigit()]
    assert pids[0] == "1" and len(pids) <= 3, lines  # sh and ps, nothing of the host
    memory = [line for line in lines if ":memory:" in line or line.startswith("0::")]
    assert memory and memory[0].endswith(f"/{daemon.cgroup_parent}/{c['Id']}"), lines
    assert daemon.cli("rm", "ns-check").returncode == 0


def test_root_filesystem_is_the_image(daemon: Daemon, busybox_tar: Path) -> None:
    r = run(daemon, "--rm", "busybox", "sh", "-c", "cat /etc/passwd; ls /; test -e /work && echo HOST-LEAK; true")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert out.startswith("root:x:0:0:root:/root:/bin/sh")
    assert "HOST-LEAK" not in out
    assert "bin" in out.split()


def test_writes_go_to_the_container_snapshot_not_the_image(daemon: Daemon) -> None:
    assert run(daemon, "--rm", "busybox", "sh", "-c", "echo x > /etc/marker").returncode == 0
    r = run(daemon, "--rm", "busybox", "sh", "-c", "test -e /etc/marker && echo leaked || echo clean")
    assert r.stdout == b"clean\n"


def test_memory_limit_reaches_the_cgroup(daemon: Daemon) -> None:
    r = run(daemon, "--rm", "-m", "64m", "busybox", "sh", "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(64 * 1024 * 1024).encode()


def _left_behind(daemon: Daemon, snapshots: Path) -> tuple[list[Path], list[str], list[str]]:
    """Container cgroups under our parent, task mounts, snapshots: what a removal must free."""
    return ([p for d in _cgroup_dirs(daemon.cgroup_parent) for p in d.iterdir() if p.is_dir()],
            [m for m in _mounts_under(str(daemon.base)) if "/tasks/" in m],
            sorted(p.name for p in snapshots.iterdir()))


def _settled(daemon: Daemon, snapshots: Path, timeout: float = 3.0) -> tuple[list[Path], list[str], list[str]]:
    """What is left once the daemon stopped freeing things (the same twice, 50 ms apart)."""
    deadline = time.monotonic() + timeout
    last = _left_behind(daemon, snapshots)
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = _left_behind(daemon, snapshots)
        if now == last:
            return now
        last = now
    return last


def test_rm_flag_removes_container_snapshot_cgroup_and_mounts(daemon: Daemon) -> None:
    """``--rm``: the container is gone for the API when ``run`` returns; its task (shim, rootfs
    mount, cgroups), snapshot and directories are freed right behind (engine/daemon.py
    ``_remove_exited``), within a moment, leaving nothing."""
    snapshots = daemon.data_root / "containerd" / "snapshots" / "overlayfs" / "snapshots"
    _, _, before = _settled(daemon, snapshots)
    r = run(daemon, "--rm", "--name", "gone", "busybox", "true")
    assert r.returncode == 0, r.stderr
    assert daemon.cli("inspect", "gone").returncode != 0
    assert "gone" not in daemon.cli("ps", "-a").stdout.decode()
    assert run(daemon, "--rm", "--name", "gone", "busybox", "true").returncode == 0  # the name is free again
    cgroups, mounts, after = _settled(daemon, snapshots)
    assert cgroups == []  # no container runs now, so no container cgroup may be left under our parent
    assert mounts == []
    assert after == before  # the containers' snapshots are gone


def test_exited_container_is_listed_and_can_be_removed(daemon: Daemon) -> None:
    r = run(daemon, "--name", "exited-three", "busybox", "sh", "-c", "exit 3")
    assert r.returncode == 3
    ps = daemon.cli("ps", "-a").stdout.decode()
    line = next(line for line in ps.splitlines() if "exited-three" in line)
    assert "Exited (3)" in line
    assert inspect(daemon, "exited-three")["State"]["ExitCode"] == 3
    assert daemon.cli("rm", "exited-three").returncode == 0
    assert "exited-three" not in daemon.cli("ps", "-a").stdout.decode()


def test_running_container_cannot_be_removed_without_force(daemon: Daemon) -> None:
    r = daemon.cli("run", "-d", "--name", "sleeper", "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    try:
        assert inspect(daemon, "sleeper")["State"]["Running"] is True
        r = daemon.cli("rm", "sleeper")
        assert r.returncode == 1
        assert b"container is running" in r.stderr
    finally:
        assert daemon.cli("rm", "-f", "sleeper").returncode == 0
    assert daemon.cli("inspect", "sleeper").returncode != 0


def test_stop_kills_after_the_timeout_when_sigterm_is_ignored(daemon: Daemon) -> None:
    # PID 1 without a handler ignores SIGTERM, so stop must fall back to SIGKILL.
    assert daemon.cli("run", "-d", "--name", "stubborn", "busybox", "sleep", "60").returncode == 0
    try:
        t0 = time.monotonic()
        assert daemon.cli("stop", "-t", "1", "stubborn").returncode == 0
        assert 1 <= time.monotonic() - t0 < 10
        state = inspect(daemon, "stubborn")["State"]
    finally:
        daemon.cli("rm", "-f", "stubborn")
    assert state["Running"] is False
    assert state["ExitCode"] == 137


def test_stop_lets_a_process_that_handles_sigterm_exit_by_itself(daemon: Daemon) -> None:
    assert daemon.cli("run", "-d", "--name", "polite", "busybox", "sh", "-c",
                      "trap 'exit 0' TERM; while true; do sleep 0.1; done").returncode == 0
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        assert daemon.cli("stop", "-t", "10", "polite").returncode == 0
        assert time.monotonic() - t0 < 5
        state = inspect(daemon, "polite")["State"]
    finally:
        daemon.cli("rm", "-f", "polite")
    assert state["ExitCode"] == 0


def test_errors_name_the_problem(daemon: Daemon) -> None:
    r = run(daemon, "--rm", "--pull", "never", "nosuchimage")  # never a pull from Docker Hub: no outside traffic
    assert r.returncode == 125
    assert b"No such image" in r.stderr
    r = run(daemon, "--rm", "busybox", "/nosuch/binary")
    assert r.returncode == 127, r.stderr
    assert b"nosuch" in r.stderr
    r = daemon.cli("rm", "nosuchcontainer")
    assert r.returncode == 1
    assert b"No such container: nosuchcontainer" in r.stderr


def test_logs_are_kept_in_json_file(daemon: Daemon) -> None:
    assert run(daemon, "--name", "logger", "busybox", "sh", "-c", "echo one; echo two >&2").returncode == 0
    try:
        r = daemon.cli("logs", "logger")
        assert r.stdout == b"one\n"
        assert r.stderr == b"two\n"
    finally:
        daemon.cli("rm", "logger")


def test_daemon_shuts_down_cleanly_on_sigterm(fresh_daemon: Daemon) -> None:
    assert fresh_daemon.cli("run", "--rm", "busybox", "true").returncode == 0
    containerd_pid = int((fresh_daemon.exec_root / "containerd" / "dockyard-containerd.pid").read_text())
    assert fresh_daemon.stop() == 0
    deadline = time.monotonic() + 15
    while os.path.exists(f"/proc/{containerd_pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{containerd_pid}")
    assert not (fresh_daemon.exec_root / "dockyardd.pid").exists()
    assert not fresh_daemon.socket.exists()
    logs = (fresh_daemon.exec_root / "dockyardd.log").read_text()
    assert "shutting down" in logs
