"""The CRI through its gRPC API: images through a registry mirror, a pod of busybox containers
sharing the pod's namespaces, ExecSync, CRI-format logs, stats, idempotent stop/remove, the
gRPC codes of bad input, and pods that outlive a kill -9 of dockyard-cri."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import grpc
import pytest

from dockyard.cri.api import api_pb2 as cri
from dockyard.cri.metrics import BASE
from dockyard.cri.streaming import PORT_FORWARD
from tests.integration.cri.conftest import BUSYBOX, Cri, container_config, pod_config
from tests.integration.cri.spdy_client import remote_command

pytestmark = pytest.mark.root

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) (F|P) (.*)$")


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code()  # type: ignore[no-any-return]


def _run_pod(c: Cri, name: str, log_dir: Path | None = None, **kw: object) -> str:
    return str(c.runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=pod_config(name, log_dir, **kw)),
                                       timeout=120).pod_sandbox_id)


def _start(c: Cri, pod: str, name: str, cmd: list[str], log_path: str = "", log_dir: Path | None = None) -> str:
    config = container_config(name, cmd, log_path)
    cid = c.runtime.CreateContainer(cri.CreateContainerRequest(
        pod_sandbox_id=pod, config=config, sandbox_config=pod_config(name, log_dir)), timeout=60).container_id
    c.runtime.StartContainer(cri.StartContainerRequest(container_id=cid), timeout=60)
    return str(cid)


def _exec(c: Cri, cid: str, *cmd: str, timeout: int = 10) -> cri.ExecSyncResponse:
    return c.runtime.ExecSync(cri.ExecSyncRequest(container_id=cid, cmd=list(cmd), timeout=timeout), timeout=60)


def _remove_pod(c: Cri, pod: str) -> None:
    c.runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    c.runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)


def _wait_lines(path: Path, count: int, timeout: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_version_and_status(cri_env: Cri) -> None:
    v = cri_env.runtime.Version(cri.VersionRequest(), timeout=10)
    assert (v.runtime_name, v.runtime_api_version) == ("dockyard", "v1")
    conditions = {cond.type: cond.status for cond in cri_env.runtime.Status(cri.StatusRequest(), timeout=10)
                  .status.conditions}
    assert conditions == {"RuntimeReady": True, "NetworkReady": True}


def test_pull_through_a_registry_mirror(cri_env: Cri) -> None:
    images = cri_env.images
    # cri_env is the session's: an earlier test may have pulled it already
    images.RemoveImage(cri.RemoveImageRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=30)
    assert not images.ImageStatus(cri.ImageStatusRequest(image=cri.ImageSpec(image=BUSYBOX)),
                                  timeout=10).HasField("image")
    ref = images.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=120).image_ref
    status = images.ImageStatus(cri.ImageStatusRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=10).image
    assert status.id == ref and ref.startswith("sha256:")
    assert BUSYBOX in status.repo_tags
    assert status.size > 0
    listed = images.ListImages(cri.ListImagesRequest(), timeout=10).images
    assert ref in [i.id for i in listed]
    # the mirror is per host: an unmirrored registry is asked directly (nothing listens there)
    assert _code(lambda: images.PullImage(cri.PullImageRequest(
        image=cri.ImageSpec(image="127.0.0.1:1/nothing:here")), timeout=60)) != grpc.StatusCode.OK
    fs = images.ImageFsInfo(cri.ImageFsInfoRequest(), timeout=10).image_filesystems[0]
    assert fs.used_bytes.value > 0
    images.RemoveImage(cri.RemoveImageRequest(image=cri.ImageSpec(image="registry.k8s.io/never:pulled")),
                       timeout=10)  # idempotent


def test_pod_with_two_containers(cri_env: Cri, tmp_path: Path) -> None:
    c = cri_env
    c.images.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=120)
    pod = _run_pod(c, "web", tmp_path)
    try:
        status = c.runtime.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod), timeout=10).status
        assert status.state == cri.SANDBOX_READY
        assert ipaddress.ip_address(status.network.ip) in ipaddress.ip_network(c.subnet)
        one = _start(c, pod, "one", ["sh", "-c", "echo hello; echo oops >&2; exec httpd -f -p 8081 -h /etc"],
                     "one.log", tmp_path)
        two = _start(c, pod, "two", ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"])  # ignores TERM
        hi = _exec(c, one, "echo", "hi")
        assert (hi.stdout, hi.exit_code) == (b"hi\n", 0)
        assert _exec(c, one, "sh", "-c", "echo bad >&2; exit 3").exit_code == 3
        assert _exec(c, two, "cat", "/etc/hostname").stdout == b"web\n"
        for ns in ("net", "ipc", "uts", "pid"):  # the pod's namespaces, shared
            links = {_exec(c, cid, "readlink", f"/proc/1/ns/{ns}").stdout for cid in (one, two)}
            assert len(links) == 1, (ns, links)
        assert status.network.ip.encode() in _exec(c, two, "ip", "-4", "addr").stdout
        deadline = time.monotonic() + 10  # one's server, on the localhost two shares
        while _exec(c, two, "wget", "-qO-", "http://127.0.0.1:8081/hostname").stdout != b"web\n":
            assert time.monotonic() < deadline, "two does not reach one's server on localhost"
            time.sleep(0.2)

        lines = _wait_lines(tmp_path / "one.log", 2)
        parsed = sorted((m.group(1), m.group(2), m.group(3)) for m in map(LOG_LINE.match, lines) if m)
        assert parsed == [("stderr", "F", "oops"), ("stdout", "F", "hello")], lines

        listed = c.runtime.ListContainers(cri.ListContainersRequest(filter=cri.ContainerFilter(
            pod_sandbox_id=pod, state=cri.ContainerStateValue(state=cri.CONTAINER_RUNNING))), timeout=10)
        assert {x.id for x in listed.containers} == {one, two}
        user = c.runtime.ContainerStatus(cri.ContainerStatusRequest(container_id=one), timeout=10).status.user.linux
        assert (user.uid, user.gid, 0 in user.supplemental_groups) == (0, 0, True)
        stats = c.runtime.ContainerStats(cri.ContainerStatsRequest(container_id=one), timeout=10).stats
        assert stats.memory.working_set_bytes.value > 0 and stats.cpu.usage_core_nano_seconds.value > 0

        c.runtime.StopContainer(cri.StopContainerRequest(container_id=two, timeout=1), timeout=60)  # TERM, then KILL
        st = c.runtime.ContainerStatus(cri.ContainerStatusRequest(container_id=two), timeout=10).status
        assert st.state == cri.CONTAINER_EXITED and st.exit_code == 137 and st.finished_at >= st.started_at > 0
        c.runtime.StopContainer(cri.StopContainerRequest(container_id=two, timeout=1), timeout=60)  # again
        c.runtime.RemoveContainer(cri.RemoveContainerRequest(container_id=two), timeout=60)
        c.runtime.RemoveContainer(cri.RemoveContainerRequest(container_id=two), timeout=60)  # again
        assert _code(lambda: c.runtime.ContainerStatus(cri.ContainerStatusRequest(container_id=two),
                                                       timeout=10)) == grpc.StatusCode.NOT_FOUND
    finally:
        netns = c.base / "state" / "netns" / pod
        _remove_pod(c, pod)
    assert not netns.exists()
    _remove_pod(c, pod)  # idempotent
    assert c.runtime.ListPodSandbox(cri.ListPodSandboxRequest(filter=cri.PodSandboxFilter(id=pod)),
                                    timeout=10).items == []


def test_reopen_container_log(cri_env: Cri, tmp_path: Path) -> None:
    c = cri_env
    c.images.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=120)
    pod = _run_pod(c, "logs", tmp_path)
    try:
        cid = _start(c, pod, "ticker", ["sh", "-c", "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.1; done"],
                     "ticker.log", tmp_path)
        assert len(_wait_lines(tmp_path / "ticker.log", 2)) >= 2
        (tmp_path / "ticker.log").rename(tmp_path / "ticker.log.1")
        c.runtime.ReopenContainerLog(cri.ReopenContainerLogRequest(container_id=cid), timeout=10)
        fresh = _wait_lines(tmp_path / "ticker.log", 2)
        assert len(fresh) >= 2 and all(LOG_LINE.match(line) for line in fresh)
        old_last = (tmp_path / "ticker.log.1").read_text().splitlines()[-1].rsplit(" ", 1)[1]
        new_first = fresh[0].rsplit(" ", 1)[1]
        assert int(new_first.removeprefix("line")) > int(old_last.removeprefix("line"))
    finally:
        _remove_pod(c, pod)


def test_bad_input_gets_grpc_codes(cri_env: Cri, tmp_path: Path) -> None:
    c = cri_env
    rt = c.runtime
    assert _code(lambda: rt.RunPodSandbox(cri.RunPodSandboxRequest(config=cri.PodSandboxConfig()),
                                          timeout=30)) == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: rt.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id="f" * 64),
                                             timeout=10)) == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: rt.ExecSync(cri.ExecSyncRequest(container_id="f" * 64, cmd=["true"]),
                                     timeout=10)) == grpc.StatusCode.NOT_FOUND
    rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id="f" * 64), timeout=10)
    rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id="f" * 64), timeout=10)
    rt.StopContainer(cri.StopContainerRequest(container_id="f" * 64), timeout=10)
    pod = _run_pod(c, "bad", tmp_path)
    try:
        missing = container_config("x", ["true"], image="registry.k8s.io/not/here:1")
        assert _code(lambda: rt.CreateContainer(cri.CreateContainerRequest(
            pod_sandbox_id=pod, config=missing, sandbox_config=pod_config("bad")),
            timeout=30)) == grpc.StatusCode.NOT_FOUND
        rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        assert rt.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod),
                                   timeout=10).status.state == cri.SANDBOX_NOTREADY
        late = container_config("late", ["true"])
        assert _code(lambda: rt.CreateContainer(cri.CreateContainerRequest(
            pod_sandbox_id=pod, config=late, sandbox_config=pod_config("bad")),
            timeout=30)) == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        _remove_pod(c, pod)


def test_exec_sync_timeout(cri_env: Cri, tmp_path: Path) -> None:
    c = cri_env
    c.images.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=120)
    pod = _run_pod(c, "slow", tmp_path)
    try:
        cid = _start(c, pod, "s", ["sleep", "1000"])
        started = time.monotonic()
        assert _code(lambda: _exec(c, cid, "sleep", "30", timeout=1)) == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 10
        assert _exec(c, cid, "true").exit_code == 0  # the container is still fine
    finally:
        _remove_pod(c, pod)


def test_pods_survive_a_kill_of_the_cri(cri_env: Cri, tmp_path: Path) -> None:
    c = cri_env
    c.images.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=120)
    pod = _run_pod(c, "durable", tmp_path)
    try:
        cid = _start(c, pod, "d", ["sh", "-c", "echo before; sleep 2; echo after; exec sleep 1000"], "d.log",
                     tmp_path)
        assert _wait_lines(tmp_path / "d.log", 1)
        c.stop(signal.SIGKILL)
        c.start()
        assert c.runtime.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod),
                                          timeout=10).status.state == cri.SANDBOX_READY
        st = c.runtime.ContainerStatus(cri.ContainerStatusRequest(container_id=cid), timeout=10).status
        assert st.state == cri.CONTAINER_RUNNING
        assert _exec(c, cid, "echo", "still").stdout == b"still\n"
        lines = _wait_lines(tmp_path / "d.log", 2)
        assert [ln.rsplit(" ", 1)[1] for ln in lines] == ["before", "after"]  # output followed again
    finally:
        _remove_pod(c, pod)


def test_streaming_exec_and_port_forward(cri_env: Cri, tmp_path: Path) -> None:
    """Exec and PortForward URLs, followed as client-go does (SPDY/3.1), reach the pod."""
    c = cri_env
    c.images.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=120)
    pod = _run_pod(c, "stream", tmp_path)
    try:
        web = _start(c, pod, "web", ["sh", "-c", "echo page-of-the-pod > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"])
        url = c.runtime.Exec(cri.ExecRequest(container_id=web, cmd=["sh", "-c", "cat; echo err >&2; exit 7"],
                                             stdin=True, stdout=True, stderr=True), timeout=10).url
        out = asyncio.run(remote_command(url, ["error", "stdin", "stdout", "stderr"], stdin=b"from stdin\n"))
        assert out["stdout"] == b"from stdin\n" and out["stderr"] == b"err\n"
        assert json.loads(out["error"])["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]

        deadline = time.monotonic() + 10
        while b"page" not in _exec(c, web, "wget", "-q", "-O-", "http://127.0.0.1:8080/index.html").stdout:
            assert time.monotonic() < deadline, "httpd did not answer in the pod"
            time.sleep(0.2)
        url = c.runtime.PortForward(cri.PortForwardRequest(pod_sandbox_id=pod, port=[8080]), timeout=10).url
        got = asyncio.run(remote_command(url, ["error", "data"], stdin=b"GET /index.html HTTP/1.0\r\n\r\n",
                                         protocol=PORT_FORWARD, port="8080", requestID="0"))
        assert got["data"].startswith(b"HTTP/1.") and got["data"].endswith(b"page-of-the-pod\n"), got
        assert got["error"] == b""
    finally:
        _remove_pod(c, pod)


def test_engine_images_are_adopted_by_name(cri_env: Cri) -> None:
    """An image the engine has (namespace moby) is found by the CRI and copied into k8s.io;
    removing it through the CRI leaves the engine's image alone."""
    c = cri_env
    name = f"adopt-{uuid.uuid4().hex[:8]}:v1"
    assert c.daemon.cli("tag", "busybox:latest", name).returncode == 0
    full = f"docker.io/library/{name}"
    listed = c.images.ListImages(cri.ListImagesRequest(), timeout=10).images
    assert not any(full in i.repo_tags for i in listed)
    status = c.images.ImageStatus(cri.ImageStatusRequest(image=cri.ImageSpec(image=name)), timeout=60)
    assert full in status.image.repo_tags
    listed = c.images.ListImages(cri.ListImagesRequest(), timeout=10).images
    assert any(full in i.repo_tags for i in listed)
    c.images.RemoveImage(cri.RemoveImageRequest(image=cri.ImageSpec(image=name)), timeout=60)
    engine_id = c.daemon.cli("images", "-q", name).stdout.strip()
    assert engine_id, "the engine's image went with the CRI's"
    assert c.daemon.cli("rmi", name).returncode == 0
    status = c.images.ImageStatus(cri.ImageStatusRequest(image=cri.ImageSpec(image=name)), timeout=60)
    assert not status.image.id


