"""Unit tests for exec's process building, update's parsing, cgroup stats and the default seccomp profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.seccomp_default import default_profile
from dockyard.runtime.cgroups import stats as cgstats
from dockyard.runtime.lifecycle.exec import process_from_cli
from dockyard.runtime.lifecycle.update import parse_bytes, resources_from_flags

BASE = {"args": ["sh"], "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}}


def test_process_from_cli_overrides() -> None:
    p = process_from_cli(BASE, ["id"], tty=True, cwd="/tmp", env=["A=1"], user="65534:7", caps=["chown"])
    assert p["args"] == ["id"] and p["terminal"] is True and p["cwd"] == "/tmp"
    assert p["env"] == ["PATH=/bin", "A=1"]
    assert p["user"] == {"uid": 65534, "gid": 7}
    assert "CAP_CHOWN" in p["capabilities"]["bounding"] and "ambient" not in p["capabilities"]
    assert BASE["env"] == ["PATH=/bin"]  # the container's process is not mutated


def test_process_from_cli_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        process_from_cli(BASE, [])
    with pytest.raises(InvalidArgument):
        process_from_cli(BASE, ["id"], user="nobody")
    pj = tmp_path / "p.json"
    pj.write_text('{"args": ["x"]}')
    assert process_from_cli(BASE, [], process_json=str(pj)) == {"args": ["x"]}


def test_update_parsing() -> None:
    assert parse_bytes("64m") == 64 << 20 and parse_bytes("1g") == 1 << 30 and parse_bytes("-1") == -1
    assert parse_bytes("4096") == 4096
    with pytest.raises(InvalidArgument):
        parse_bytes("12q")
    res = resources_from_flags(memory="1m", cpu_shares=512, pids_limit=10, blkio_weight=300)
    assert res == {"memory": {"limit": 1 << 20}, "cpu": {"shares": 512}, "pids": {"limit": 10}, "blockIO": {"weight": 300}}


def test_stats_and_oom_v1(tmp_path: Path) -> None:
    mem, pids, cpu = tmp_path / "memory", tmp_path / "pids", tmp_path / "cpuacct"
    for d in (mem, pids, cpu):
        d.mkdir()
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (mem / "memory.usage_in_bytes").write_text("4096\n")
    (pids / "pids.current").write_text("3\n")
    (pids / "pids.max").write_text("max\n")
    (cpu / "cpuacct.usage").write_text("1000\n")
    paths = {"memory": str(mem), "pids": str(pids), "cpuacct": str(cpu)}
    assert cgstats.oom_kills(paths, 1) == 2
    s = cgstats.stats(paths, 1)
    assert s["memory"]["usage"]["usage"] == 4096 and s["pids"] == {"current": 3, "limit": 0}
    assert s["cpu"]["usage"]["total"] == 1000


def test_stats_and_oom_v2(tmp_path: Path) -> None:
    (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n")
    (tmp_path / "cpu.stat").write_text("usage_usec 7\nuser_usec 4\nsystem_usec 3\n")
    (tmp_path / "pids.max").write_text("40\n")
    assert cgstats.oom_kills({"": str(tmp_path)}, 2) == 1
    s = cgstats.stats({"": str(tmp_path)}, 2)
    assert s["cpu"]["usage"]["total"] == 7000 and s["pids"]["limit"] == 40 and s["memory"]["usage"]["failcnt"] == 5


def test_default_seccomp_profile_gates_on_capabilities() -> None:
    plain = default_profile(["CAP_CHOWN"])
    allowed = set(plain["syscalls"][0]["names"])
    assert plain["defaultAction"] == "SCMP_ACT_ERRNO"
    assert {"read", "execve", "clone"} - allowed == {"clone"}  # clone only through its argument filter
    assert not {"mount", "unshare", "keyctl", "add_key", "setns", "bpf"} & allowed
    assert any(r["names"] == ["clone3"] and r["errnoRet"] == 38 for r in plain["syscalls"])
    admin = set(default_profile(["CAP_SYS_ADMIN"])["syscalls"][0]["names"])
    assert {"mount", "unshare", "setns"} <= admin and "keyctl" not in admin


@pytest.mark.parametrize("argv", [
    ["--root", "/r", "create", "--bundle", "/b", "--pid-file", "/p", "c1"],
    ["--root=/r", "--log", "/l", "--log-format", "json", "create", "-b", "/b", "--preserve-fds", "2", "--no-pivot", "c1"],
    ["start", "c1"], ["--debug", "state", "c1"], ["delete", "-f", "c1"], ["kill", "--all", "c1", "KILL"], ["kill", "c1"],
])
def test_fast_parse_matches_argparse(argv: list[str]) -> None:
    from dockyard.runtime.cli import build_parser, fast_parse

    fast = fast_parse(argv)
    full = vars(build_parser().parse_args(argv))
    assert fast is not None
    assert {k: v for k, v in vars(fast).items() if k in full} == {k: full[k] for k in vars(fast) if k in full}
    assert set(vars(fast)) >= {k for k in full if k not in ("systemd_cgroup", "rootless", "console_socket", "no_new_keyring")} - {"console_socket"}


@pytest.mark.parametrize("argv", [["exec", "c1", "sh"], ["create", "--weird", "c1"], ["kill"], ["--help"], ["start", "a", "b"]])
def test_fast_parse_falls_back(argv: list[str]) -> None:
    from dockyard.runtime.cli import fast_parse

    assert fast_parse(argv) is None
