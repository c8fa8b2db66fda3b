"""runc-peer rules of dockyard-runc as pure functions: no root, no kernel features."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime.lifecycle.create import check_terminal
from dockyard.runtime.lifecycle.exec import exec_cgroup_paths, parse_cgroup_args
from dockyard.runtime.lifecycle.ps import filter_rows
from dockyard.runtime.lifecycle.spec import example, to_rootless, write_spec
from dockyard.runtime.linux.seccomp import SeccompError, check_notify

V1 = {"memory": "/sys/fs/cgroup/memory/c", "cpu": "/sys/fs/cgroup/cpu/c"}


def test_cgroup_args_as_runc_reads_them() -> None:
    assert parse_cgroup_args(["sub"]) == {"": "sub"}
    assert parse_cgroup_args(["memory:m", "cpu,cpuacct:c"]) == {"memory": "m", "cpu": "c", "cpuacct": "c"}
    with pytest.raises(InvalidArgument, match="missing <controller>: prefix"):
        parse_cgroup_args(["a", "memory:b"])
    with pytest.raises(InvalidArgument, match="invalid --cgroup argument"):
        parse_cgroup_args(["a:b:c"])


def test_exec_sub_cgroups_stay_inside() -> None:
    assert exec_cgroup_paths(V1, {}) == V1
    assert exec_cgroup_paths(V1, {"": "/"}) == V1
    assert exec_cgroup_paths(V1, {"memory": "sub"})["memory"] == "/sys/fs/cgroup/memory/c/sub"
    assert exec_cgroup_paths(V1, {"": "x"}) == {k: v + "/x" for k, v in V1.items()}
    for escape in ("..", "../c2", "x/../../c2"):
        with pytest.raises(InvalidArgument, match="is not a sub cgroup path"):
            exec_cgroup_paths(V1, {"": escape})
    with pytest.raises(InvalidArgument, match="unknown controller whaaat"):
        exec_cgroup_paths(V1, {"whaaat": "/"})


def test_terminal_rules() -> None:
    check_terminal(True, False, None)  # foreground: we make the pty ourselves
    check_terminal(True, True, "/s")
    check_terminal(False, True, None)
    with pytest.raises(InvalidArgument, match="cannot allocate tty"):
        check_terminal(True, True, None)
    for terminal, detach in ((False, True), (True, False), (False, False)):
        with pytest.raises(InvalidArgument, match="cannot use console socket"):
            check_terminal(terminal, detach, "/s")


def test_ps_rows_filtered_by_pid_column() -> None:
    out = "  PID TTY STAT TIME COMMAND\n   10 ?  S 0:00 sleep\n   11 ?  S 0:00 other\n\n"
    assert filter_rows(out, {10}) == "  PID TTY STAT TIME COMMAND\n   10 ?  S 0:00 sleep\n"
    with pytest.raises(InvalidArgument, match="couldn't find PID field"):
        filter_rows("USER COMMAND\n", {1})


def test_spec_is_runcs_example(tmp_path: Path) -> None:
    write_spec(str(tmp_path))
    text = (tmp_path / "config.json").read_text()
    assert text.startswith('{\n\t"ociVersion": "1.0.2-dev",\n\t"process": {\n\t\t"terminal": true,')
    assert not text.endswith("\n")  # runc writes no trailing newline
    spec = json.loads(text)
    assert spec["root"]["readonly"] is True
    caps = spec["process"]["capabilities"]
    assert set(caps) == {"bounding", "effective", "permitted", "ambient"}
    rootless = to_rootless(example())
    assert {"type": "network"} not in rootless["linux"]["namespaces"]
    assert rootless["linux"]["namespaces"][-1] == {"type": "user"} and "resources" not in rootless["linux"]
    devpts = next(m for m in rootless["mounts"] if m["type"] == "devpts")
    assert "gid=5" not in devpts["options"]


def test_seccomp_notify_rules() -> None:
    """runc's refusals stay; a profile with a listenerPath is accepted and says it notifies."""
    assert not check_notify({"defaultAction": "SCMP_ACT_ALLOW",
                             "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})
    notify = {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}
    assert not check_notify({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a"})  # no rule: no agent
    assert check_notify({"syscalls": [notify], "listenerPath": "/a"})
    with pytest.raises(SeccompError, match="no listenerPath"):
        check_notify({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [notify]})
    with pytest.raises(SeccompError, match="write syscall"):
        check_notify({"syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}], "listenerPath": "/a"})
    with pytest.raises(SeccompError, match="default action"):
        check_notify({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/a"})
