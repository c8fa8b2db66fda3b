"""User namespaces, differential: the same bundle under dockyard-runc, runc and crun.

Root inside (uid 0) is host uid 100000 outside: ``id`` says 0, the host's
``/proc/<pid>/status`` says 100000, files written to a bind mount are owned by
100000 on the host.  ``spec --rootless`` output also runs as root.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from rtkit import USERNS_HOST_ID, Bundle, Runtime, host_device_stats

pytestmark = pytest.mark.root


def _status_ids(pid: int) -> tuple[list[int], list[int]]:
    uid = gid = []
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            uid = [int(x) for x in line.split()[1:]]
        elif line.startswith("Gid:"):
            gid = [int(x) for x in line.split()[1:]]
    return uid, gid


def test_userns_ids_inside_and_files_on_host(userns_bundle: Bundle, any_runtime: Runtime) -> None:
    b = userns_bundle
    b.write(["sh", "-c", "id -u; id -g; cat /proc/self/uid_map; touch /mnt/made-inside; hostname"])
    proc = any_runtime.run(b)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert lines[0:2] == ["0", "0"]
    assert lines[2].split() == ["0", str(USERNS_HOST_ID), "65536"]
    assert lines[3] == "dockyard-test"  # the uts namespace is owned by the user namespace: sethostname works
    st = os.stat(b.path.parent / "volume" / "made-inside")
    assert (st.st_uid, st.st_gid) == (USERNS_HOST_ID, USERNS_HOST_ID)


def test_userns_host_sees_mapped_uid(userns_bundle: Bundle, any_runtime: Runtime) -> None:
    b = userns_bundle
    b.write(["sleep", "30"])
    proc = any_runtime.create(b)
    assert proc.returncode == 0, proc.stderr
    any_runtime("start", b.id, check=True)
    pid = any_runtime.state(b.id)["pid"]
    uid, gid = _status_ids(pid)
    assert uid == [USERNS_HOST_ID] * 4
    assert gid == [USERNS_HOST_ID] * 4
    assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
    # exec joins the user namespace first, then the rest: root inside, the mapped uid outside
    proc = any_runtime("exec", b.id, "sh", "-c", "id -u; touch /mnt/made-by-exec", stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"
    assert os.stat(b.path.parent / "volume" / "made-by-exec").st_uid == USERNS_HOST_ID
    any_runtime("kill", b.id, "KILL", check=True)


def test_userns_proc_sys_mqueue_devices(userns_bundle: Bundle, any_runtime: Runtime) -> None:
    """proc, sysfs, mqueue mount inside the userns; /dev nodes are host binds (mknod is refused)."""
    b = userns_bundle
    b.write(["sh", "-c", "echo hi > /dev/null && test -c /dev/zero && test -c /dev/urandom && "
                         "grep -q ' - proc ' /proc/self/mountinfo && "
                         "grep -q ' - mqueue ' /proc/self/mountinfo && "
                         "ls /sys/kernel >/dev/null && echo ok"])
    proc = any_runtime.run(b)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_userns_rootless_spec_runs_as_root(any_runtime: Runtime, tmp_path: Path) -> None:
    """``dockyard-runc spec --rootless`` (a single-id map of the caller, root here) runs under every runtime."""
    import shutil
    import tempfile
    import uuid

    from rtkit import make_rootfs, runtime_argv

    top = Path(tempfile.mkdtemp(prefix="dockyard-rl-", dir="/tmp"))
    try:
        top.chmod(0o755)
        bundle = top / "bundle"
        make_rootfs(bundle / "rootfs")
        subprocess.run([*runtime_argv(), "spec", "--rootless", "--bundle", str(bundle)], check=True)
        cfg = json.loads((bundle / "config.json").read_text())
        assert {"type": "user"} in cfg["linux"]["namespaces"]
        cfg["process"].update(args=["sh", "-c", "id -u; cat /proc/self/uid_map"], terminal=False)
        (bundle / "config.json").write_text(json.dumps(cfg))
        cid = "r" + uuid.uuid4().hex[:12]
        any_runtime.ids.append(cid)
        proc = any_runtime("run", "--bundle", str(bundle), cid, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.split("\n")
        assert lines[0] == "0"
        assert lines[1].split() == ["0", "0", "1"]
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_userns_without_mappings_is_refused(userns_bundle: Bundle, runtime: Runtime) -> None:
    b = userns_bundle
    del b.config["linux"]["uidMappings"]
    b.write(["true"])
    proc = runtime.create(b)
    assert proc.returncode != 0
    assert "no uid or gid mappings" in proc.stderr


# the container's root tries to take and open up the host's device nodes bound into its /dev
_TAMPER = ("busybox chown 0:0 /dev/null /dev/zero /dev/full; busybox chmod 600 /dev/null /dev/urandom; "
           "echo x > /dev/null; echo done")


def test_userns_run_leaves_host_devices_alone(userns_bundle: Bundle, any_runtime: Runtime) -> None:
    """Regression: during a test run the host's /dev/null became 100000:100000 (crun chowns its
    stdio to the container's root, and the harness gave it the host's /dev/null). No runtime may
    change a host device, not even when the container's root tries to."""
    before = host_device_stats()
    userns_bundle.write(["sh", "-c", _TAMPER])
    proc = any_runtime.run(userns_bundle)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("done")
    assert "Operation not permitted" in proc.stderr + proc.stdout  # the bound host nodes are not theirs
    assert host_device_stats() == before


def test_userns_exec_leaves_host_devices_alone(userns_bundle: Bundle, any_runtime: Runtime) -> None:
    before = host_device_stats()
    userns_bundle.write(["sleep", "30"])
    assert any_runtime.create(userns_bundle).returncode == 0
    any_runtime("start", userns_bundle.id, check=True)
    proc = any_runtime("exec", userns_bundle.id, "sh", "-c", _TAMPER, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("done")
    any_runtime("kill", userns_bundle.id, "KILL", check=True)
    assert host_device_stats() == before
