"""The real docker CLI (and skopeo) against dockyardd for pull, push, tag, history, save, load, login, prune."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
DOCKER = "/usr/local/bin/docker"


def docker(d, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run([DOCKER, "-H", d.host, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stderr + r.stdout
    return r.stdout


def test_images_docker_cli_push_pull_save_load(daemon, registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ref = f"{registry.host}/cli/busybox:1"
    ok(docker(daemon, "tag", "busybox", ref))
    out = ok(docker(daemon, "push", ref))
    assert "digest: sha256:" in out
    ok(docker(daemon, "rmi", ref))
    out = ok(docker(daemon, "pull", ref))
    assert "Status: Downloaded newer image" in out
    assert "Imported from" in ok(docker(daemon, "history", ref))
    archive = tmp_path / "img.tar"
    ok(docker(daemon, "save", "-o", str(archive), ref))
    ok(docker(daemon, "rmi", ref))
    assert f"Loaded image: {ref}" in ok(docker(daemon, "load", "-i", str(archive)))
    # skopeo reads the same tar as a docker-archive and as an OCI layout, and copies both ways.
    if not shutil.which("skopeo"):
        pytest.fail("skopeo is not installed: apt-get install -y skopeo")
    sk = ["skopeo", "--insecure-policy"]
    subprocess.run([*sk, "copy", "--dest-tls-verify=false", f"oci-archive:{archive}",
                    f"docker://{registry.host}/cli/from-oci:1"], check=True, capture_output=True)
    subprocess.run([*sk, "copy", f"docker-archive:{archive}", f"oci-archive:{tmp_path / 'oci.tar'}:{registry.host}/cli/from-sk:1"],
                   check=True, capture_output=True)
    subprocess.run([*sk, "copy", "--src-tls-verify=false", f"docker://{registry.host}/cli/from-oci:1",
                    f"docker-archive:{tmp_path / 'da.tar'}:{registry.host}/cli/from-da:1"],
                   check=True, capture_output=True)
    for f in ("oci.tar", "da.tar"):
        out = ok(docker(daemon, "load", "-i", str(tmp_path / f)))
        assert "Loaded image" in out
    ok(docker(daemon, "pull", f"{registry.host}/cli/from-oci:1"))
    info = {r: json.loads(ok(docker(daemon, "image", "inspect", r)))[0]
            for r in (ref, f"{registry.host}/cli/from-da:1", f"{registry.host}/cli/from-oci:1",
                      f"{registry.host}/cli/from-sk:1")}
    assert info[ref]["Id"] == info[f"{registry.host}/cli/from-oci:1"]["Id"]  # OCI layout -> registry: same image
    # docker-archive may re-encode the config; the layers (diff_ids) must survive every hop.
    assert {json.dumps(i["RootFS"]["Layers"]) for i in info.values()} == {json.dumps(info[ref]["RootFS"]["Layers"])}
    for r in info:
        docker(daemon, "rmi", r)


def test_images_docker_cli_login(daemon, auth_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = {"DOCKER_CONFIG": str(tmp_path / "cfg")}
    ref = f"{auth_registry.host}/cli/busybox:1"
    ok(docker(daemon, "tag", "busybox", ref))
    r = docker(daemon, "push", ref, env=env)
    assert r.returncode != 0 and "UNAUTHORIZED" in r.stderr + r.stdout
    r = docker(daemon, "login", "-u", "dy", "-p", "wrong", auth_registry.host, env=env)
    assert r.returncode != 0
    ok(docker(daemon, "login", "-u", "dy", "-p", "s3cret", auth_registry.host, env=env))
    ok(docker(daemon, "push", ref, env=env))
    ok(docker(daemon, "rmi", ref))
    ok(docker(daemon, "pull", ref, env=env))
    ok(docker(daemon, "rmi", ref))
    ok(docker(daemon, "logout", auth_registry.host, env=env))


def test_images_prune_all_frees_data_root(fresh_daemon, registry) -> None:  # type: ignore[no-untyped-def]
    d = fresh_daemon
    ref = f"{registry.host}/prune/busybox:1"
    ok(docker(d, "tag", "busybox", ref))
    ok(docker(d, "push", ref))
    ok(docker(d, "rmi", "busybox", ref))
    ok(docker(d, "pull", ref))
    ok(docker(d, "tag", ref, "other:1"))
    ok(docker(d, "image", "prune", "-a", "-f"))
    assert ok(docker(d, "images", "-q")).strip() == ""
    root = d.data_root / "containerd"
    assert not list((root / "content" / "blobs" / "sha256").iterdir())
    assert not list((root / "snapshots" / "overlayfs" / "snapshots").iterdir())


def test_images_commit_docker_and_dockyard_cli(daemon) -> None:  # type: ignore[no-untyped-def]
    """``docker commit`` (real CLI) and ``dockyard commit``: the container's file and the new CMD are in the image."""
    names = ["dy-commit-src", "dy-commit-src2"]
    images = ["dy-commit/img:docker", "dy-commit/img:dockyard"]
    try:
        ok(docker(daemon, "run", "--name", names[0], "busybox", "sh", "-c", "echo from-docker > /f"))
        ok(docker(daemon, "commit", "--change", 'CMD ["cat","/f"]', "-m", "docker commit", names[0], images[0]))
        assert ok(docker(daemon, "run", "--rm", images[0])) == "from-docker\n"
        hist = ok(docker(daemon, "history", "--format", "{{.Comment}}", images[0]))
        assert "docker commit" in hist

        r = daemon.cli("run", "--name", names[1], "busybox", "sh", "-c", "echo from-dockyard > /f")
        assert r.returncode == 0, r.stderr
        r = daemon.cli("commit", "--change", 'CMD ["cat","/f"]', names[1], images[1])
        assert r.returncode == 0, r.stderr
        r = daemon.cli("run", "--rm", images[1])
        assert r.returncode == 0 and r.stdout == b"from-dockyard\n", r.stderr
        cfg = json.loads(ok(docker(daemon, "image", "inspect", images[1])))[0]
        assert cfg["Config"]["Cmd"] == ["cat", "/f"]
        base = json.loads(ok(docker(daemon, "image", "inspect", "busybox")))[0]
        assert cfg["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]  # one new layer on top of the base
    finally:
        docker(daemon, "rm", "-f", *names)
        docker(daemon, "rmi", *images)


def test_a_built_image_is_pushed_with_gzip_layers_and_comes_back_the_same(daemon, registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Build layers are stored plain; a push sends them gzipped (as Docker does), once: the same
    image pushed twice gives the same manifest, and pulled back it is the same image."""
    import urllib.request

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY text.txt /text.txt\nRUN wc -c /text.txt > /size\n")
    (ctx / "text.txt").write_text("compressible text\n" * 20000)
    ref = f"{registry.host}/built/gz:1"
    image_id = ok(docker(daemon, "build", "-q", "-t", ref, str(ctx))).strip()
    local = json.loads(ok(docker(daemon, "image", "inspect", ref)))[0]
    out = ok(docker(daemon, "push", ref))
    digest = out.split("digest: ")[1].split()[0]
    assert digest in ok(docker(daemon, "push", ref))  # again: the same gzip copies, the same manifest
    req = urllib.request.Request(f"http://{registry.host}/v2/built/gz/manifests/1",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    manifest = json.loads(urllib.request.urlopen(req, timeout=10).read())
    built = manifest["layers"][-2:]  # the COPY and the RUN
    assert all(lay["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip" for lay in built), manifest
    assert built[0]["size"] < 360_000 // 10  # 360 KB of text, gzipped
    ok(docker(daemon, "rmi", ref))
    ok(docker(daemon, "pull", ref))
    pulled = json.loads(ok(docker(daemon, "image", "inspect", ref)))[0]
    assert pulled["Id"] == image_id == local["Id"]  # same config, same diff_ids
    assert pulled["RootFS"]["Layers"] == local["RootFS"]["Layers"]
    r = docker(daemon, "run", "--rm", ref, "cat", "/size")
    assert r.stdout.strip() == "360000 /text.txt", r.stderr
    ok(docker(daemon, "rmi", ref))


def test_an_image_pulled_back_from_its_own_push_is_the_same_image(daemon, registry) -> None:  # type: ignore[no-untyped-def]
    """A local image (plain layers) pushed gzipped and pulled back under its pushed name is one image
    with both names (its ID is its config), not two with one ID: lookups by ID find one image, and
    removing the pulled name while a container uses the image only untags it (as dockerd)."""
    ref = f"{registry.host}/same/busybox:1"
    keep = "dy-same-keep:1"
    ok(docker(daemon, "tag", "busybox", ref))
    ok(docker(daemon, "tag", "busybox", keep))
    ok(docker(daemon, "push", ref))
    ok(docker(daemon, "rmi", ref))
    ok(docker(daemon, "pull", ref))
    cid = ok(docker(daemon, "create", keep, "true")).strip()
    try:
        image_id = ok(docker(daemon, "image", "inspect", "--format", "{{.Id}}", ref)).strip()
        assert ok(docker(daemon, "image", "inspect", "--format", "{{.Id}}", image_id)).strip() == image_id
        tags = json.loads(ok(docker(daemon, "image", "inspect", image_id)))[0]["RepoTags"]
        assert ref in tags and keep in tags
        ok(docker(daemon, "rmi", ref))
    finally:
        docker(daemon, "rm", "-f", cid)
        docker(daemon, "rmi", keep)
