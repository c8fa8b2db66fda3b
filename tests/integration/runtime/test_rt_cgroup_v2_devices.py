"""cgroup v2 device rules as eBPF programs, enforced by this kernel.

The host is a v1 hybrid, but its unified hierarchy is mounted: a BPF_CGROUP_DEVICE program
attached to a cgroup there is enforced for the cgroup's tasks, on top of the v1 devices
controller (which allows everything for the test's own cgroup). Each test makes a cgroup under
the unified mount and removes it, with its programs, also on failure. The last test runs a
container end to end with the runtime pointed at the unified mount (DOCKYARD_RUNC_CGROUP2_ROOT).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rtkit import Bundle, Runtime

from dockyard.runtime.cgroups import devfilter, ebpf
from dockyard.runtime.cgroups.detect import V2_ROOT_ENV
from dockyard.runtime.lifecycle.create import DEFAULT_ALLOWED_DEVICES

pytestmark = pytest.mark.root

UNIFIED = next((line.split()[1] for line in open("/proc/self/mounts") if line.split()[2] == "cgroup2"), None)
DENY_ALL = {"allow": False, "access": "rwm"}
NULL = {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
ZERO = {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"}


def _programs(cgroup: str) -> list[int]:
    fd = os.open(cgroup, os.O_DIRECTORY | os.O_RDONLY)
    try:
        return ebpf.attached(fd)
    finally:
        os.close(fd)


@pytest.fixture
def cgroup() -> Iterator[str]:
    if UNIFIED is None:
        pytest.skip("no cgroup2 hierarchy mounted on this host")
    path = os.path.join(UNIFIED, f"dockyard-test-bpf-{uuid.uuid4().hex[:8]}")
    os.mkdir(path)
    try:
        yield path
    finally:
        for pid in open(os.path.join(path, "cgroup.procs")).read().split():
            os.kill(int(pid), signal.SIGKILL)
        ebpf.remove_all(path)
        os.rmdir(path)


def _in_cgroup(cgroup: str, probe: str, mode: str = "r") -> int:
    """Errno (0: success) of a child in ``cgroup`` opening ``probe`` (``mode`` r/w) or, for mode
    ``m``, making a node with ``probe``'s device number in a scratch directory."""
    scratch = tempfile.mkdtemp(prefix="dockyard-bpf-")
    try:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 0
            try:
                os.close(r)
                with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))
                if mode == "m":
                    os.mknod(os.path.join(scratch, "node"), 0o600 | stat.S_IFCHR, os.stat(probe).st_rdev)
                else:
                    os.close(os.open(probe, os.O_RDONLY if mode == "r" else os.O_WRONLY))
            except OSError as err:
                code = err.errno or 255
            os.write(w, str(code).encode())
            os._exit(0)
        os.close(w)
        answer = os.read(r, 16)
        os.close(r)
        os.waitpid(pid, 0)
        return int(answer)
    finally:
        node = os.path.join(scratch, "node")
        if os.path.lexists(node):
            os.unlink(node)
        os.rmdir(scratch)


def test_deny_all_but_null_then_zero_allowed_too(cgroup: str) -> None:
    assert _in_cgroup(cgroup, "/dev/zero") == 0  # no program yet
    ebpf.install(cgroup, devfilter.encode(devfilter.device_filter([DENY_ALL, NULL])))
    assert _in_cgroup(cgroup, "/dev/null") == 0
    assert _in_cgroup(cgroup, "/dev/zero") == errno.EPERM
    first = _programs(cgroup)
    assert len(first) == 1
    ebpf.install(cgroup, devfilter.encode(devfilter.device_filter([DENY_ALL, NULL, ZERO])))
    assert _in_cgroup(cgroup, "/dev/zero") == 0
    assert _in_cgroup(cgroup, "/dev/full") == errno.EPERM
    second = _programs(cgroup)
    assert len(second) == 1 and second != first  # replaced, not stacked


def test_access_bits_are_enforced_separately(cgroup: str) -> None:
    read_zero = dict(ZERO, access="r")
    ebpf.install(cgroup, devfilter.encode(devfilter.device_filter([DENY_ALL, NULL, read_zero])))
    assert _in_cgroup(cgroup, "/dev/zero", "r") == 0
    assert _in_cgroup(cgroup, "/dev/zero", "w") == errno.EPERM
    assert _in_cgroup(cgroup, "/dev/zero", "m") == errno.EPERM
    ebpf.install(cgroup, devfilter.encode(devfilter.device_filter([DENY_ALL, NULL, dict(ZERO, access="m")])))
    assert _in_cgroup(cgroup, "/dev/zero", "m") == 0
    assert _in_cgroup(cgroup, "/dev/zero", "r") == errno.EPERM


