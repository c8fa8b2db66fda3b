"""One shim per pod: the pause and every container of a pod are tasks of one dockyard-shim process
(grouped by the ``io.kubernetes.cri.sandbox-id`` annotation, as containerd's runc v2 shim), each
with its own exit, exec and stats; the shim outlives a kill -9 of dockyard-containerd and leaves
with the pod."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from dockyard.cri.api import api_pb2 as cri
from tests.integration.cri.conftest import BUSYBOX, Cri, container_config, pod_config

pytestmark = pytest.mark.root


def _bundles(c: Cri, ids: list[str]) -> list[Path]:
    return [c.daemon.exec_root / "containerd" / "tasks" / "k8s.io" / id for id in ids]


def _shim_pids(c: Cri, ids: list[str]) -> set[int]:
    return {int((b / "shim.pid").read_text()) for b in _bundles(c, ids)}


def _start(c: Cri, pod: str, name: str, cmd: list[str]) -> str:
    cid = c.runtime.CreateContainer(cri.CreateContainerRequest(
        pod_sandbox_id=pod, config=container_config(name, cmd), sandbox_config=pod_config(name)),
        timeout=60).container_id
    c.runtime.StartContainer(cri.StartContainerRequest(container_id=cid), timeout=60)
    return str(cid)


def _exec(c: Cri, cid: str, *cmd: str) -> cri.ExecSyncResponse:
    return c.runtime.ExecSync(cri.ExecSyncRequest(container_id=cid, cmd=list(cmd), timeout=10), timeout=60)


def _status(c: Cri, cid: str) -> cri.ContainerStatus:
    return c.runtime.ContainerStatus(cri.ContainerStatusRequest(container_id=cid), timeout=10).status


def _kill9_containerd(c: Cri) -> None:
    """SIGKILL the daemon's containerd and wait for its supervisor's new one to serve the CRI."""
    pid_file = c.daemon.exec_root / "containerd" / "dockyard-containerd.pid"
    old = int(pid_file.read_text())
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if int(pid_file.read_text()) != old:
                c.runtime.ListContainers(cri.ListContainersRequest(), timeout=10)
                return
        except (OSError, ValueError):
            pass
        assert time.monotonic() < deadline, "no new containerd"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_pod_has_one_shim_for_all_its_containers(cri_env: Cri) -> None:
    c = cri_env
    c.images.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=120)
    pod = str(c.runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=pod_config("oneshim")),
                                      timeout=120).pod_sandbox_id)
    shim = 0
    try:
        cids = [_start(c, pod, f"c{i}", ["sh", "-c", f"trap 'exit {10 + i}' TERM; sleep 1000 & wait"])
                for i in range(3)]
        pids = _shim_pids(c, [pod, *cids])
        assert len(pids) == 1, pids
        shim = pids.pop()
        assert len({(b / "address").read_text() for b in _bundles(c, [pod, *cids])}) == 1
        for i, cid in enumerate(cids):  # each task answers for itself
            assert _exec(c, cid, "sh", "-c", f"echo {i}").stdout == f"{i}\n".encode()
            stats = c.runtime.ContainerStats(cri.ContainerStatsRequest(container_id=cid), timeout=10).stats
            assert stats.memory.working_set_bytes.value > 0
        c.runtime.StopContainer(cri.StopContainerRequest(container_id=cids[0], timeout=10), timeout=60)
        st = _status(c, cids[0])
        assert (st.state, st.exit_code) == (cri.CONTAINER_EXITED, 10)  # its own exit, not a neighbour's
        assert [_status(c, cid).state for cid in cids[1:]] == [cri.CONTAINER_RUNNING] * 2
        c.runtime.RemoveContainer(cri.RemoveContainerRequest(container_id=cids[0]), timeout=60)
        assert _alive(shim)  # the pod's other tasks keep it

        _kill9_containerd(c)
        assert _alive(shim)
        assert [_status(c, cid).state for cid in cids[1:]] == [cri.CONTAINER_RUNNING] * 2
        assert _exec(c, cids[1], "echo", "still").stdout == b"still\n"  # re-adopted through the new containerd
        late = _start(c, pod, "late", ["sleep", "1000"])  # joins the same shim after the restart
        assert _shim_pids(c, [late]) == {shim}
        c.runtime.StopContainer(cri.StopContainerRequest(container_id=cids[2], timeout=10), timeout=60)
        st = _status(c, cids[2])
        assert (st.state, st.exit_code) == (cri.CONTAINER_EXITED, 12)  # the exit followed again
    finally:
        c.runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        c.runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    deadline = time.monotonic() + 10
    while shim and _alive(shim):  # the last task gone, the shim leaves
        assert time.monotonic() < deadline, f"the pod's shim {shim} outlived the pod"
        time.sleep(0.05)
    assert not _bundles(c, [pod])[0].exists()
