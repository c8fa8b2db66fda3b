"""``POST /build``'s ``rm`` and ``forcerm`` as dockerd's classic builder: with ``rm=false`` every RUN's
container stays (exited, listed by ``ps -a``, its filesystem the step's result); a failed RUN's container
stays unless ``forcerm``; with the defaults a build that succeeds leaves none."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import Daemon
from tests.httpcall import request
from tests.integration.builder.test_builder_api_compat import tar_of

pytestmark = pytest.mark.root


def build(d: Daemon, dockerfile: str, query: str) -> str:
    r = subprocess.run(["curl", "-s", "--unix-socket", str(d.socket), "-H", "Content-Type: application/x-tar",
                        "--data-binary", "@-", f"http://d/build?nocache=1&{query}"],
                       input=tar_of({"Dockerfile": dockerfile}), capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return "".join(json.loads(line).get("stream", "") + json.loads(line).get("error", "")
                   for line in r.stdout.decode().splitlines() if line.strip())


def all_ids(d: Daemon) -> set[str]:
    return set(d.cli("ps", "-aq", "--no-trunc").stdout.decode().split())


@pytest.fixture
def new_containers(daemon: Daemon) -> Iterator[Any]:
    before = all_ids(daemon)
    made: set[str] = set()

    def new() -> set[str]:
        made.update(all_ids(daemon) - before)
        return all_ids(daemon) - before
    yield new
    new()
    if made:
        daemon.cli("rm", "-f", *made)


def test_rm_false_keeps_every_run_container(daemon: Daemon, new_containers: Any) -> None:
    out = build(daemon, "FROM busybox\nRUN echo one > /one\nRUN echo two\n", "rm=0&t=c2keep:1")
    try:
        assert "Successfully built" in out and "Removed intermediate container" not in out, out
        kept = new_containers()
        assert len(kept) == 2, out
        rows = [json.loads(daemon.cli("inspect", k).stdout)[0] for k in kept]
        assert sorted(r["Config"]["Cmd"] for r in rows) == [["/bin/sh", "-c", "echo one > /one"],
                                                           ["/bin/sh", "-c", "echo two"]]
        assert all(r["State"]["Status"] == "exited" and r["State"]["ExitCode"] == 0 for r in rows)
        for r in rows:  # "Running in <id>": the container the step ran
            assert f" ---> Running in {r['Id'][:12]}" in out
        later = next(r for r in rows if r["Config"]["Cmd"][-1] == "echo two")
        cp = daemon.cli("cp", f"{later['Id']}:/one", "-")
        assert cp.returncode == 0 and b"one\n" in cp.stdout, cp.stderr  # the step's filesystem
        listed = daemon.cli("ps", "-a", "--filter", "status=exited", "--format", "{{.ID}}").stdout.decode()
        assert all(k[:12] in listed for k in kept)
        assert daemon.cli("start", later["Id"]).returncode == 0  # it runs its step again (network none)
        assert daemon.cli("wait", later["Id"]).stdout.strip() == b"0"
        assert daemon.cli("logs", later["Id"]).stdout == b"two\n"
        assert later["HostConfig"]["NetworkMode"] == "none"
        assert daemon.cli("rm", *kept).returncode == 0
        assert not new_containers()
    finally:
        daemon.cli("rmi", "-f", "c2keep:1")


def test_failed_run_container_stays_unless_forcerm(daemon: Daemon, new_containers: Any) -> None:
    out = build(daemon, "FROM busybox\nRUN echo ok\nRUN exit 3\n", "")
    assert "returned a non-zero code: 3" in out, out
    kept = new_containers()
    assert len(kept) == 1, out  # the step that succeeded was removed, the failed one stays
    row = json.loads(daemon.cli("inspect", *kept).stdout)[0]
    assert row["State"]["ExitCode"] == 3 and row["Config"]["Cmd"] == ["/bin/sh", "-c", "exit 3"]
    assert out.count("Removed intermediate container") == 1
    daemon.cli("rm", *kept)
    out = build(daemon, "FROM busybox\nRUN echo ok\nRUN exit 4\n", "forcerm=1")
    assert "returned a non-zero code: 4" in out and out.count("Removed intermediate container") == 2, out
    assert not new_containers()


def test_default_build_leaves_no_container(daemon: Daemon, new_containers: Any) -> None:
    out = build(daemon, "FROM busybox\nRUN echo fine\n", "t=c2keep:2")
    try:
        assert "Successfully built" in out and "Removed intermediate container" in out, out
        assert not new_containers()
    finally:
        daemon.cli("rmi", "-f", "c2keep:2")


LIMITS = {"memory": 64 * 1024 * 1024, "memswap": -1, "cpusetcpus": "0", "cpusetmems": "0", "cpushares": 100,
          "cpuquota": 8000, "ulimits": json.dumps([{"Name": "nofile", "Hard": 50, "Soft": 50}])}


def test_kept_container_has_the_builds_resource_limits(daemon: Daemon, new_containers: Any) -> None:
    """As moby's TestBuildResourceConstraintsAreUsed: the RUN runs with the build's limits, the container
    rm=false keeps carries them in its HostConfig, and the image does not."""
    query = "&".join(f"{k}={quote(str(v))}" for k, v in LIMITS.items())
    script = "RUN ulimit -n; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares"
    out = build(daemon, f"FROM busybox\n{script}\n", f"rm=0&t=c2keep:3&{query}")
    try:
        assert "Successfully built" in out and "50\n67108864\n100\n" in out, out
        kept = new_containers()
        assert len(kept) == 1, out
        host = json.loads(daemon.cli("inspect", *kept).stdout)[0]["HostConfig"]
        assert (host["Memory"], host["MemorySwap"], host["CpusetCpus"], host["CpusetMems"], host["CpuShares"],
                host["CpuQuota"]) == (67108864, -1, "0", "0", 100, 8000), host
        assert host["Ulimits"] == [{"Name": "nofile", "Hard": 50, "Soft": 50}]
        r = daemon.cli("run", "--name", f"c2keep-run-{uuid.uuid4().hex[:6]}", "c2keep:3", "true")
        assert r.returncode == 0, r.stderr
        ran = new_containers() - kept
        plain = json.loads(daemon.cli("inspect", *ran).stdout)[0]["HostConfig"]
        assert (plain["Memory"], plain["CpuShares"], plain["Ulimits"] or []) == (0, 0, []), "nothing leaked"
    finally:
        daemon.cli("rmi", "-f", "c2keep:3")


def test_build_resources_refused_as_a_create_refuses_them(daemon: Daemon, new_containers: Any) -> None:
    """The query's own refusals are 400s; a value a container create refuses fails the RUN step, in the
    stream (dockerd: the step's container create)."""
    context = tar_of({"Dockerfile": "FROM busybox\nRUN true\n"})
    for query, message in (("securityopt=x", "security options are not supported on linux"),
                           ("isolation=hyperv", 'unsupported isolation: "hyperv"')):
        status, _, body = request(daemon, "POST", f"/build?{query}", raw=context)
        assert status == 400 and json.loads(body)["message"] == message, (query, body)
    out = build(daemon, "FROM busybox\nRUN true\n", "memory=1024")
    assert out.endswith("Step 2/2 : RUN true\nMinimum memory limit allowed is 6MB"), out
    assert not new_containers()
