"""A private dockyard-cri on a private dockyardd's containerd, a local registry it mirrors
registry.k8s.io to, and a CNI bridge of its own (name and subnet unused on this host).

The test images are busybox (tests/conftest.py) pushed to `dockyard registry serve` as
``e2e-test-images/busybox:1.29-2`` and, with ``sleep`` as its command, as the pause image
``pause:dockyard-test``; the CRI pulls both as ``registry.k8s.io/...`` through the mirror.
Teardown removes every pod through the CRI, stops the CRI and the registry, deletes the
bridge and the IPAM state; the daemon's cleanup kills what is left by PID.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from dockyard.cri.api import api_pb2 as cri
from dockyard.cri.api import api_pb2_grpc as cri_grpc
from tests.conftest import Daemon, free_subnet, started_daemon

BIN = Path(sys.executable).parent
SANDBOX_IMAGE = "registry.k8s.io/pause:dockyard-test"
BUSYBOX = "registry.k8s.io/e2e-test-images/busybox:1.29-2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, f"{what} did not start"
            time.sleep(0.05)


@dataclass
class Cri:
    daemon: Daemon
    base: Path
    socket: Path
    subnet: str
    bridge: str
    registry: str
    proc: subprocess.Popen[bytes] | None = None
    channel: grpc.Channel | None = None
    sandbox_image: str = SANDBOX_IMAGE

    @property
    def args(self) -> list[str]:
        """The command line; no ``--registry-mirror`` without a ``registry`` (bench/cri_memory.py)."""
        d = self.daemon
        mirror = ["--registry-mirror", f"registry.k8s.io=http://{self.registry}"] if self.registry else []
        return [sys.executable, "-m", "dockyard.cri.main", "--listen", str(self.socket),
                "--containerd", str(d.exec_root / "containerd.sock"),
                "--containerd-root", str(d.data_root / "containerd"),
                "--root", str(self.base / "root"), "--state", str(self.base / "state"),
                "--sandbox-image", self.sandbox_image, "--cni-conf-dir", str(self.base / "net.d"),
                "--cgroup-parent", d.cgroup_parent, *mirror]

    def start(self) -> None:
        log = open(self.base / "cri.out", "ab")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            assert self.proc.poll() is None and time.monotonic() < deadline, \
                f"dockyard-cri did not start:\n{self.log_tail()}"
            time.sleep(0.05)
        self.channel = grpc.insecure_channel(f"unix://{self.socket}")
        grpc.channel_ready_future(self.channel).result(timeout=20)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def log_tail(self) -> str:
        try:
            return (self.base / "cri.out").read_text()[-4000:]
        except OSError:
            return ""

    @property
    def runtime(self) -> cri_grpc.RuntimeServiceStub:
        assert self.channel is not None
        return cri_grpc.RuntimeServiceStub(self.channel)

    @property
    def images(self) -> cri_grpc.ImageServiceStub:
        assert self.channel is not None
        return cri_grpc.ImageServiceStub(self.channel)

    def remove_all_pods(self) -> None:
        for pod in self.runtime.ListPodSandbox(cri.ListPodSandboxRequest(), timeout=30).items:
            self.runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod.id), timeout=60)
            self.runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod.id), timeout=60)


def _write_conflist(conf_dir: Path, bridge: str, subnet: str, ipam_dir: Path) -> None:
    conf_dir.mkdir(parents=True)
    conf = {"cniVersion": "0.4.0", "name": f"dockyard-test-{bridge}", "plugins": [{
        "type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": str(ipam_dir)}}]}
    (conf_dir / "10-test.conflist").write_text(json.dumps(conf))


def _push_test_images(d: Daemon, registry: str) -> None:
    r = d.cli("tag", "busybox:latest", f"{registry}/e2e-test-images/busybox:1.29-2")
    assert r.returncode == 0, r.stderr.decode()
    assert d.cli("push", f"{registry}/e2e-test-images/busybox:1.29-2", timeout=120).returncode == 0


@pytest.fixture(scope="session")
def cri_env(busybox_tar: Path) -> Iterator[Cri]:
    with started_daemon(busybox_tar) as d:
        base = d.base / "cri"
        base.mkdir()
        port = _free_port()
        registry = f"127.0.0.1:{port}"
        reg = subprocess.Popen([str(BIN / "dockyard"), "registry", "serve", "--addr", registry, "--root",
                                str(base / "registry")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        bridge = f"dycri{uuid.uuid4().hex[:8]}"
        c = Cri(d, base, base / "cri.sock", free_subnet("10.219"), bridge, registry)
        try:
            _wait_port(port, reg, "registry")
            _push_test_images(d, registry)
            pause = d.cli("import", "-c", 'CMD ["sleep", "2147483647"]', str(busybox_tar),
                          f"{registry}/pause:dockyard-test")
            assert pause.returncode == 0, pause.stderr.decode()
            assert d.cli("push", f"{registry}/pause:dockyard-test", timeout=120).returncode == 0
            _write_conflist(base / "net.d", bridge, c.subnet, base / "ipam")
            c.start()
            yield c
        finally:
            try:
                if c.channel is not None:
                    c.remove_all_pods()
            finally:
                c.stop()
                os.kill(reg.pid, signal.SIGTERM)
                reg.wait(timeout=20)
                subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
    assert bridge not in links, f"bridge {bridge} left behind"


def pod_config(name: str, log_dir: Path | None = None, **kw: object) -> cri.PodSandboxConfig:
    return cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name=name, namespace="default", uid=uuid.uuid4().hex, attempt=0),
        hostname=name, log_directory=str(log_dir or ""), labels={"app": name}, **kw)  # type: ignore[arg-type]


def container_config(name: str, cmd: list[str], log_path: str = "", image: str = BUSYBOX) -> cri.ContainerConfig:
    return cri.ContainerConfig(metadata=cri.ContainerMetadata(name=name), image=cri.ImageSpec(image=image),
                               command=cmd, log_path=log_path, labels={"name": name})