def test_pod_sandbox_metrics(cri_env: Cri, tmp_path: Path) -> None:
    """ListMetricDescriptors / ListPodSandboxMetrics: cAdvisor's names, label values matching the
    descriptors' keys, values measured from the container (its memory limit, its processes, the pod's eth0)."""
    c = cri_env
    c.images.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=120)
    descs = {d.name: d for d in c.runtime.ListMetricDescriptors(cri.ListMetricDescriptorsRequest(),
                                                                timeout=10).descriptors}
    assert {"container_memory_working_set_bytes", "container_network_receive_bytes_total",
            "container_fs_inodes_free", "container_threads"} <= set(descs)
    assert all(d.help and d.label_keys for d in descs.values())
    pod = _run_pod(c, "metered", tmp_path)
    try:
        config = container_config("m", ["sh", "-c", "sleep 1000 & exec sleep 1000"])
        config.linux.resources.memory_limit_in_bytes = 64 << 20
        cid = c.runtime.CreateContainer(cri.CreateContainerRequest(
            pod_sandbox_id=pod, config=config, sandbox_config=pod_config("metered", tmp_path)),
            timeout=60).container_id
        c.runtime.StartContainer(cri.StartContainerRequest(container_id=cid), timeout=60)
        listed = c.runtime.ListPodSandboxMetrics(cri.ListPodSandboxMetricsRequest(), timeout=30).pod_metrics
        [mine] = [m for m in listed if m.pod_sandbox_id == pod]
        [cm] = mine.container_metrics
        assert cm.container_id == cid
        values: dict[tuple[str, ...], int] = {}
        for m in [*mine.metrics, *cm.metrics]:
            assert len(m.label_values) == len(descs[m.name].label_keys), m.name
            values[(m.name, *m.label_values[len(BASE):])] = m.value.value
        assert values[("container_spec_memory_limit_bytes",)] == 64 << 20
        assert values[("container_processes",)] == 2 and values[("container_threads",)] == 2
        assert 0 < values[("container_memory_usage_bytes",)] <= 64 << 20
        assert [v for k, v in values.items() if k[0] == "container_fs_inodes_total"][0] > 0
        assert ("container_network_receive_packets_total", "eth0") in values
    finally:
        _remove_pod(c, pod)


