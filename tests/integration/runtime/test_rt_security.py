"""Security properties of dockyard-runc containers: limits hold, denials deny, nothing leaks."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from rtkit import CGROUP_PARENT, Bundle, Runtime

from dockyard.oci.runtime_spec import default_spec
from dockyard.oci.seccomp_default import default_profile

pytestmark = pytest.mark.root


def _start(rt: Runtime, bundle: Bundle, args: list[str]) -> int:
    bundle.write(args)
    proc = rt.create(bundle)
    assert proc.returncode == 0, proc.stderr
    rt("start", bundle.id, check=True)
    return int(rt.state(bundle.id)["pid"])


def _wait_exit(pid: int, timeout: float = 20) -> int:
    """Our test process is a subreaper: the container's init is our child once create's intermediate exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wpid, status = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} did not exit within {timeout}s")


def test_fork_bomb_held_by_pids_max(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["resources"]["pids"] = {"limit": 32}
    pid = _start(runtime, bundle, ["sh", "-c", "i=0; while [ $i -lt 200 ]; do sleep 60 & i=$((i+1)); done; "
                                               "echo done; sleep 60"])
    pids_dir = Path("/sys/fs/cgroup/pids") / CGROUP_PARENT / bundle.id
    deadline = time.monotonic() + 15
    # busybox sh gives up the script at the first refused fork (or prints "done" if it never hit one)
    while ("can't fork" not in (bundle.path / "stderr").read_text() and "done" not in (bundle.path / "stdout").read_text()
           and time.monotonic() < deadline):
        time.sleep(0.05)
    assert int((pids_dir / "pids.current").read_text()) <= 32
    assert int((pids_dir / "pids.events").read_text().split()[1]) > 0  # fork refused at the limit
    assert "can't fork" in (bundle.path / "stderr").read_text()
    runtime("delete", "--force", bundle.id, check=True)
    assert not Path(f"/proc/{pid}/cmdline").exists() or not Path(f"/proc/{pid}/cmdline").read_bytes()
    assert not pids_dir.exists()  # every process killed, the cgroup removed


def test_memory_limit_oom_kill_reported(runtime: Runtime, bundle: Bundle) -> None:
    limit = 16 * 1024 * 1024
    bundle.config["linux"]["resources"]["memory"] = {"limit": limit, "swap": limit}
    pid = _start(runtime, bundle, ["sh", "-c", "sleep 0.3; a=xxxxxxxx; while true; do a=$a$a; done"])
    events = subprocess.Popen(runtime.argv + ["--root", str(runtime.root), "events", "--interval", "10s", bundle.id],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert _wait_exit(pid) == 137  # SIGKILL from the OOM killer
        out, _ = events.communicate(timeout=10)
    finally:
        if events.poll() is None:
            events.kill()
            events.wait()
    types = [json.loads(line)["type"] for line in out.splitlines()]
    assert "oom" in types, out
    from dockyard.runtime.lifecycle.events import oom_killed

    assert oom_killed(str(runtime.root), bundle.id)


def test_masked_paths_unreadable(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["sh", "-c", "wc -c < /proc/keys; cat /proc/timer_list | wc -c; ls -A /proc/acpi | wc -w; "
                              "ls -A /sys/firmware | wc -w; touch /proc/acpi/x 2>/dev/null; echo rc=$?"])
    proc = runtime.run(bundle)
    # files are /dev/null (read empty), directories an empty read-only tmpfs
    assert proc.stdout.split() == ["0", "0", "0", "0", "rc=1"], proc.stdout


def _with_host_python(bundle: Bundle) -> None:
    """Bind the host's /usr read-only so the container can run python3 (ctypes → raw syscalls)."""
    for link in ("lib", "lib64"):
        if os.path.islink(f"/{link}"):
            os.symlink(os.readlink(f"/{link}"), bundle.rootfs / link)
    (bundle.rootfs / "usr").mkdir()
    bundle.config["mounts"].append({"destination": "/usr", "type": "bind", "source": "/usr",
                                    "options": ["rbind", "ro", "nosuid", "nodev"]})


_PROBE = (
    "import ctypes; l = ctypes.CDLL(None, use_errno=True)\n"
    "for name, nr, args in (('mount', 165, (b'none', b'/tmp', b'tmpfs', 0, 0)), ('unshare', 272, (0x20000,)),"
    " ('keyctl', 250, (0, 0, 0, 0, 0)), ('getpid', 39, ())):\n"
    "    r = l.syscall(nr, *args); print(name, r, ctypes.get_errno() if r < 0 else 0)\n"
)


def test_default_seccomp_denies_mount_unshare_keyctl(any_runtime: Runtime, bundle: Bundle) -> None:
    _with_host_python(bundle)
    caps = default_spec(["true"])["process"]["capabilities"]["bounding"]
    bundle.config["linux"]["seccomp"] = default_profile(caps)
    bundle.write(["/usr/bin/python3", "-S", "-c", _PROBE])
    proc = any_runtime.run(bundle)
    assert proc.returncode == 0, proc.stderr
    got = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()}
    assert got["mount"] == ["-1", "1"] and got["unshare"] == ["-1", "1"] and got["keyctl"] == ["-1", "1"], got
    assert got["getpid"] == ["1", "0"]


def test_exec_leaks_no_host_fd(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    _start(runtime, bundle, ["sleep", "60"])
    secret = open(tmp_path / "secret", "w")  # an inheritable fd of the caller must not reach the process
    os.set_inheritable(secret.fileno(), True)
    try:
        proc = runtime("exec", bundle.id, "sh", "-c", "ls /proc/self/fd; readlink /proc/self/cwd",
                       stdin=subprocess.DEVNULL, pass_fds=(secret.fileno(),))
    finally:
        secret.close()
    lines = proc.stdout.split()
    assert lines[-1] == "/"
    assert sorted(int(x) for x in lines[:-1]) == [0, 1, 2, 3], proc.stdout  # 3 is ls's own directory fd


def test_exec_preserve_fds(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    _start(runtime, bundle, ["sleep", "60"])
    r, w = os.pipe()
    try:
        # never touch our own fd 3 (pytest's capture uses it): a shell moves the pipe to fd 3 for the runtime
        argv = ["bash", "-c", f'exec 3>&{w} {w}>&-; exec "$@"', "sh", *runtime.argv, "--root", str(runtime.root),
                "exec", "--preserve-fds", "1", bundle.id, "sh", "-c", "echo through >&3"]
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, pass_fds=(w,), timeout=30)
        assert proc.returncode == 0, proc.stderr
        os.close(w)
        w = -1
        assert os.read(r, 100) == b"through\n"
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
