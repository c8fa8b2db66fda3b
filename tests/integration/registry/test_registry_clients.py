"""Real clients against ``dockyard registry``: skopeo both ways, and Debian's dockerd push/pull with token auth."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "unit" / "registry"))
sys.path.insert(0, str(REPO / "bench"))
from dockyard_regkit import Server

from dockyard.registry.auth import hash_password


def _run(*cmd: str, env: dict[str, str] | None = None, input: str | None = None) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, input=input, check=False)
    assert r.returncode == 0, f"{cmd}: {r.stderr}"
    return r.stdout


def _rootfs_tar(path: Path, size: int) -> None:
    with tarfile.open(path, "w") as t:
        data = os.urandom(size)
        info = tarfile.TarInfo("data/blob.bin")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("etc/hello")
        info.size = 3
        t.addfile(info, io.BytesIO(b"hi\n"))


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed (apt-get install -y skopeo)")
def test_skopeo_copy_both_directions(tmp_path: Path) -> None:
    s = Server(tmp_path / "root").start()
    try:
        layer = tmp_path / "layer.tar"
        _rootfs_tar(layer, 200_000)
        # an OCI layout made by hand: skopeo pushes it, pulls it back, pushes it again
        lay = tmp_path / "src"
        (lay / "blobs" / "sha256").mkdir(parents=True)
        def put(b: bytes) -> str:
            import hashlib
            h = hashlib.sha256(b).hexdigest()
            (lay / "blobs" / "sha256" / h).write_bytes(b)
            return "sha256:" + h
        lb = layer.read_bytes()
        cfg = json.dumps({"architecture": "amd64", "os": "linux",
                          "rootfs": {"type": "layers", "diff_ids": [put(lb)]}}).encode()
        man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cfg), "size": len(cfg)},
                          "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": put(lb), "size": len(lb)}]}).encode()
        md = put(man)
        (lay / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        (lay / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(man),
             "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
        _run("skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{lay}:v1", f"docker://{s.addr}/sk/img:v1")
        r = s.req("GET", "/v2/sk/img/manifests/v1")
        assert r.status == 200 and r.headers["Docker-Content-Digest"] == md
        _run("skopeo", "copy", "--preserve-digests", "--src-tls-verify=false", f"docker://{s.addr}/sk/img:v1", f"oci:{tmp_path / 'back'}:v1")
        back_index = json.loads((tmp_path / "back" / "index.json").read_text())
        assert back_index["manifests"][0]["digest"] == md
        assert (tmp_path / "back" / "blobs" / "sha256" / md.split(":")[1]).read_bytes() == man
        _run("skopeo", "copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false",
             f"docker://{s.addr}/sk/img:v1", f"docker://{s.addr}/sk/copy:v2")
        assert s.req("GET", "/v2/sk/copy/manifests/v2").headers["Docker-Content-Digest"] == md
    finally:
        s.stop()


@pytest.mark.root
@pytest.mark.skipif(shutil.which("dockerd") is None, reason="Debian's docker.io not installed")
def test_real_dockerd_push_pull_with_token_auth(tmp_path: Path) -> None:
    from run_latency import PrivateDockerd, client_env

    users = tmp_path / "htpasswd"
    users.write_text(f"alice:{hash_password('wonderland', rounds=4)}\n")
    s = Server(tmp_path / "root", ["--htpasswd", str(users), "--token-realm", "builtin"]).start()
    d = PrivateDockerd(shutil.which("dockerd") or "/usr/sbin/dockerd", shutil.which("docker") or "docker")
    env = dict(client_env(), DOCKER_CONFIG=str(tmp_path / "docker-config"))
    try:
        d.start()
        tar = tmp_path / "rootfs.tar"
        _rootfs_tar(tar, 2_000_000)
        ref = f"{s.addr}/dock/img:v1"
        docker = ["docker", "-H", d.host]
        _run(*docker, "import", str(tar), ref, env=env)
        r = subprocess.run([*docker, "push", ref], capture_output=True, text=True, env=env, timeout=120, check=False)
        assert r.returncode != 0  # not logged in: the registry refuses
        assert s.req("GET", "/v2/_catalog").status == 401
        _run(*docker, "login", s.addr, "-u", "alice", "--password-stdin", env=env, input="wonderland\n")
        out = _run(*docker, "push", ref, env=env)
        pushed = [w for w in out.split() if w.startswith("sha256:")][-1]
        _run(*docker, "rmi", ref, env=env)
        _run(*docker, "pull", ref, env=env)
        repo_digests = json.loads(_run(*docker, "image", "inspect", ref, env=env))[0]["RepoDigests"]
        assert f"{s.addr}/dock/img@{pushed}" in repo_digests
    finally:
        d.stop()
        s.stop()