def test_image_volume(cri_env: Cri, tmp_path: Path) -> None:
    """An image mounted read-only at a path of a container (whole, or a sub path of it), its
    image ID in the container's status; read-write is refused; removal unmounts it."""
    c = cri_env
    image_id = c.images.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=120).image_ref
    pod = _run_pod(c, "imgvol", tmp_path)
    try:
        config = container_config("v", ["sleep", "1000"])
        config.mounts.add(container_path="/mnt/img", readonly=True, image=cri.ImageSpec(image=BUSYBOX))
        config.mounts.add(container_path="/mnt/bin", readonly=True, image=cri.ImageSpec(image=BUSYBOX),
                          image_sub_path="bin")
        cid = c.runtime.CreateContainer(cri.CreateContainerRequest(
            pod_sandbox_id=pod, config=config, sandbox_config=pod_config("imgvol", tmp_path)), timeout=60).container_id
        c.runtime.StartContainer(cri.StartContainerRequest(container_id=cid), timeout=60)
        assert _exec(c, cid, "/mnt/img/bin/echo", "from the volume").stdout == b"from the volume\n"
        assert _exec(c, cid, "ls", "/mnt/bin/sh").exit_code == 0
        assert _exec(c, cid, "touch", "/mnt/img/x").exit_code != 0  # read-only
        mounts = c.runtime.ContainerStatus(cri.ContainerStatusRequest(container_id=cid), timeout=10).status.mounts
        assert {m.container_path: m.image.image_ref for m in mounts} == {"/mnt/img": image_id, "/mnt/bin": image_id}
        host = [m.host_path for m in mounts if m.container_path == "/mnt/img"][0]
        assert host in Path("/proc/self/mountinfo").read_text()

        bad = container_config("rw", ["sleep", "1000"])
        bad.mounts.add(container_path="/mnt/img", readonly=False, image=cri.ImageSpec(image=BUSYBOX))
        assert _code(lambda: c.runtime.CreateContainer(cri.CreateContainerRequest(
            pod_sandbox_id=pod, config=bad, sandbox_config=pod_config("imgvol", tmp_path)), timeout=60)
        ) == grpc.StatusCode.INVALID_ARGUMENT
        c.runtime.RemoveContainer(cri.RemoveContainerRequest(container_id=cid), timeout=60)
        assert host not in Path("/proc/self/mountinfo").read_text()
    finally:
        _remove_pod(c, pod)


