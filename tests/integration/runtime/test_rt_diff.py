"""Differential suite: the same bundles under dockyard-runc, runc and crun, same observable result.

Organised by feature; every case is parametrised over the runtimes (``any_runtime``) and
asserts one expected value, so a case that passes for runc/crun and fails for
dockyard-runc is a difference.  Where a reference runtime really behaves
differently on this host, the case says so and asserts only what is common.
"""

from __future__ import annotations

import json
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from rtkit import Bundle, Runtime, off_devnull

from dockyard.oci.capabilities import CAPABILITIES
from dockyard.oci.runtime_spec import default_spec

pytestmark = pytest.mark.root

DEFAULT_CAPS = default_spec(["true"])["process"]["capabilities"]["bounding"]


def _mask(names: list[str]) -> str:
    m = 0
    for n in names:
        m |= 1 << CAPABILITIES[n]
    return f"{m:016x}"


def _run(rt: Runtime, bundle: Bundle, args: list[str], **process: object) -> subprocess.CompletedProcess[str]:
    bundle.write(args, **process)
    return rt.run(bundle)


# -- ids ------------------------------------------------------------------------------------
def test_diff_ids_root(any_runtime: Runtime, bundle: Bundle) -> None:
    assert _run(any_runtime, bundle, ["id"]).stdout.strip() == "uid=0(root) gid=0(root)"  # busybox lists supplementary groups only


def test_diff_ids_user_and_groups(any_runtime: Runtime, bundle: Bundle) -> None:
    proc = _run(any_runtime, bundle, ["id"], user={"uid": 65534, "gid": 65534, "additionalGids": [0]})
    assert proc.stdout.strip() == "uid=65534(nobody) gid=65534(nogroup) groups=0(root)", proc.stderr


