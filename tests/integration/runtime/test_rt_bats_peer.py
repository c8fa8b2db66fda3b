"""What runc's bats suite (v1.1.5) found different, fixed in session 6, each on the real kernel.

A seccomp agent given the listener of an SCMP_ACT_NOTIFY filter (with the OCI container
process state), the filter installed before startContainer hooks, the pty and the cwd as
runc treats a non-root user, a read-only /dev, --no-pivot hiding the host's /proc, proc and sysfs
never mounted through a symlink, cgroup v1
updates (unlimited memory, a pod's quota, a pod's empty cpuset, redundant device rules) and
the hybrid hierarchy joined by run and exec.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import select
import socket
import struct
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rtkit import CGROUP_PARENT, Bundle, Runtime, run_on_pty

pytestmark = pytest.mark.root

NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif): 80 bytes
NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp): 24 bytes


class Agent:
    """A seccomp agent: takes each listener sent to its socket and fails every notified syscall."""

    def __init__(self, path: Path, error: int) -> None:
        self.path = str(path)
        self.error = error
        self.states: list[dict] = []
        self.answered: list[int] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                msg, fds, _, _ = socket.recv_fds(conn, 4096, 1)
            self.states.append(json.loads(msg))
            threading.Thread(target=self._answer, args=(fds[0],), daemon=True).start()

    def _answer(self, fd: int) -> None:
        try:
            while True:
                events = select.poll()
                events.register(fd, select.POLLIN)
                ready = events.poll(20000)
                if not ready or ready[0][1] & select.POLLHUP:
                    return  # every process of the filter is gone
                buf = bytearray(80)
                try:
                    fcntl.ioctl(fd, NOTIF_RECV, buf, True)
                except OSError:
                    continue  # the caller died meanwhile
                notif_id, _pid, _flags, nr = struct.unpack_from("=QIIi", buf)
                self.answered.append(nr)
                resp = bytearray(struct.pack("=QqiI", notif_id, 0, -self.error, 0))
                try:
                    fcntl.ioctl(fd, NOTIF_SEND, resp, True)
                except OSError:
                    pass
        finally:
            os.close(fd)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    a = Agent(tmp_path / "agent.sock", errno.ENOMEDIUM)
    yield a
    a.close()


def _notify_mkdir(bundle: Bundle, listener: str, nnp: bool) -> None:
    bundle.config["process"]["noNewPrivileges"] = nnp
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": listener, "listenerMetadata": "meta",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}


@pytest.mark.parametrize("nnp", [False, True])
def test_seccomp_agent_gets_the_listener(runtime: Runtime, bundle: Bundle, agent: Agent, nnp: bool) -> None:
    """run and exec: the agent answers the container's mkdir (ENOMEDIUM here), with runc's state."""
    _notify_mkdir(bundle, agent.path, nnp)
    bundle.write(["sh", "-c", "mkdir /tmp/x; echo rc=$?; exec sleep 30"])
    assert runtime.create(bundle).returncode == 0
    assert runtime("start", bundle.id).returncode == 0
    proc = runtime("exec", bundle.id, "sh", "-c", "mkdir /tmp/y; echo rc=$?")
    assert proc.returncode == 0 and "No medium found" in proc.stdout + proc.stderr and "rc=1" in proc.stdout
    assert "No medium found" in (bundle.path / "stdout").read_text() + (bundle.path / "stderr").read_text()
    init_pid = runtime.state(bundle.id)["pid"]
    created, execd = agent.states
    for got in (created, execd):
        assert got["ociVersion"] and got["fds"] == ["seccompFd"] and got["metadata"] == "meta"
        assert got["state"]["id"] == bundle.id and got["state"]["bundle"] == str(bundle.path)
    assert created["state"]["status"] == "creating" and created["pid"] == created["state"]["pid"] == init_pid
    assert execd["state"]["status"] == "running" and execd["state"]["pid"] == init_pid != execd["pid"]


def test_seccomp_notify_without_agent(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    _notify_mkdir(bundle, str(tmp_path / "nobody.sock"), False)
    bundle.write(["true"])
    proc = runtime.run(bundle)
    assert proc.returncode != 0 and "failed to connect with seccomp agent" in proc.stderr


def test_start_container_hook_runs_under_the_filter(runtime: Runtime, bundle: Bundle) -> None:
    """As runc: with noNewPrivileges the filter is in place before startContainer hooks run."""
    bundle.config["process"]["noNewPrivileges"] = True
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                         "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]}
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/h"]}]}
    bundle.write(["true"])
    proc = runtime.run(bundle)
    assert proc.returncode != 0
    assert "error running hook" in proc.stderr and "bad system call" in proc.stderr


def test_pty_belongs_to_the_user(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 100}
    bundle.write(["ls", "-lnL", "/proc/self/fd/0"], terminal=True)
    runtime.ids.append(bundle.id)
    code, out, _ = run_on_pty([*runtime.argv, "--root", str(runtime.root), "run", "--bundle", str(bundle.path), bundle.id])
    assert code == 0, out
    assert re.search(rb"\s1000\s+5\s", out), out  # owner the user, group devpts' gid=5


def test_cwd_entered_while_still_root(runtime: Runtime, bundle: Bundle) -> None:
    (bundle.rootfs / "root").chmod(0o700)
    bundle.config["process"]["user"] = {"uid": 42, "gid": 42}
    runcs = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]  # runc spec's: no CAP_DAC_OVERRIDE
    bundle.config["process"]["capabilities"] = {k: list(runcs) for k in ("bounding", "effective", "permitted")}
    bundle.write(["true"], cwd="/root")
    proc = runtime.run(bundle)
    assert proc.returncode == 0, proc.stderr


def test_read_only_dev(runtime: Runtime, bundle: Bundle) -> None:
    dev = next(m for m in bundle.config["mounts"] if m["destination"] == "/dev")
    dev["options"].append("ro")
    bundle.write(["sh", "-c", "grep '^tmpfs /dev ' /proc/mounts; ls /dev/null /dev/pts/ptmx"])
    proc = runtime.run(bundle)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("tmpfs /dev tmpfs ro,")


def test_no_pivot_hides_the_hosts_proc(runtime: Runtime, bundle: Bundle) -> None:
    """A fresh proc mount needs a fully visible one in the namespace: the host's is detached."""
    bundle.write(["unshare", "-mrpf", "sh", "-c", "mount -t proc none /proc && echo mounted"])
    os.symlink("busybox", bundle.rootfs / "bin" / "unshare")
    proc = runtime.run(bundle, "--no-pivot")
    assert proc.returncode != 0 and "mounted" not in proc.stdout
    assert "ermission denied" in proc.stdout + proc.stderr