def test_streaming_exec_over_websocket(cri_env: Cri, tmp_path: Path) -> None:
    """Exec through the streaming server over WebSocket (v5.channel.k8s.io, as client-go's
    WebSocket executor): stdin with its v5 close, stdout and stderr by channel, the exit code
    as the error channel's Status."""
    import websocket  # websocket-client

    c = cri_env
    c.images.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=120)
    pod = _run_pod(c, "wsexec", tmp_path)
    try:
        cid = _start(c, pod, "w", ["sleep", "1000"])
        url = c.runtime.Exec(cri.ExecRequest(container_id=cid, cmd=["sh", "-c", "cat; echo err >&2; exit 5"],
                                             stdin=True, stdout=True, stderr=True), timeout=10).url
        ws = websocket.create_connection(url.replace("http://", "ws://"), subprotocols=["v5.channel.k8s.io"],
                                         timeout=20)
        try:
            assert ws.subprotocol == "v5.channel.k8s.io"
            ws.send_binary(b"\x00from stdin\n")
            ws.send_binary(b"\xff\x00")  # v5: the client closes its stdin
            got: dict[int, bytes] = {}
            while True:
                opcode, data = ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
                if data:
                    got[data[0]] = got.get(data[0], b"") + data[1:]
        finally:
            ws.close()
        assert got[1] == b"from stdin\n" and got[2] == b"err\n"
        assert json.loads(got[3])["details"]["causes"] == [{"reason": "ExitCode", "message": "5"}]
    finally:
        _remove_pod(c, pod)