# -- uts --------------------------------------------------------------------------------------
def test_diff_hostname(any_runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["hostname"] = "diffbox"
    assert _run(any_runtime, bundle, ["hostname"]).stdout.strip() == "diffbox"


# -- mounts -----------------------------------------------------------------------------------
def _mounts(mountinfo: str) -> list[tuple[str, str, str]]:
    """(mount point, fs type, ro|rw) per line: sources, ids and superblock options vary by runtime."""
    out = []
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        f = left.split()
        out.append((f[4], right.split()[0], f[5].split(",")[0]))
    return sorted(set(out))


def test_diff_mounts(any_runtime: Runtime, bundle: Bundle) -> None:
    proc = _run(any_runtime, bundle, ["cat", "/proc/self/mountinfo"])
    assert proc.returncode == 0, proc.stderr
    got = _mounts(proc.stdout)
    points = {p for p, _, _ in got}
    for m in bundle.config["mounts"]:
        assert m["destination"] in points, (m["destination"], got)
    assert ("/proc/sys", "proc", "ro") in got  # readonlyPaths
    assert ("/sys", "sysfs", "ro") in got
    # maskedPaths: dirs get a read-only tmpfs (files a /dev/null bind: which ones differs by runtime and kernel)
    assert ("/proc/acpi", "tmpfs", "ro") in got


# -- capabilities -----------------------------------------------------------------------------
def test_diff_capability_masks(any_runtime: Runtime, bundle: Bundle) -> None:
    out = _run(any_runtime, bundle, ["grep", "^Cap", "/proc/self/status"]).stdout
    caps = dict(line.split(":\t") for line in out.splitlines())
    assert caps["CapEff"] == caps["CapBnd"] == caps["CapPrm"] == _mask(DEFAULT_CAPS), caps
    assert caps["CapInh"] == "0000000000000000"


def test_diff_capability_dropped(any_runtime: Runtime, bundle: Bundle) -> None:
    caps = [c for c in DEFAULT_CAPS if c != "CAP_CHOWN"]
    bundle.config["process"]["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
    proc = _run(any_runtime, bundle, ["sh", "-c", "touch /tmp/f && chown 65534 /tmp/f; echo rc=$?; grep CapEff /proc/self/status"])
    assert "rc=1" in proc.stdout and "Operation not permitted" in proc.stderr, (proc.stdout, proc.stderr)
    assert _mask(caps) in proc.stdout


# -- seccomp ----------------------------------------------------------------------------------
def test_diff_seccomp_errno(any_runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }
    proc = _run(any_runtime, bundle, ["mkdir", "/tmp/denied"])
    assert proc.returncode == 1
    assert "Permission denied" in proc.stderr, proc.stderr  # errno 13, not the default EPERM


# -- cgroups ----------------------------------------------------------------------------------
def test_diff_cgroup_limits_inside(any_runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["resources"].update({
        "memory": {"limit": 96 * 1024 * 1024},
        "pids": {"limit": 40},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
    })
    proc = _run(any_runtime, bundle, ["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max",
                                      "/sys/fs/cgroup/cpu/cpu.shares", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"])
    assert proc.stdout.split() == [str(96 * 1024 * 1024), "40", "512", "50000"], proc.stderr


# -- exit codes and signals -------------------------------------------------------------------
@pytest.mark.parametrize("code", [0, 3, 255])
def test_diff_exit_code(any_runtime: Runtime, bundle: Bundle, code: int) -> None:
    assert _run(any_runtime, bundle, ["sh", "-c", f"exit {code}"]).returncode == code


def _start_detached(rt: Runtime, bundle: Bundle, args: list[str]) -> None:
    bundle.write(args)
    assert rt.create(bundle).returncode == 0, rt.create
    rt("start", bundle.id, check=True)


def test_diff_kill_from_outside(any_runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["sleep", "60"])
    any_runtime.ids.append(bundle.id)
    stdio = ExitStack()  # no host /dev/null for crun to chown (rtkit.off_devnull)
    stdio_kw: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    off_devnull(stdio_kw, stdio)
    run = subprocess.Popen(any_runtime.argv + ["--root", str(any_runtime.root), "run", "--bundle", str(bundle.path), bundle.id],
                           **stdio_kw)
    stdio.close()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            st = any_runtime("state", bundle.id)
            if st.returncode == 0 and json.loads(st.stdout)["status"] == "running":
                break
            time.sleep(0.02)
        any_runtime("kill", bundle.id, "KILL", check=True)
        assert run.wait(10) == 137
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


# -- exec -------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig,code", [("9", 137), ("15", 143)])
def test_diff_exec_signal_exit(any_runtime: Runtime, bundle: Bundle, sig: str, code: int) -> None:
    _start_detached(any_runtime, bundle, ["sleep", "60"])
    proc = any_runtime("exec", bundle.id, "sh", "-c", f"kill -{sig} $$", stdin=subprocess.DEVNULL)
    assert proc.returncode == code, proc.stderr


def test_diff_exec_joins_namespaces(any_runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["hostname"] = "execbox"
    _start_detached(any_runtime, bundle, ["sleep", "60"])
    # crun's --env replaces the environment rather than extending it: pass PATH too
    proc = any_runtime("exec", "--env", "PATH=/bin", "--env", "FOO=bar", "--cwd", "/tmp", bundle.id,
                       "sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $FOO; pwd; "
                                   "[ $(readlink /proc/1/ns/mnt) = $(readlink /proc/self/ns/mnt) ] && echo 1; "
                                   "cat /proc/self/cgroup | grep :pids:",
                       stdin=subprocess.DEVNULL)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stderr
    assert lines[:5] == ["execbox", "sleep 60 ", "bar", "/tmp", "1"], lines
    assert lines[5].endswith(bundle.config["linux"]["cgroupsPath"]) or lines[5].endswith(":/"), lines


def test_diff_exec_user_and_caps(any_runtime: Runtime, bundle: Bundle) -> None:
    _start_detached(any_runtime, bundle, ["sleep", "60"])
    proc = any_runtime("exec", "--user", "65534:65534", bundle.id, "sh", "-c", "id -u; id -g; grep CapEff /proc/self/status",
                       stdin=subprocess.DEVNULL)
    assert proc.stdout.split()[:2] == ["65534", "65534"], proc.stderr
    # a non-root uid keeps no effective capabilities unless ambient ones are set
    assert proc.stdout.split()[-1] == "0000000000000000"


def test_diff_exec_process_json(any_runtime: Runtime, bundle: Bundle) -> None:
    _start_detached(any_runtime, bundle, ["sleep", "60"])
    process = dict(bundle.config["process"], args=["sh", "-c", "echo from-json $X"], env=["PATH=/bin", "X=1"], terminal=False)
    pj = bundle.path / "process.json"
    pj.write_text(json.dumps(process))
    proc = any_runtime("exec", "-p", str(pj), bundle.id, stdin=subprocess.DEVNULL)
    assert proc.stdout == "from-json 1\n", proc.stderr


def test_diff_exec_missing_binary(any_runtime: Runtime, bundle: Bundle) -> None:
    """Exit codes differ (runc 255, crun 1, dockyard-runc 1): all fail and name the executable."""
    _start_detached(any_runtime, bundle, ["sleep", "60"])
    proc = any_runtime("exec", bundle.id, "no-such-binary", stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert "no-such-binary" in proc.stderr


def test_diff_exec_detached_pid_file(any_runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    _start_detached(any_runtime, bundle, ["sleep", "60"])
    pid_file = tmp_path / "exec.pid"
    proc = any_runtime("exec", "-d", "--pid-file", str(pid_file), bundle.id, "sleep", "30",
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    pid = int(pid_file.read_text())
    assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x0030\x00"
    ps = any_runtime("ps", "--format", "json", bundle.id, check=True)
    assert pid in json.loads(ps.stdout)


# -- found by runtime-tools validation ----------------------------------------------------------
def test_diff_default_devices_usable_under_deny_all(any_runtime: Runtime, bundle: Bundle) -> None:
    """A bare deny-all device rule still leaves the spec's default devices usable (runc's allow list)."""
    bundle.config["linux"]["resources"]["devices"] = [{"allow": False, "access": "rwm"}]
    proc = _run(any_runtime, bundle, ["sh", "-c", "echo x > /dev/null && cat /dev/null && echo ok"])
    assert proc.stdout.strip() == "ok", proc.stderr


def test_diff_rootfs_propagation_shared(any_runtime: Runtime, bundle: Bundle) -> None:
    """pivot_root needs a private parent mount; the shared propagation is then applied to the new /."""
    bundle.config["linux"]["rootfsPropagation"] = "shared"
    proc = _run(any_runtime, bundle, ["grep", "-E", "^[0-9]+ [0-9]+ [0-9:]+ [^ ]+ / ", "/proc/self/mountinfo"])
    assert proc.returncode == 0, proc.stderr
    # runc 1.1.5 leaves the new / private; crun and dockyard-runc apply "shared" to it (runtime-spec)
    assert ("shared:" in proc.stdout) == (any_runtime.name != "runc"), proc.stdout
