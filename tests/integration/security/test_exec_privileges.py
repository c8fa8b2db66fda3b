"""docker exec is never more privileged than its container, and is computed as dockerd computes it.

Regression (issue 13): an exec's OCI process carried no capabilities, so the runtime left it the
shim's, the host root's full set (CapEff 000001fffeffffff where the container had 00000000a80425fb).
The container's side is read from the host's /proc, outside the container.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Daemon, inspect
from tests.integration.security.dockerkit import (
    DOCKER_DEFAULT_CAPS,
    docker,
    every_capability,
    host_status,
    name,
    ok,
    status_fields,
)

pytestmark = pytest.mark.root


@pytest.fixture
def started(daemon: Daemon) -> Iterator[list[str]]:
    """Names of containers a test starts; removed at the end."""
    names: list[str] = []
    yield names
    if names:
        docker(daemon, "rm", "-f", *names)


def _run(d: Daemon, started: list[str], *flags: str) -> tuple[str, dict[str, str]]:
    """A sleeping busybox with ``flags``; its name and its init's status as the host sees it."""
    n = name("sec")
    started.append(n)
    ok(d, "run", "-d", "--name", n, *flags, "busybox", "sleep", "300")
    return n, host_status(inspect(d, n)["State"]["Pid"])


def _exec_status(d: Daemon, n: str, *flags: str) -> dict[str, str]:
    return status_fields(ok(d, "exec", *flags, n, "cat", "/proc/self/status"))


def test_exec_capabilities_are_the_containers(daemon: Daemon, started: list[str]) -> None:
    n, init = _run(daemon, started)
    assert int(init["CapEff"], 16) == DOCKER_DEFAULT_CAPS
    mine = _exec_status(daemon, n)
    for field in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
        assert mine[field] == init[field], field
    assert int(mine["CapAmb"], 16) == 0
    assert mine["Seccomp"] == init["Seccomp"] == "2"  # the container's filter applies to the exec too


def test_exec_privileged_gets_every_capability(daemon: Daemon, started: list[str]) -> None:
    n, init = _run(daemon, started)
    every = every_capability(daemon.proc.pid)  # type: ignore[union-attr]
    mine = _exec_status(daemon, n, "--privileged")
    assert int(mine["CapEff"], 16) == int(mine["CapBnd"], 16) == every
    assert int(host_status(inspect(daemon, n)["State"]["Pid"])["CapEff"], 16) == DOCKER_DEFAULT_CAPS
    assert _exec_status(daemon, n)["CapEff"] == init["CapEff"]  # a later plain exec: the container's again


def test_exec_in_a_cap_drop_all_container_has_none(daemon: Daemon, started: list[str]) -> None:
    n, init = _run(daemon, started, "--cap-drop", "ALL")
    assert int(init["CapEff"], 16) == 0
    for flags in ((), ("-u", "0")):
        mine = _exec_status(daemon, n, *flags)
        assert int(mine["CapEff"], 16) == int(mine["CapPrm"], 16) == int(mine["CapBnd"], 16) == 0
    r = docker(daemon, "exec", n, "chown", "1:1", "/tmp")  # CAP_CHOWN is gone for the exec too
    assert r.returncode != 0


def test_exec_cap_add_and_drop_follow_the_container(daemon: Daemon, started: list[str]) -> None:
    n, init = _run(daemon, started, "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN")
    mine = _exec_status(daemon, n)
    eff = int(mine["CapEff"], 16)
    assert mine["CapEff"] == init["CapEff"]
    assert eff & (1 << 12)  # CAP_NET_ADMIN
    assert not eff & (1 << 0)  # CAP_CHOWN


def test_exec_keeps_no_new_privileges(daemon: Daemon, started: list[str]) -> None:
    n, init = _run(daemon, started, "--security-opt", "no-new-privileges")
    assert init["NoNewPrivs"] == "1"
    assert _exec_status(daemon, n)["NoNewPrivs"] == "1"
    n2, init2 = _run(daemon, started)
    assert init2["NoNewPrivs"] == "0"
    assert _exec_status(daemon, n2)["NoNewPrivs"] == "0"


def test_exec_user_groups_workdir_and_env(daemon: Daemon, started: list[str]) -> None:
    n, _ = _run(daemon, started, "-u", "1000:1000", "--group-add", "123", "-w", "/tmp", "-e", "A=1",
                "--hostname", "boxy")
    out = ok(daemon, "exec", n, "sh", "-c", 'id -u; id -g; id -G; pwd; echo "$A $HOSTNAME"').split("\n")
    assert out[0:2] == ["1000", "1000"]
    assert "123" in out[2].split()
    assert out[3:5] == ["/tmp", "1 boxy"]
    mine = _exec_status(daemon, n)
    assert int(mine["CapEff"], 16) == 0  # a non-root user keeps no effective capability (as in Docker)
    out = ok(daemon, "exec", "-u", "0", "-w", "/", "-e", "A=2", n, "sh", "-c", 'id -u; pwd; echo "$A"').split("\n")
    assert out[0:3] == ["0", "/", "2"]