@pytest.mark.parametrize("dest", ["proc", "sys"])
def test_proc_and_sysfs_not_through_a_symlink(runtime: Runtime, bundle: Bundle, dest: str) -> None:
    (bundle.rootfs / dest).rmdir()
    (bundle.rootfs / dest).symlink_to("/symlink")
    bundle.write(["true"])
    proc = runtime.run(bundle)
    assert proc.returncode != 0 and "must be mounted on ordinary directory" in proc.stderr
    assert not (bundle.rootfs / "symlink").exists()


def test_fifo_device_with_numbers(runtime: Runtime, bundle: Bundle) -> None:
    """runtime-tools' linux_devices: a "p" device may carry major/minor, which mknod ignores."""
    bundle.config["linux"]["devices"] = [{"path": "/dev/test3", "type": "p", "major": 8, "minor": 666,
                                          "fileMode": 0o660}]
    bundle.write(["test", "-p", "/dev/test3"])
    proc = runtime.run(bundle)
    assert proc.returncode == 0, proc.stderr


# -- cgroup v1 --------------------------------------------------------------------------------
def _start(runtime: Runtime, bundle: Bundle) -> int:
    bundle.write(["sleep", "30"])
    proc = runtime.create(bundle)
    assert proc.returncode == 0, proc.stderr
    assert runtime("start", bundle.id).returncode == 0
    return int(runtime.state(bundle.id)["pid"])


def _v1(ctrl: str, *parts: str) -> Path:
    return Path("/sys/fs/cgroup", ctrl, CGROUP_PARENT, *parts)


def test_update_memory_unlimited_lifts_swap(runtime: Runtime, bundle: Bundle) -> None:
    if not _v1("memory").parent.joinpath("memory.memsw.limit_in_bytes").exists():
        pytest.skip("no swap accounting")
    bundle.config["linux"]["resources"]["memory"] = {"limit": 33554432, "swap": 67108864}
    _start(runtime, bundle)
    assert runtime("update", bundle.id, "--memory-swap", "96468992").returncode == 0
    proc = runtime("update", bundle.id, "--memory", "-1")
    assert proc.returncode == 0, proc.stderr
    memsw = int((_v1("memory", bundle.id) / "memory.memsw.limit_in_bytes").read_text())
    assert memsw > 1 << 60


@pytest.fixture
def pod() -> Iterator[str]:
    """A pod cgroup made by hand, as a kubelet would: a CPU quota of 50 %, cpuset left empty."""
    name = "pod-" + uuid.uuid4().hex[:8]
    _v1("cpu", name).mkdir(parents=True)
    (_v1("cpu", name) / "cpu.cfs_quota_us").write_text("50000")
    _v1("cpuset", name).mkdir(parents=True)
    yield name
    for d in sorted(Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}/{name}")):
        d.rmdir()


def test_container_in_a_pod_cgroup(runtime: Runtime, tmp_path: Path, pod: str) -> None:
    cid = "p" + uuid.uuid4().hex[:12]
    bundle = Bundle(tmp_path / "pod-bundle", cid)
    bundle.config["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{pod}/{cid}"
    try:
        _start(runtime, bundle)  # the pod's empty cpuset filled in on the way
        assert (_v1("cpuset", pod) / "cpuset.cpus").read_text().strip()
        proc = runtime("update", "--cpu-period", "10000", "--cpu-quota", "3000", cid)
        assert proc.returncode == 0, proc.stderr
        assert (_v1("cpu", pod, cid) / "cpu.cfs_period_us").read_text().strip() == "10000"
        assert (_v1("cpu", pod, cid) / "cpu.cfs_quota_us").read_text().strip() == "3000"
    finally:
        runtime("delete", "--force", cid)


def test_redundant_device_rule_not_written(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["resources"]["devices"] = [
        {"allow": False, "access": "rwm"}, {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "rwa"}]
    bundle.write(["true"])
    proc = runtime.run(bundle)
    assert proc.returncode == 0, proc.stderr


def test_hybrid_hierarchy_joined_by_run_and_exec(runtime: Runtime, bundle: Bundle) -> None:
    if not Path("/sys/fs/cgroup/unified/cgroup.procs").exists():
        pytest.skip("no cgroup v2 hierarchy beside v1")
    pid = _start(runtime, bundle)
    want = f"0::/{CGROUP_PARENT}/{bundle.id}"
    assert Path(f"/proc/{pid}/cgroup").read_text().splitlines()[-1] == want
    proc = runtime("exec", bundle.id, "cat", "/proc/self/cgroup")
    assert proc.returncode == 0 and proc.stdout.splitlines()[-1] == want
