"""What the process sees inside: namespaces, cgroups, mounts, fds, capabilities."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from rtkit import Bundle, Runtime

pytestmark = pytest.mark.root


def test_echo_hello(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["echo", "hello"])
    proc = runtime.run(bundle)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello\n"
    assert not (runtime.root / bundle.id).exists()  # run deletes after exit


def test_exit_code_propagates(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["sh", "-c", "exit 3"])
    assert runtime.run(bundle).returncode == 3


def test_hostname(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["hostname"] = "boxy"
    bundle.write(["hostname"])
    assert runtime.run(bundle).stdout.strip() == "boxy"


def test_pid_namespace(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["sh", "-c", "echo $$; ps -o pid,comm"])
    lines = runtime.run(bundle).stdout.split("\n")
    assert lines[0] == "1"
    pids = [int(line.split()[0]) for line in lines[2:] if line.strip()]
    assert 1 in pids and len(pids) <= 2  # sh (PID 1) and ps itself, nothing from the host


def test_memory_cgroup(runtime: Runtime, bundle: Bundle) -> None:
    limit = 64 * 1024 * 1024
    bundle.config["linux"]["resources"]["memory"] = {"limit": limit}
    bundle.config["linux"]["resources"]["pids"] = {"limit": 50}
    bundle.write(["sh", "-c", "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes"])
    out = runtime.run(bundle).stdout.splitlines()
    cgroup = bundle.config["linux"]["cgroupsPath"]
    assert any(line.endswith(f":memory:{cgroup}") for line in out), out
    assert out[-1] == str(limit)


def test_no_leaked_fds(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["ls", "/proc/self/fd"])
    r, w = os.pipe()
    try:
        proc = runtime("run", "--bundle", str(bundle.path), bundle.id, pass_fds=(r, w), stdin=subprocess.DEVNULL)
    finally:
        os.close(r)
        os.close(w)
    runtime.ids.append(bundle.id)
    # 3 is ls's own handle on /proc/self/fd
    assert sorted(int(x) for x in proc.stdout.split()) == [0, 1, 2, 3]


def test_preserve_fds(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    bundle.write(["sh", "-c", "echo via-fd3 >&3"])
    target = tmp_path / "fd3.txt"
    from rtkit import runtime_argv

    # a shell places the file on fd 3 of the runtime (pytest itself owns our fd 3)
    argv = runtime_argv() + ["--root", str(runtime.root), "run", "--preserve-fds", "1", "--bundle", str(bundle.path), bundle.id]
    proc = subprocess.run(["/bin/sh", "-c", f'exec "$@" 3>{target}', "sh", *argv],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    runtime.ids.append(bundle.id)
    assert proc.returncode == 0, proc.stderr
    assert target.read_text() == "via-fd3\n"


def test_default_capabilities(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["grep", "-E", "^Cap(Eff|Bnd|Inh|Amb)", "/proc/self/status"])
    caps = dict(line.split(":\t") for line in runtime.run(bundle).stdout.splitlines())
    assert caps["CapEff"] == "00000000a80425fb"
    assert caps["CapBnd"] == "00000000a80425fb"
    assert caps["CapInh"] == "0000000000000000"


def test_user_and_cwd(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["sh", "-c", "id; pwd; grep CapEff /proc/self/status"], user={"uid": 65534, "gid": 65534, "additionalGids": [10]}, cwd="/work/dir")
    out = runtime.run(bundle).stdout.splitlines()
    assert out[0].startswith("uid=65534") and "gid=65534" in out[0] and "10" in out[0]
    assert out[1] == "/work/dir"
    assert out[2].split()[1] == "0000000000000000"


def test_readonly_rootfs(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["root"]["readonly"] = True
    bundle.write(["sh", "-c", "touch /x && echo wrote; touch /dev/shm/ok && echo shm-ok"])
    proc = runtime.run(bundle)
    assert "wrote" not in proc.stdout
    assert "shm-ok" in proc.stdout
    assert not (bundle.rootfs / "x").exists()


def test_masked_and_readonly_paths(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["sh", "-c", "cat /proc/kcore | wc -c; echo 1 > /proc/sys/kernel/domainname && echo wrote"])
    proc = runtime.run(bundle)
    assert proc.stdout.splitlines()[0].strip() == "0"
    assert "wrote" not in proc.stdout


def test_symlink_mount_destination_stays_in_rootfs(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), bundle.rootfs / "evil")
    bundle.config["mounts"].append({"destination": "/evil", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]})
    bundle.write(["sh", "-c", f"touch /evil/pwned; grep -c ' {outside} ' /proc/self/mountinfo"])
    proc = runtime.run(bundle)
    assert proc.returncode == 0, proc.stderr
    assert not (outside / "pwned").exists()
    with open("/proc/self/mountinfo") as f:
        assert str(outside) not in f.read()
    assert (bundle.rootfs / str(outside).lstrip("/")).is_dir()  # created inside the rootfs instead


def test_bind_mount_readonly(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    src = tmp_path / "data"
    src.mkdir()
    (src / "f").write_text("from-host\n")
    bundle.config["mounts"].append({"destination": "/data", "type": "bind", "source": str(src), "options": ["rbind", "ro"]})
    bundle.write(["sh", "-c", "cat /data/f; touch /data/g && echo wrote"])
    proc = runtime.run(bundle)
    assert proc.stdout.splitlines() == ["from-host"]
    assert not (src / "g").exists()


def test_loopback_up_and_env(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["sh", "-c", "cat /sys/class/net/lo/operstate; echo $FOO"], env=["PATH=/bin", "FOO=bar"])
    out = runtime.run(bundle).stdout.split()
    assert out[0] in ("unknown", "up")
    assert out[1] == "bar"


def test_seccomp_errno(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    bundle.write(["sh", "-c", "mkdir /tmp/d && echo made; echo done"])
    proc = runtime.run(bundle)
    assert proc.returncode == 0, proc.stderr
    assert "made" not in proc.stdout and "done" in proc.stdout
    assert "Operation not permitted" in proc.stderr


def test_hooks_receive_state(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    out = tmp_path / "hook.json"
    script = tmp_path / "hook.sh"
    script.write_text(f"#!/bin/sh\ncat > {out}\n")
    script.chmod(0o755)
    bundle.config["hooks"] = {"createRuntime": [{"path": str(script), "timeout": 5}]}
    bundle.write(["true"])
    proc = runtime.run(bundle)
    assert proc.returncode == 0, proc.stderr
    import json

    st = json.loads(out.read_text())
    assert st["id"] == bundle.id and st["pid"] > 0


def test_runc_differential(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    import shutil

    runc = shutil.which("runc")
    if runc is None:
        pytest.skip("runc not installed")
    bundle.write(["sh", "-c", "echo $$; hostname; grep CapEff /proc/self/status; ls /dev"])
    ours = runtime.run(bundle)
    theirs = subprocess.run([runc, "--root", str(tmp_path / "runc"), "run", "--bundle", str(bundle.path), bundle.id + "r"],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    assert theirs.returncode == ours.returncode == 0, theirs.stderr + ours.stderr
    assert ours.stdout == theirs.stdout


def test_terminal_via_console_socket(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    import socket

    sock_path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    bundle.write(["sh", "-c", "tty; echo on-the-pty"], terminal=True)
    try:
        proc = runtime.create(bundle, "--console-socket", sock_path)
        assert proc.returncode == 0, proc.stderr
        conn, _ = srv.accept()
        _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        conn.close()
        master = fds[0]
        runtime("start", bundle.id, check=True)
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO once the slave side is closed
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
    finally:
        srv.close()
    text = out.decode().replace("\r\n", "\n")
    assert "/dev/pts/0" in text and "on-the-pty" in text
