"""A pod in its own user namespace (NamespaceOption.userns_options, mode POD): the pause and the
pod's containers share one user namespace with the pod's mappings, and a network namespace it
owns; the rootfs is the image's layers idmapped to that namespace (no copy), so root inside owns it."""

from __future__ import annotations

import os
import time

import grpc
import pytest

from dockyard.cri.api import api_pb2 as cri
from tests.integration.cri.conftest import BUSYBOX, Cri, container_config, pod_config

pytestmark = pytest.mark.root

HOST_ID = 231072  # an unused range on a test host: only a mapping, no account needed


def _userns_pod_config(name: str) -> cri.PodSandboxConfig:
    mapping = [cri.IDMapping(container_id=0, host_id=HOST_ID, length=65536)]
    config = pod_config(name)
    config.linux.security_context.namespace_options.userns_options.CopyFrom(
        cri.UserNamespace(mode=cri.POD, uids=mapping, gids=mapping))
    return config


def _exec(c: Cri, cid: str, *cmd: str) -> cri.ExecSyncResponse:
    return c.runtime.ExecSync(cri.ExecSyncRequest(container_id=cid, cmd=list(cmd), timeout=10), timeout=60)


def test_a_pod_in_its_own_user_namespace(cri_env: Cri) -> None:
    c = cri_env
    handlers = c.runtime.Status(cri.StatusRequest(), timeout=10).runtime_handlers
    assert handlers[0].features.user_namespaces
    c.images.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=120)
    config = _userns_pod_config("userns")
    pod = c.runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config), timeout=120).pod_sandbox_id
    userns_file = c.base / "state" / "userns" / pod
    try:
        assert userns_file.exists()
        cc = container_config("u", ["sleep", "1000"])
        cc.linux.security_context.namespace_options.CopyFrom(config.linux.security_context.namespace_options)
        cid = c.runtime.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=pod, config=cc,
                                                                   sandbox_config=config), timeout=60).container_id
        c.runtime.StartContainer(cri.StartContainerRequest(container_id=cid), timeout=60)
        assert _exec(c, cid, "cat", "/proc/self/uid_map").stdout.split() == [b"0", str(HOST_ID).encode(), b"65536"]
        assert _exec(c, cid, "cat", "/proc/self/gid_map").stdout.split() == [b"0", str(HOST_ID).encode(), b"65536"]
        assert _exec(c, cid, "id", "-u").stdout == b"0\n"
        assert _exec(c, cid, "stat", "-c", "%u", "/bin").stdout == b"0\n"  # the image's root is the pod's
        assert _exec(c, cid, "touch", "/written").exit_code == 0  # root inside owns the rootfs
        rootfs = str(c.daemon.exec_root / "containerd" / "tasks" / "k8s.io" / cid / "rootfs")
        with open("/proc/self/mountinfo") as f:
            [line] = [ln for ln in f if ln.split()[4] == rootfs]
        assert "lowerdir+" in line  # idmapped layers handed over by fd, not a remapped copy of the image
        ns_inside = _exec(c, cid, "readlink", "/proc/self/ns/user").stdout.strip().decode()
        assert ns_inside != os.readlink("/proc/self/ns/user")
        assert ns_inside == f"user:[{os.stat(userns_file).st_ino}]"  # the pod's, shared with the pause
        status = c.runtime.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod), timeout=10).status
        assert status.network.ip  # CNI set up the network namespace the user namespace owns
        assert f"inet {status.network.ip}/".encode() in _exec(c, cid, "ip", "-4", "addr").stdout
    finally:
        c.runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        c.runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    deadline = time.monotonic() + 5
    while userns_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not userns_file.exists()


def test_user_namespace_pod_with_a_host_namespace_is_refused(cri_env: Cri) -> None:
    config = _userns_pod_config("userns-host")
    config.linux.security_context.namespace_options.network = cri.NODE
    with pytest.raises(grpc.RpcError) as info:
        cri_env.runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    userns_dir = cri_env.base / "state" / "userns"
    assert not userns_dir.exists() or not any(userns_dir.iterdir())  # refused before anything was made