def test_bidirectional_mount_propagation(cri_env: Cri, tmp_path: Path) -> None:
    """A Bidirectional mount (rshared): what the container mounts under it appears on the host
    (the runtime's pivot once made every container mount a slave)."""
    c = cri_env
    c.images.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=120)
    src = tmp_path / "shared"
    src.mkdir()
    subprocess.run(["mount", "--bind", str(src), str(src)], check=True)
    subprocess.run(["mount", "--make-rshared", str(src)], check=True)
    privileged = cri.LinuxPodSandboxConfig(security_context=cri.LinuxSandboxSecurityContext(privileged=True))
    pod = _run_pod(c, "prop", tmp_path, linux=privileged)
    try:
        config = container_config("p", ["sleep", "1000"])
        config.linux.security_context.privileged = True
        config.mounts.add(container_path=str(src), host_path=str(src), propagation=cri.PROPAGATION_BIDIRECTIONAL)
        cid = c.runtime.CreateContainer(cri.CreateContainerRequest(
            pod_sandbox_id=pod, config=config, sandbox_config=pod_config("prop", tmp_path, linux=privileged)),
            timeout=60).container_id
        c.runtime.StartContainer(cri.StartContainerRequest(container_id=cid), timeout=60)
        r = _exec(c, cid, "sh", "-c", f"mkdir {src}/etc && mount --bind /etc {src}/etc")
        assert r.exit_code == 0, r.stderr
        assert "passwd" in os.listdir(src / "etc")
    finally:
        _remove_pod(c, pod)
        subprocess.run(["umount", "-R", str(src)], check=False)