def test_runcs_default_allow_list_and_a_blacklist(cgroup: str) -> None:
    ebpf.install(cgroup, devfilter.encode(devfilter.device_filter([DENY_ALL, *DEFAULT_ALLOWED_DEVICES])))
    for path in ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"):
        assert _in_cgroup(cgroup, path, "w") == 0, path
    assert _in_cgroup(cgroup, "/dev/kmsg") == errno.EPERM
    allow_all_but_zero = [{"allow": True, "access": "rwm"}, dict(ZERO, allow=False)]
    ebpf.install(cgroup, devfilter.encode(devfilter.device_filter(allow_all_but_zero)))
    assert _in_cgroup(cgroup, "/dev/kmsg") == 0
    assert _in_cgroup(cgroup, "/dev/zero") == errno.EPERM


def test_several_old_programs_are_all_detached(cgroup: str) -> None:
    """With more than one program attached (not ours, say) BPF_F_REPLACE cannot apply: the new one
    goes in first, then every old one is detached."""
    fd = os.open(cgroup, os.O_DIRECTORY | os.O_RDONLY)
    try:
        for rules in ([DENY_ALL, NULL], [DENY_ALL, NULL, ZERO]):
            prog = ebpf.load(devfilter.encode(devfilter.device_filter(rules)))
            try:
                ebpf.attach(fd, prog)
            finally:
                os.close(prog)
    finally:
        os.close(fd)
    assert len(_programs(cgroup)) == 2
    ebpf.install(cgroup, devfilter.encode(devfilter.device_filter([DENY_ALL, NULL, ZERO])))
    assert len(_programs(cgroup)) == 1
    assert _in_cgroup(cgroup, "/dev/zero") == 0


def test_the_verifiers_log_is_in_the_error() -> None:
    no_exit = devfilter.encode(devfilter.device_filter([DENY_ALL, NULL])[:-1])
    with pytest.raises(ebpf.BPFError) as info:
        ebpf.load(no_exit)
    assert info.value.errno == errno.EINVAL
    assert "last insn is not an exit or jmp" in str(info.value)


@pytest.mark.parametrize("rules", [[], [{"allow": True, "access": "rwm"}], [DENY_ALL, *DEFAULT_ALLOWED_DEVICES],
                                   [DENY_ALL, {"allow": True, "type": "b", "major": 8, "access": "rw"}]])
def test_the_kernel_verifier_accepts_every_rule_shape(rules: list[dict[str, object]]) -> None:
    fd = ebpf.load(devfilter.encode(devfilter.device_filter(rules)))
    os.close(fd)


def test_a_container_on_the_unified_hierarchy(runtime: Runtime, bundle: Bundle) -> None:
    """create/exec/update/delete with the v2 manager: the spec's rules become a program; update
    replaces it; delete removes the cgroup (and with it the program)."""
    if UNIFIED is None or not os.path.exists("/dev/fuse"):
        pytest.skip("needs a cgroup2 hierarchy and the fuse driver (/dev/fuse)")
    env = {**os.environ, V2_ROOT_ENV: UNIFIED}
    # /dev/fuse: opening it needs no capability (/dev/kmsg would need CAP_SYSLOG: EPERM for itself)
    fuse = {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0}
    bundle.config["linux"]["devices"] = [fuse]
    bundle.write(["sleep", "60"])
    assert runtime.create(bundle, env=env).returncode == 0, (bundle.path / "stderr").read_text()
    state = runtime.state(bundle.id)
    cg = os.path.join(UNIFIED, "dockyard-test", bundle.id)
    membership = Path(f"/proc/{state['pid']}/cgroup").read_text()
    assert f"\n0::/dockyard-test/{bundle.id}\n" in membership
    assert "devices:/dockyard-test" not in membership  # the v2 manager alone: only the program restricts
    assert len(_programs(cg)) == 1
    runtime("start", bundle.id, check=True)

    denied = runtime("exec", bundle.id, "sh", "-c", ": </dev/fuse")
    assert denied.returncode != 0 and "Operation not permitted" in denied.stderr
    assert runtime("exec", bundle.id, "sh", "-c", ": </dev/null && : >/dev/zero").returncode == 0

    resources = bundle.path / "resources.json"
    resources.write_text(json.dumps({"devices": [{"allow": True, "type": "c", "major": 10, "minor": 229, "access": "r"}]}))
    runtime("update", "-r", str(resources), bundle.id, check=True)
    assert runtime("exec", bundle.id, "sh", "-c", ": </dev/fuse").returncode == 0
    assert "Operation not permitted" in runtime("exec", bundle.id, "sh", "-c", ": >/dev/fuse").stderr
    assert len(_programs(cg)) == 1

    runtime("delete", "--force", bundle.id, check=True)
    assert not os.path.exists(cg)
