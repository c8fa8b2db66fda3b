"""Pure logic of the runtime: no root, no kernel features, well under a second."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from dockyard.errors import AlreadyExists, InvalidArgument
from dockyard.oci.runtime_spec import DEFAULT_CAPABILITIES, default_spec, rootless_spec
from dockyard.runtime.cgroups.fs import join_cgroup, normalize_cgroups_path
from dockyard.runtime.cgroups.v1 import device_rule
from dockyard.runtime.cgroups.v2 import cpu_shares_to_weight
from dockyard.runtime.cli import build_parser
from dockyard.runtime.container import ContainerStatus, State, validate_id
from dockyard.runtime.lifecycle.kill import parse_signal
from dockyard.runtime.linux import syscalls as sc
from dockyard.runtime.linux.capabilities import to_mask
from dockyard.runtime.linux.mountopts import parse_options
from dockyard.runtime.linux.namespaces import plan
from dockyard.runtime.linux.securejoin import is_within, secure_join
from dockyard.runtime.process.init import ExecNotFound, lookup_executable


# -- command line ----------------------------------------------------------
def test_parse_create_flags() -> None:
    a = build_parser().parse_args(
        ["--root", "/r", "--log", "/l", "--log-format", "json", "create", "--bundle", "/b",
         "--pid-file", "/p", "--console-socket", "/s", "--no-pivot", "--preserve-fds", "2", "cid"]
    )
    assert (a.root, a.log, a.log_format, a.command, a.bundle, a.pid_file) == ("/r", "/l", "json", "create", "/b", "/p")
    assert (a.console_socket, a.no_pivot, a.preserve_fds, a.id) == ("/s", True, 2, "cid")


def test_parse_defaults_and_other_verbs() -> None:
    p = build_parser()
    a = p.parse_args(["kill", "c"])
    assert a.root == "/run/dockyard-runc" and a.signal == "SIGTERM" and not a.all
    assert p.parse_args(["kill", "--all", "c", "9"]).all
    assert p.parse_args(["delete", "-f", "c"]).force
    assert p.parse_args(["run", "-b", "x", "-d", "c"]).detach
    assert p.parse_args(["list", "-q"]).quiet
    with pytest.raises(SystemExit):
        p.parse_args(["create", "--preserve-fds", "-1", "c"])


def test_spec_command_writes_default_and_refuses_overwrite(tmp_path: Path) -> None:
    from dockyard.runtime.cli import dispatch

    args = build_parser().parse_args(["spec", "--bundle", str(tmp_path)])
    assert dispatch(args) == 0
    assert (tmp_path / "config.json").exists()
    with pytest.raises(AlreadyExists):
        dispatch(args)


# -- state -----------------------------------------------------------------
def test_status_guards() -> None:
    S = ContainerStatus
    assert S.CREATED.can_start() and not S.RUNNING.can_start() and not S.STOPPED.can_start()
    assert S.RUNNING.can_kill() and S.CREATED.can_kill() and not S.STOPPED.can_kill()
    assert S.STOPPED.can_delete() and S.CREATED.can_delete() and not S.RUNNING.can_delete()
    assert S.RUNNING.can_pause() and S.PAUSED.can_resume() and not S.RUNNING.can_resume()


def test_state_roundtrip_and_computed_status(tmp_path: Path) -> None:
    root = str(tmp_path)
    os.mkdir(tmp_path / "c1")
    st = State(id="c1", bundle="/b", pid=os.getpid(), status_hint="created")
    st.save(root)
    loaded = State.load(root, "c1")
    assert loaded.bundle == "/b" and loaded.pid == os.getpid()
    assert loaded.status(root) is ContainerStatus.RUNNING  # alive, no exec fifo
    (tmp_path / "c1" / "exec.fifo").touch()
    assert loaded.status(root) is ContainerStatus.CREATED
    loaded.pid_starttime = 1  # recycled pid: start time differs
    assert loaded.status(root) is ContainerStatus.STOPPED
    assert loaded.oci_state(root)["pid"] == 0


@pytest.mark.parametrize("bad", ["", "a/b", "..", ".", "-x", "a b"])
def test_invalid_ids(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_id(bad)


# -- signals ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [("KILL", 9), ("SIGKILL", 9), ("sigterm", 15), ("9", 9), (15, 15), ("HUP", 1), ("RTMIN+1", signal.SIGRTMIN + 1)],
)
def test_parse_signal(value: str | int, expected: int) -> None:
    assert parse_signal(value) == expected


@pytest.mark.parametrize("bad", ["NOPE", "0", "999", "SIGFOO"])
def test_parse_signal_rejects(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_signal(bad)


# -- securejoin ------------------------------------------------------------
def test_secure_join_contains_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/tmp/outside", root / "evil")
    os.symlink("../../../../etc", root / "up")
    os.symlink("etc", root / "rel")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    r = str(root)
    assert secure_join(r, "/evil") == f"{r}/tmp/outside"
    assert secure_join(r, "/evil/x") == f"{r}/tmp/outside/x"
    assert secure_join(r, "/up/passwd") == f"{r}/etc/passwd"
    assert secure_join(r, "../../etc") == f"{r}/etc"
    assert secure_join(r, "/rel/./a/../b") == f"{r}/etc/b"
    assert secure_join(r, "/") == r
    with pytest.raises(OSError):
        secure_join(r, "/loop1")
    assert is_within(r, f"{r}/a") and not is_within(r, f"{r}x/a") and not is_within(r, "/tmp")


# -- spec --------------------------------------------------------------------
def test_default_spec_shape() -> None:
    s = default_spec(["sh"], hostname="h", cgroup_v2=False)
    caps = s["process"]["capabilities"]
    assert len(DEFAULT_CAPABILITIES) == 14
    assert caps["bounding"] == caps["effective"] == caps["permitted"] == list(DEFAULT_CAPABILITIES)
    assert "inheritable" not in caps and "ambient" not in caps
    assert {n["type"] for n in s["linux"]["namespaces"]} == {"pid", "network", "ipc", "uts", "mount"}
    assert "cgroup" in {n["type"] for n in default_spec(cgroup_v2=True)["linux"]["namespaces"]}
    dests = [m["destination"] for m in s["mounts"]]
    assert dests == ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]
    assert "/proc/kcore" in s["linux"]["maskedPaths"] and "/proc/sys" in s["linux"]["readonlyPaths"]
    assert s["process"]["env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert "TERM=xterm" in default_spec(terminal=True)["process"]["env"]
    devs = s["linux"]["resources"]["devices"]
    assert devs[0] == {"allow": False, "access": "rwm"}
    assert s["hostname"] == "h" and s["root"]["path"] == "rootfs"
    # to_mask of the 14 is Docker's well-known CapEff
    assert f"{to_mask(DEFAULT_CAPABILITIES):016x}" == "00000000a80425fb"


def test_rootless_spec() -> None:
    s = rootless_spec(default_spec(), uid=1000, gid=1000)
    types = {n["type"] for n in s["linux"]["namespaces"]}
    assert "user" in types and "network" not in types
    assert s["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert all(m["destination"] != "/sys/fs/cgroup" for m in s["mounts"])


# -- cgroups -------------------------------------------------------------------
def test_cgroup_paths() -> None:
    assert normalize_cgroups_path("", "c1") == "/dockyard-runc/c1"
    assert normalize_cgroups_path("/dockyard/c1", "c1") == "/dockyard/c1"
    assert normalize_cgroups_path("rel/c1", "c1") == "rel/c1"
    for bad in ("/a/../b", "/..", "system.slice:docker:c1"):
        with pytest.raises(InvalidArgument):
            normalize_cgroups_path(bad, "c1")
    assert join_cgroup("/sys/fs/cgroup/memory", "/user/1", "/dockyard/c") == "/sys/fs/cgroup/memory/dockyard/c"
    assert join_cgroup("/sys/fs/cgroup/memory", "/user/1", "dockyard/c") == "/sys/fs/cgroup/memory/user/1/dockyard/c"


def test_device_rules_and_weights() -> None:
    assert device_rule({"allow": False, "access": "rwm"}) == "a"
    assert device_rule({"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}) == "c 1:3 rwm"
    assert device_rule({"allow": True, "type": "c", "major": 136, "access": "rwm"}) == "c 136:* rwm"
    assert cpu_shares_to_weight(2) == 1 and cpu_shares_to_weight(262144) == 10000 and cpu_shares_to_weight(1024) == 39


# -- mounts, namespaces, exec lookup -------------------------------------------
def test_mount_options() -> None:
    o = parse_options(["nosuid", "noexec", "nodev", "ro", "mode=755", "size=65536k", "rprivate"])
    assert o.flags == sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV | sc.MS_RDONLY
    assert o.data == "mode=755,size=65536k" and o.propagation == (sc.MS_PRIVATE | sc.MS_REC,)
    b = parse_options(["rbind", "ro", "rw"])
    assert b.is_bind and b.recursive and not b.flags & sc.MS_RDONLY


def test_namespace_plan() -> None:
    p = plan([{"type": "pid"}, {"type": "mount"}, {"type": "network", "path": "/proc/1/ns/net"}, {"type": "cgroup"}])
    assert p.new == {"pid", "mount", "cgroup"} and p.join == [("network", "/proc/1/ns/net")]
    assert p.unshare_flags == sc.CLONE_NEWPID | sc.CLONE_NEWNS  # cgroupns is init's, after the cgroup join
    with pytest.raises(InvalidArgument):
        plan([{"type": "pid"}, {"type": "pid"}])
    with pytest.raises(InvalidArgument):
        plan([{"type": "bogus"}])


def test_lookup_executable(tmp_path: Path) -> None:
    exe = tmp_path / "bin" / "tool"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    env = [f"PATH=/nonexistent:{exe.parent}"]
    assert lookup_executable("tool", env) == str(exe)
    assert lookup_executable(str(exe), []) == str(exe)
    with pytest.raises(ExecNotFound, match=r'exec: "nosuch": executable file not found in \$PATH'):
        lookup_executable("nosuch", env)
    with pytest.raises(ExecNotFound, match="no such file"):
        lookup_executable("/nope/x", env)
