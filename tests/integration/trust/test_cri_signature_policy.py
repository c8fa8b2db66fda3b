"""``dockyard-cri --signature-policy``: the CRI's PullImage obeys the same containers-policy.json as
dockyardd. Against a registry that wants credentials (htpasswd Basic): a signed image pulls with the
request's AuthConfig, an unsigned one is a PERMISSION_DENIED naming the image and the requirement, a
pull without credentials is NOT_FOUND "pull access denied", and nothing refused is left in ListImages.
Through a mirror (``registry.k8s.io=http://...``) the policy judges the name asked for, reading its
signatures from the mirror, as containers/image does."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from dockyard.cri.api import api_pb2 as cri
from dockyard.cri.api import api_pb2_grpc as cri_grpc
from dockyard.registry.auth import hash_password
from tests.conftest import BIN, Daemon

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "registry"))
from dockyard_regkit import Server

pytestmark = pytest.mark.root
PASSWORD = "wonderland"
ALICE = cri.AuthConfig(username="alice", password=PASSWORD)


class Env:
    def __init__(self, d: Daemon, host: str, base: Path) -> None:
        self.d, self.host, self.base = d, host, base
        self.proc: subprocess.Popen[bytes] | None = None
        self.channel: grpc.Channel | None = None

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_CONFIG": str(self.base / "cfg"), "DOCKYARD_TRUST_PASSPHRASE": "alice's"}
        return subprocess.run([str(BIN / "dockyard"), "-H", self.d.host, *args], input=input, capture_output=True,
                              text=True, timeout=120, check=False, env=env)

    def start_cri(self, policy: Path) -> None:
        d, sock = self.d, self.base / "cri.sock"
        (self.base / "net.d").mkdir()
        args = [sys.executable, "-m", "dockyard.cri.main", "--listen", str(sock),
                "--containerd", str(d.exec_root / "containerd.sock"), "--containerd-root", str(d.data_root / "containerd"),
                "--root", str(self.base / "cri-root"), "--state", str(self.base / "cri-state"),
                "--cni-conf-dir", str(self.base / "net.d"), "--cgroup-parent", d.cgroup_parent,
                "--registry-mirror", f"registry.k8s.io=http://{self.host}", "--signature-policy", str(policy)]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=open(self.base / "cri.out", "ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert self.proc.poll() is None and time.monotonic() < deadline, (self.base / "cri.out").read_text()
            time.sleep(0.05)
        self.channel = grpc.insecure_channel(f"unix://{sock}")
        grpc.channel_ready_future(self.channel).result(timeout=20)

    def stop_cri(self) -> None:
        if self.channel is not None:
            self.channel.close()
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)

    @property
    def images(self) -> cri_grpc.ImageServiceStub:
        assert self.channel is not None
        return cri_grpc.ImageServiceStub(self.channel)

    def pull(self, image: str, auth: cri.AuthConfig | None = ALICE) -> cri.PullImageResponse:
        req = cri.PullImageRequest(image=cri.ImageSpec(image=image))
        if auth is not None:
            req.auth.CopyFrom(auth)
        return self.images.PullImage(req, timeout=120)

    def names(self) -> list[str]:
        return [t for img in self.images.ListImages(cri.ListImagesRequest(), timeout=30).images for t in img.repo_tags]


@pytest.fixture(scope="module")
def env(busybox_tar: Path) -> Iterator[Env]:
    base = Path(tempfile.mkdtemp(prefix="dy-crisig-", dir="/tmp"))
    users = base / "htpasswd"
    users.write_text(f"alice:{hash_password(PASSWORD, rounds=4)}\n")
    registry = Server(base / "registry", ["--htpasswd", str(users)]).start()
    host = registry.addr
    (base / "daemon").mkdir()
    d = Daemon(base / "daemon")
    e = Env(d, host, base)
    try:
        d.start()
        r = e.cli("trust", "key", "generate", "alice", "--dir", str(base))
        assert r.returncode == 0, r.stderr
        r = e.cli("login", "-u", "alice", "--password-stdin", host, input=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr
        names = [f"{host}/demo/{n}:v1" for n in ("signed", "unsigned", "mirrored")]
        assert e.cli("import", "-c", 'CMD ["sh"]', str(busybox_tar), names[0]).returncode == 0
        for name in names:
            assert e.cli("tag", names[0], name).returncode == 0
            r = e.cli("push", name)
            assert r.returncode == 0, r.stderr
        key = str(base / "alice.key")
        assert e.cli("trust", "sign", "--key", key, names[0]).returncode == 0
        r = e.cli("trust", "sign", "--key", key, "--sign-identity", "registry.k8s.io/demo/mirrored:v1", names[2])
        assert r.returncode == 0, r.stderr
        assert e.cli("rmi", *names).returncode == 0
        policy = base / "policy.json"
        signed_by_alice = [{"type": "sigstoreSigned", "keyPath": str(base / "alice.pub")}]
        policy.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": {
            f"{host}/demo": signed_by_alice, "registry.k8s.io/demo": signed_by_alice}}}))
        e.start_cri(policy)
        yield e
    finally:
        e.stop_cri()
        d.cleanup()
        registry.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_signed_image_pulls_with_the_requests_credentials(env: Env) -> None:
    ref = f"{env.host}/demo/signed:v1"
    got = env.pull(ref)
    assert got.image_ref.startswith("sha256:")
    assert ref in env.names()
    env.images.RemoveImage(cri.RemoveImageRequest(image=cri.ImageSpec(image=ref)), timeout=60)


def test_unsigned_image_is_permission_denied(env: Env) -> None:
    ref = f"{env.host}/demo/unsigned:v1"
    with pytest.raises(grpc.RpcError) as err:
        env.pull(ref)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert f"image {ref} is refused by the signature policy" in err.value.details()
    assert "no signatures" in err.value.details()
    assert not [n for n in env.names() if "/demo/" in n]


def test_pull_without_credentials_is_access_denied(env: Env) -> None:
    with pytest.raises(grpc.RpcError) as err:
        env.pull(f"{env.host}/demo/signed:v1", auth=None)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert f"pull access denied for {env.host}/demo/signed" in err.value.details()
    assert not [n for n in env.names() if "/demo/" in n]


def test_mirror_pull_judges_the_name_asked_for(env: Env) -> None:
    """The mirror's copy signed as ``registry.k8s.io/demo/mirrored:v1`` pulls under that name; the one
    signed as the mirror's own name does not satisfy ``registry.k8s.io/demo``; other names are rejected."""
    ref = "registry.k8s.io/demo/mirrored:v1"
    assert env.pull(ref).image_ref.startswith("sha256:")
    assert ref in env.names()
    env.images.RemoveImage(cri.RemoveImageRequest(image=cri.ImageSpec(image=ref)), timeout=60)
    with pytest.raises(grpc.RpcError) as err:
        env.pull("registry.k8s.io/demo/signed:v1")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert f"names {env.host}/demo/signed:v1, not registry.k8s.io/demo/signed:v1" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        env.pull("registry.k8s.io/other/x:v1")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED and "(default: reject)" in err.value.details()
    assert not [n for n in env.names() if "demo/signed" in n or "other/x" in n]
