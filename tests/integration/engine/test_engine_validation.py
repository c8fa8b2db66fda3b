"""Validation at the door (issue 14): every value dockerd refuses is refused when it arrives, with dockerd's
status and message, never stored to fail later and never a 500; a stored container can never make a list
endpoint fail; swarm and plugin probes answered as a dockerd without swarm or plugins answers them."""

from __future__ import annotations

import io
import tarfile
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import Daemon
from tests.httpcall import call

pytestmark = pytest.mark.root


def create(config: dict[str, Any], host: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"Image": "busybox", "Cmd": ["true"], **config, **({"HostConfig": host} if host is not None else {})}


def ports(key: str, host_port: str = "") -> dict[str, Any]:
    return {"PortBindings": {key: [{"HostIp": "", "HostPort": host_port}]}}


# (id, body of POST /containers/create, dockerd's message): every one a 400.
INVALID_CREATES: list[tuple[str, Any, str]] = [
    ("port-no-number", create({}, ports("/tcp")), "invalid JSON: invalid port '': value is empty"),
    ("port-semicolon", create({}, ports("19039;1230")), "invalid JSON: invalid port '19039;1230': invalid syntax"),
    ("port-out-of-range", create({}, ports("70000/tcp")), "invalid JSON: invalid port '70000': value out of range"),
    ("port-letters", create({}, ports("abc/tcp")), "invalid JSON: invalid port 'abc': invalid syntax"),
    ("port-negative", create({}, ports("-1")), "invalid JSON: invalid port '-1': invalid syntax"),
    ("port-zero", create({}, ports("0/tcp")), 'invalid port specification: "0/tcp"'),
    ("exposed-port-letters", create({"ExposedPorts": {"abc/tcp": {}}}),
     "invalid JSON: invalid port 'abc': invalid syntax"),
    ("host-port-99999", create({}, ports("80/tcp", "99999")), 'invalid port specification: "99999"'),
    ("host-ip", create({}, {"PortBindings": {"80/tcp": [{"HostIp": "nope", "HostPort": "8080"}]}}),
     'invalid JSON: ParseAddr("nope"): unable to parse IP'),
    ("memory-1", create({}, {"Memory": 1}), "Minimum memory limit allowed is 6MB"),
    ("memory-below-6mb", create({}, {"CpuShares": 100, "Memory": 524287}), "Minimum memory limit allowed is 6MB"),
    ("swap-below-memory", create({}, {"Memory": 64 << 20, "MemorySwap": 32 << 20}),
     "Minimum memoryswap limit should be larger than memory limit, see usage"),
    ("swap-without-memory", create({}, {"MemorySwap": 64 << 20}),
     "You should always set the Memory limit when using Memoryswap limit, see usage"),
    ("swappiness", create({}, {"MemorySwappiness": 101}), "Invalid value: 101, valid memory swappiness range is 0-100"),
    ("reservation", create({}, {"MemoryReservation": 1}), "Minimum memory reservation allowed is 6MB"),
    ("cpu-shares-negative", create({}, {"CpuShares": -1}),
     "invalid CPU shares (-1): value must be a positive integer"),
    ("nano-cpus-negative", create({}, {"NanoCpus": -1}), "range of CPUs is from 0.01 to"),
    ("nano-cpus-and-period", create({}, {"NanoCpus": 500_000_000, "CpuPeriod": 100000}),
     "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
    ("cpu-period", create({}, {"CpuPeriod": 10}),
     "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
    ("cpu-quota", create({}, {"CpuQuota": 10}), "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    ("cpuset-abc", create({}, {"CpusetCpus": "abc"}), "Invalid value abc for cpuset cpus: invalid format: abc"),
    ("cpuset-unavailable", create({}, {"CpusetCpus": "4000"}), "Requested CPUs are not available - requested 4000"),
    ("cpuset-mems", create({}, {"CpusetMems": "x"}), "Invalid value x for cpuset mems: invalid format: x"),
    ("blkio-weight", create({}, {"BlkioWeight": 5}), "Range of blkio weight is from 10 to 1000"),
    ("io-maximum", create({}, {"IOMaximumBandwidth": 1}),
     "invalid option: QoS maximum bandwidth configuration is not supported on linux"),
    ("restart-bogus", create({}, {"RestartPolicy": {"Name": "bogus"}}),
     "invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"),
    ("restart-retries-always", create({}, {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 2}}),
     "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
    ("restart-retries-negative", create({}, {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -2}}),
     "invalid restart policy: maximum retry count cannot be negative"),
    ("autoremove-restart", create({}, {"AutoRemove": True, "RestartPolicy": {"Name": "always"}}),
     "can't create 'AutoRemove' container with restart policy"),
    ("stop-signal", create({"StopSignal": "SIGBOGUS"}), "invalid signal: SIGBOGUS"),
    ("health-interval-negative", create({"Healthcheck": {"Test": ["CMD", "true"], "Interval": -10_000_000}}),
     "Interval in Healthcheck cannot be less than 1ms"),
    ("health-timeout", create({"Healthcheck": {"Test": ["CMD", "true"], "Timeout": 500}}),
     "Timeout in Healthcheck cannot be less than 1ms"),
    ("health-retries", create({"Healthcheck": {"Test": ["CMD", "true"], "Retries": -1}}),
     "Retries in Healthcheck cannot be negative"),
    ("health-start-period", create({"Healthcheck": {"Test": ["CMD", "true"], "StartPeriod": 100_000}}),
     "StartPeriod in Healthcheck cannot be less than 1ms"),
    ("workdir-relative", create({"WorkingDir": "rel/dir"}),
     "the working directory 'rel/dir' is invalid, it needs to be an absolute path"),
    ("hostname-300", create({"Hostname": "h" * 300}), "is too long (maximum 64 bytes)"),
    ("ulimit-soft-above-hard", create({}, {"Ulimits": [{"Name": "nofile", "Soft": 2048, "Hard": 1024}]}),
     "ulimit soft limit must be less than or equal to hard limit: 2048 > 1024"),
    ("ulimit-name", create({}, {"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}), "invalid ulimit type: bogus"),
    ("env-no-name", create({"Env": ["=x"]}), "invalid environment variable: =x"),
    ("env-empty", create({"Env": [""]}), "invalid environment variable: "),
    ("extra-host", create({}, {"ExtraHosts": ["db:not-an-ip"]}), 'invalid IP address in add-host: "not-an-ip"'),
    ("cap-add", create({}, {"CapAdd": ["BOGUS"]}), 'invalid CapAdd: unknown capability: "CAP_BOGUS"'),
    ("isolation", create({}, {"Isolation": "hyperv"}), "invalid isolation (hyperv): linux only supports 'default'"),
    ("annotation-key", create({}, {"Annotations": {"": "a"}}),
     "invalid Annotations: the empty string is not permitted as an annotation key"),
    ("ipc-mode", create({}, {"IpcMode": "invalid"}), "invalid IPC mode: invalid"),
    ("pid-mode", create({}, {"PidMode": "container"}), "invalid PID mode: container"),
    ("uts-mode", create({}, {"UTSMode": "invalid"}), "invalid UTS mode: invalid"),
    ("cgroupns-mode", create({}, {"CgroupnsMode": "invalid"}), "invalid cgroup namespace mode: invalid"),
    ("shm-size", create({}, {"ShmSize": -1}), "SHM size can not be less than 0"),
    ("oom-score-adj", create({}, {"OomScoreAdj": 1001}), "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
    ("net-container-empty", create({}, {"NetworkMode": "container:"}),
     "invalid network mode: invalid container format container:<name|id>"),
    ("net-container-hostname", create({"Hostname": "x"}, {"NetworkMode": "container:other"}),
     "conflicting options: hostname and the network mode"),
    ("uts-host-hostname", create({"Hostname": "x"}, {"UTSMode": "host"}),
     "conflicting options: hostname and the UTS mode"),
    ("tmpfs-relative", create({}, {"Tmpfs": {"rel": ""}}), "mount path must be absolute"),
    ("empty-config", {}, "config cannot be empty in order to create a container"),
    ("device-request-gpu", create({}, {"DeviceRequests": [{"Count": -1, "Capabilities": [["gpu"]]}]}),
     'could not select device driver "" with capabilities: [[gpu]]'),
    ("device-request-count-and-ids", create({}, {"DeviceRequests": [{"Driver": "nvidia", "Count": 1, "DeviceIDs": ["0"]}]}),
     "cannot set both Count and DeviceIDs on device request"),
]


@pytest.mark.parametrize("body,message", [pytest.param(b, m, id=i) for i, b, m in INVALID_CREATES])
def test_invalid_create_is_refused_at_the_door(daemon: Daemon, body: Any, message: str) -> None:
    before = call(daemon, "GET", "/v1.47/containers/json?all=1")[1]
    status, answer = call(daemon, "POST", "/v1.47/containers/create?name=val-bad", body)
    try:
        assert status == 400, answer
        assert message in answer["message"], answer
    finally:
        if status == 201:
            call(daemon, "DELETE", "/v1.47/containers/val-bad?force=1")
    status, after = call(daemon, "GET", "/v1.47/containers/json?all=1")
    assert status == 200, after
    assert len(after) == len(before), "a refused create left a container behind"


def test_lists_answer_after_every_invalid_create(daemon: Daemon) -> None:
    """The issue's case: a create with a bad value was a 201, and from then on `GET /containers/json` and
    `system df` failed for every client. Every invalid body at once, then the list endpoints."""
    made = []
    try:
        for i, (_, body, _) in enumerate(INVALID_CREATES):
            status, answer = call(daemon, "POST", f"/v1.47/containers/create?name=val-all-{i}", body)
            assert status < 500, (body, answer)
            if status == 201:
                made.append(answer["Id"])
        assert made == [], "invalid creates were stored"
        for path in ("/v1.47/containers/json?all=1", "/v1.47/system/df", "/v1.47/containers/json?all=1&size=1"):
            status, answer = call(daemon, "GET", path)
            assert status == 200, (path, answer)
        r = daemon.cli("ps", "-a")
        assert r.returncode == 0, r.stderr.decode()
    finally:
        for id in made:
            call(daemon, "DELETE", f"/v1.47/containers/{id}?force=1")


@pytest.mark.parametrize("body", [
    pytest.param(create({}, {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 0}}), id="on-failure-0"),
    pytest.param(create({}, {"Memory": 6 << 20}), id="memory-6mb"),
    pytest.param(create({}, {"MemorySwappiness": -1}), id="swappiness-unset"),
    pytest.param(create({}, ports("8080/tcp", "8080-8081")), id="host-port-range"),
    pytest.param(create({"WorkingDir": "/a/../b/"}), id="workdir-cleaned"),
    pytest.param(create({"StopSignal": "SIGRTMIN+3"}), id="stop-signal-rt"),
    pytest.param(create({}, {"ExtraHosts": ["gw:host-gateway", "v6:::1"]}), id="extra-hosts"),
])
def test_valid_neighbours_are_still_created(daemon: Daemon, body: Any) -> None:
    status, answer = call(daemon, "POST", "/v1.47/containers/create?name=val-ok", body)
    try:
        assert status == 201, answer
        if body.get("WorkingDir"):
            status, c = call(daemon, "GET", "/v1.47/containers/val-ok/json")
            assert c["Config"]["WorkingDir"] == "/b"
    finally:
        call(daemon, "DELETE", "/v1.47/containers/val-ok?force=1")


def test_create_platform_checked(daemon: Daemon) -> None:
    status, answer = call(daemon, "POST", "/v1.47/containers/create?platform=bogus", create({}))
    assert (status, answer["message"]) == (400, '"bogus": unknown operating system or architecture: invalid argument')
    status, answer = call(daemon, "POST", "/v1.47/containers/create?platform=windows/amd64", create({}))
    assert status == 404 and "does not match the specified platform (windows/amd64)" in answer["message"], answer


@pytest.mark.parametrize("raw,message", [
    (b"", "invalid JSON: EOF"),
    (b"[" * 50_000 + b"]" * 50_000, "invalid JSON: exceeded max depth"),
    (b'{"Image": NaN}', "invalid JSON"),
    (b"{nope", "invalid JSON"),
])
def test_malformed_create_bodies_are_400(daemon: Daemon, raw: bytes, message: str) -> None:
    status, answer = call(daemon, "POST", "/v1.47/containers/create", raw=raw,
                          headers={"Content-Type": "application/json"})
    assert status == 400 and answer["message"].startswith(message), answer


@pytest.fixture
def running(daemon: Daemon) -> Any:
    r = daemon.cli("run", "-d", "--name", "val-run", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr.decode()
    yield "val-run"
    daemon.cli("rm", "-f", "val-run")


@pytest.mark.parametrize("method,path,body,status,message", [
    ("POST", "/containers/val-run/kill?signal=0", None, 400, "invalid signal: 0"),
    ("POST", "/containers/val-run/kill?signal=99", None, 400, "the linux daemon does not support signal 99"),
    ("POST", "/containers/val-run/kill?signal=SIGBOGUS", None, 400, "invalid signal: SIGBOGUS"),
    ("POST", "/containers/val-run/stop?signal=SIGBOGUS", None, 400, "invalid signal: SIGBOGUS"),
    ("POST", "/containers/val-run/rename?name=val-run", None, 400,
     "Renaming a container with the same name as its current name"),
    ("POST", "/containers/val-run/rename?name=", None, 400, "Neither old nor new names may be empty"),
    ("POST", "/containers/val-run/attach?stream=1&stdout=1&detachKeys=ctrl-xx", None, 400,
     "Invalid detach keys (ctrl-xx) provided"),
    ("POST", "/containers/val-run/exec", {"Cmd": ["true"], "DetachKeys": "ctrl-xx"}, 400,
     "Invalid escape keys (ctrl-xx) provided"),
    ("POST", "/containers/val-run/update", {"Memory": 1}, 400, "Minimum memory limit allowed is 6MB"),
    ("POST", "/containers/val-run/update", {"CpuShares": -5}, 400,
     "invalid CPU shares (-5): value must be a positive integer"),
    ("POST", "/containers/val-run/update", {"RestartPolicy": {"Name": "bogus"}}, 400,
     "invalid restart policy: unknown policy 'bogus'"),
    ("GET", "/containers/val-run/archive?path=" + quote("\x00"), None, 400, "invalid path: contains a NUL byte"),
    ("HEAD", "/containers/val-run/archive?path=", None, 400, ""),
])
def test_refused_operations_on_a_container(daemon: Daemon, running: str, method: str, path: str, body: Any,
                                           status: int, message: str) -> None:
    got, answer = call(daemon, method, "/v1.47" + path, body)
    assert got == status, answer
    if message:
        assert message in answer["message"], answer
    assert call(daemon, "GET", "/v1.47/containers/val-run/json")[1]["State"]["Running"]


@pytest.mark.parametrize("raw", [b"", b"this is not a tar archive" * 40], ids=["empty", "not-tar"])
@pytest.mark.parametrize("path", ["/containers/val-run/archive?path=/tmp", "/images/create?fromSrc=-&repo=val-imp"])
def test_empty_or_non_tar_bodies_are_400(daemon: Daemon, running: str, path: str, raw: bytes) -> None:
    method = "PUT" if "archive" in path else "POST"
    status, answer = call(daemon, method, "/v1.47" + path, raw=raw)
    if not raw:  # dockerd imports an empty body as an empty layer (moby TestImportWithCustomPlatform)
        assert status == 200, answer  # and extracts an empty archive as nothing (moby TestCopyEmptyFile)
        return
    assert status == 400, answer
    assert "archive:" in answer["message"], answer


def test_a_real_tar_still_goes_in(daemon: Daemon, running: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    status, answer = call(daemon, "PUT", "/v1.47/containers/val-run/archive?path=/tmp", raw=buf.getvalue())
    assert status == 200, answer
    r = daemon.cli("exec", "val-run", "cat", "/tmp/hello.txt")
    assert r.stdout == b"hi\n", r.stderr.decode()


@pytest.mark.parametrize("method,path,body,message", [
    ("POST", "/networks/create", {"Name": "val-mtu", "Options": {"com.docker.network.driver.mtu": "-1"}},
     "invalid MTU number: -1"),
    ("POST", "/networks/create", {"Name": "val-mtu", "Options": {"com.docker.network.driver.mtu": "abc"}},
     "failed to parse com.docker.network.driver.mtu value: abc"),
    ("POST", "/volumes/create", {"Name": "v" * 300}, "volume name is too long"),
    ("POST", "/images/busybox/tag?repo=sha256&tag=abc", None,
     "refusing to create an ambiguous tag using digest algorithm as name"),
    ("POST", "/images/busybox/tag?repo=val&tag=sha256:abc", None, "invalid tag format"),
    ("GET", "/containers/json?filters=" + quote("[1,2]"), None, "invalid filter"),
    ("GET", "/containers/json?filters=" + quote('{"bogus":["x"]}'), None, "invalid filter 'bogus'"),
    ("GET", "/containers/json?filters=" + quote('{"name":"x"}'), None, "invalid filter"),
    ("GET", "/images/json?filters=" + quote('{"dangling":["maybe"]}'), None, "invalid filter 'dangling=[maybe]'"),
    ("GET", "/images/json?filters=" + quote('{"bogus":["x"]}'), None, "invalid filter 'bogus'"),
    ("GET", "/networks?filters=" + quote('{"bogus":["x"]}'), None, "invalid filter 'bogus'"),
    ("GET", "/volumes?filters=" + quote('{"bogus":["x"]}'), None, "invalid filter 'bogus'"),
    ("POST", "/containers/prune?filters=" + quote('{"bogus":["x"]}'), None, "invalid filter 'bogus'"),
    ("POST", "/images/prune?filters=" + quote('{"bogus":["x"]}'), None, "invalid filter 'bogus'"),
    ("POST", "/networks/prune?filters=" + quote('{"dangling":["true"]}'), None, "invalid filter 'dangling'"),
    ("POST", "/volumes/prune?filters=" + quote('{"bogus":["x"]}'), None, "invalid filter 'bogus'"),
    ("GET", "/plugins?filters=" + quote('{"bogus":["x"]}'), None, "invalid filter 'bogus'"),
    ("GET", "/events?until=1&filters=" + quote("[1,2]"), None, "invalid filter"),
])
def test_other_refusals(daemon: Daemon, method: str, path: str, body: Any, message: str) -> None:
    status, answer = call(daemon, method, "/v1.47" + path, body)
    assert status == 400, answer
    assert message in answer["message"], answer
    assert call(daemon, "GET", "/v1.47/networks")[0] == 200


def test_filters_in_both_wire_forms(daemon: Daemon, running: str) -> None:
    for raw in ('{"name":["val-run"]}', '{"name":{"val-run":true}}'):
        status, answer = call(daemon, "GET", "/v1.47/containers/json?filters=" + quote(raw))
        assert status == 200 and [c["Names"] for c in answer] == [["/val-run"]], answer


@pytest.mark.parametrize("method,path", [(m, p) for p in (
    "/swarm", "/swarm/unlockkey", "/nodes", "/nodes/x", "/services", "/services/x", "/tasks", "/tasks/x",
    "/secrets", "/secrets/x", "/configs", "/configs/x") for m in ("GET",)] + [
    ("POST", "/swarm/leave"), ("POST", "/swarm/update"), ("POST", "/services/create"), ("DELETE", "/nodes/x"),
    ("POST", "/secrets/create"), ("POST", "/configs/create"),
])
def test_swarm_probes_answer_as_dockerd_without_swarm(daemon: Daemon, method: str, path: str) -> None:
    for prefix in ("", "/v1.47"):
        status, answer = call(daemon, method, prefix + path, {} if method == "POST" else None)
        assert (status, answer) == (503, {"message": "This node is not part of a swarm"})


def test_plugin_probes(daemon: Daemon) -> None:
    assert call(daemon, "GET", "/v1.47/plugins") == (200, [])
    assert call(daemon, "GET", "/plugins") == (200, [])
    status, answer = call(daemon, "GET", "/v1.47/plugins/vieux/sshfs/json")
    assert (status, answer["message"]) == (404, 'plugin "vieux/sshfs" not found')
