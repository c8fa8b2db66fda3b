"""A step with ``RUN --mount`` leaves no trace of the mount points the runtime made for it in its
layer (as BuildKit, which removes its mount stubs): no empty ``/run/secrets/<id>``, no cache,
bind or tmpfs target, no parent directory made or copied up only for them."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root

DOCKERFILE = """FROM busybox
RUN --mount=type=secret,id=tok --mount=type=cache,target=/root/.cache/ms,id=ms-stubs \\
    --mount=type=tmpfs,target=/tmp/scratch --mount=type=bind,source=in,target=/mnt/in/deep \\
    cat /run/secrets/tok /mnt/in/deep/a.txt > /seen
RUN --mount=type=secret,id=tok,target=/opt/s/tok mkdir -p /opt/app && cp /opt/s/tok /opt/app/copied
"""


def layer_members(saved: Path) -> list[list[str]]:
    with tarfile.open(saved) as tf:
        manifest = json.loads(tf.extractfile("manifest.json").read())  # type: ignore[union-attr]
        out = []
        for name in manifest[0]["Layers"]:
            with tarfile.open(fileobj=tf.extractfile(name)) as layer:
                out.append(sorted(m.name.rstrip("/") for m in layer.getmembers()))
        return out


def test_run_mount_points_leave_no_trace_in_the_layer(daemon: Daemon, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "in").mkdir(parents=True)
    (ctx / "in" / "a.txt").write_text("bound\n")
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    secret = tmp_path / "tok"
    secret.write_text("s3cret\n")
    try:
        r = daemon.cli("build", "-q", "--secret", f"id=tok,src={secret}", "-t", "mount-stubs", str(ctx), timeout=120)
        assert r.returncode == 0, r.stderr.decode()
        r = daemon.cli("save", "-o", str(tmp_path / "saved.tar"), "mount-stubs")
        assert r.returncode == 0, r.stderr.decode()
        layers = layer_members(tmp_path / "saved.tar")
        assert layers[-2] == ["seen"]  # not run/secrets/tok, root/.cache/ms, tmp/scratch, mnt/in/deep
        assert layers[-1] == ["opt", "opt/app", "opt/app/copied"]  # opt/s/tok out, its parent /opt kept
        r = daemon.cli("run", "--rm", "mount-stubs", "sh", "-c",
                       "cat /seen /opt/app/copied; ls -d /run /root/.cache /tmp/scratch /mnt/in /opt/s 2>&1")
        out = r.stdout.decode()
        assert out.startswith("s3cret\nbound\ns3cret\n"), out
        assert out.count("No such file or directory") == 5, out
    finally:
        daemon.cli("rmi", "mount-stubs")
        daemon.cli("builder", "prune", "-af")
