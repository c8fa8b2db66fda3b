"""Pure parts of issue 13: exec processes, --privileged, sysctl rules."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.engine import execs
from dockyard.engine import spec as specs
from dockyard.engine.container import Container
from dockyard.oci import sysctl
from dockyard.oci.runtime_spec import DEFAULT_CAPABILITIES

C = Container({"Id": "c" * 64, "HostConfig": {"CapDrop": ["ALL"]},
               "Config": {"Env": ["PATH=/bin", "A=1"], "Hostname": "h", "WorkingDir": "/w", "User": ""}})


def test_exec_takes_the_containers_process_and_its_own_args_env_cwd() -> None:
    base = {"capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
            "noNewPrivileges": True, "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 9}],
            "args": ["init"], "env": ["X=container-only"], "cwd": "/elsewhere"}
    p = execs.process_spec(C, {"Cmd": ["sh"], "Env": ["A=2"]}, base=base)
    assert p["capabilities"] == base["capabilities"]
    assert p["noNewPrivileges"] is True
    assert p["rlimits"] == base["rlimits"]
    assert p["args"] == ["sh"]
    assert p["cwd"] == "/w"
    assert p["env"][:3] == ["PATH=/bin", "HOSTNAME=h", "A=2"]
    assert "X=container-only" not in p["env"]
    assert "ambient" not in p["capabilities"] and "inheritable" not in p["capabilities"]


def test_exec_without_a_spec_derives_capabilities_from_host_config() -> None:
    p = execs.process_spec(C, {"Cmd": ["sh"]})
    assert p["capabilities"] == {"bounding": [], "effective": [], "permitted": []}
    p = execs.process_spec(Container({**C.to_json(), "HostConfig": {}}), {"Cmd": ["sh"]})
    assert set(p["capabilities"]["effective"]) == set(DEFAULT_CAPABILITIES)


def test_privileged_exec_gets_every_known_capability() -> None:
    p = execs.process_spec(C, {"Cmd": ["sh"], "Privileged": True}, base={"apparmorProfile": "docker-default"})
    assert p["capabilities"]["effective"] == sorted(specs.known_capabilities())
    assert "apparmorProfile" not in p


def test_privileged_container_spec() -> None:
    s = specs.build("c" * 64, {"Cmd": ["sh"]}, {"Privileged": True, "CapDrop": ["ALL"]}, {}, "p")
    assert s["process"]["capabilities"]["bounding"] == sorted(specs.known_capabilities())
    assert "seccomp" not in s["linux"]
    assert s["linux"]["maskedPaths"] == [] and s["linux"]["readonlyPaths"] == []
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert any(d["path"] == "/dev/null" for d in s["linux"]["devices"])
    assert not any(d["path"] in ("/dev/ptmx", "/dev/console") or d["path"].startswith("/dev/pts/")
                   for d in s["linux"]["devices"])
    for m in s["mounts"]:
        if m["destination"] in ("/sys", "/sys/fs/cgroup"):
            assert "ro" not in m["options"]


@pytest.mark.parametrize("key, types, host_net, refused", [
    ("kernel.shmmax", {"ipc"}, False, False),
    ("kernel.shmmax", set(), False, True),
    ("fs.mqueue.msg_max", {"ipc"}, False, False),
    ("net.ipv4.ip_forward", {"network"}, False, False),
    ("net.ipv4.ip_forward", set(), True, True),
    ("kernel.domainname", {"uts"}, False, False),
    ("kernel.hostname", {"uts"}, False, True),
    ("kernel.core_pattern", {"ipc", "uts", "network"}, False, True),
    ("kernel.core_uses_pid", {"ipc", "uts", "network"}, False, True),
    ("net.ipv4.//.//.kernel.core_pattern", {"network"}, False, True),
])
def test_sysctl_rules(key: str, types: set[str], host_net: bool, refused: bool) -> None:
    assert (sysctl.refusal(key, types, host_net) is not None) == refused


def test_sysctl_names_in_sysctl8_notation() -> None:
    assert sysctl.proc_path("net.ipv4.conf.eth0/100.forwarding") == "net/ipv4/conf/eth0.100/forwarding"


def test_engine_refuses_host_sysctls_at_build() -> None:
    with pytest.raises(errors.InvalidArgument, match="not in a separate kernel namespace"):
        specs.build("c" * 64, {"Cmd": ["sh"]}, {"Sysctls": {"kernel.core_uses_pid": "1"}}, {}, "p")
    with pytest.raises(errors.InvalidArgument, match="host network namespace"):
        specs.build("c" * 64, {"Cmd": ["sh"]}, {"Sysctls": {"net.ipv4.ip_forward": "1"}, "NetworkMode": "host"}, {}, "p")
    s = specs.build("c" * 64, {"Cmd": ["sh"]}, {"Sysctls": {"net.ipv4.ip_forward": "1"}}, {}, "p")
    assert s["linux"]["sysctl"] == {**specs.network_sysctls(), "net.ipv4.ip_forward": "1"}
