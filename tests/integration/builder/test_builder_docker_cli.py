"""Dockerfile builds through the real docker CLI (classic builder protocol) against a private daemon."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def docker(d: Daemon, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": d.host, "DOCKER_BUILDKIT": "0", "DOCKER_CONFIG": str(d.base / "cfg")}
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout, env=env,
                          check=False)


def write(ctx: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return ctx


def run_out(d: Daemon, image: str, *cmd: str) -> str:
    r = docker(d, "run", "--rm", image, *cmd)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def bd(daemon: Daemon) -> Daemon:
    if not Path(DOCKER).exists():
        pytest.fail("the docker CLI is needed for these tests")
    return daemon


def test_build_run_copy_env_workdir_and_cache(bd: Daemon, tmp_path: Path) -> None:
    ctx = write(tmp_path, {
        "Dockerfile": "FROM busybox\nENV GREETING=hello\nWORKDIR /app\nCOPY a.txt b.txt ./\n"
                      "RUN echo \"$GREETING from run\" > /app/run.txt && cat a.txt\nCOPY c.txt /app/\n"
                      "CMD [\"cat\", \"run.txt\"]\n",
        "a.txt": "A\n", "b.txt": "B\n", "c.txt": "C1\n"})
    t0 = time.monotonic()
    r = docker(bd, "build", "-t", "bt-one", str(ctx))
    cold = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Step 6/7 : COPY c.txt /app/" in r.stdout and "Successfully tagged bt-one:latest" in r.stdout
    assert "\nA\n" in r.stdout  # RUN output streamed
    assert run_out(bd, "bt-one") == "hello from run\n"
    assert run_out(bd, "bt-one", "cat", "/app/a.txt", "/app/b.txt", "/app/c.txt") == "A\nB\nC1\n"
    cfg = json.loads(docker(bd, "image", "inspect", "bt-one").stdout)[0]["Config"]
    assert cfg["WorkingDir"] == "/app" and "GREETING=hello" in cfg["Env"]
    first_id = json.loads(docker(bd, "image", "inspect", "bt-one").stdout)[0]["Id"]

    t0 = time.monotonic()
    r = docker(bd, "build", "-t", "bt-one", str(ctx))
    cached = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("Using cache") == 6, r.stdout
    assert json.loads(docker(bd, "image", "inspect", "bt-one").stdout)[0]["Id"] == first_id
    assert cached < cold

    (ctx / "c.txt").write_text("C2\n")
    r = docker(bd, "build", "-t", "bt-one", str(ctx))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("Using cache") == 4, r.stdout  # the changed COPY and the CMD after it rebuild
    assert run_out(bd, "bt-one", "cat", "/app/c.txt") == "C2\n"
    docker(bd, "rmi", "bt-one")


def test_multistage_copy_from_target_args_and_failures(bd: Daemon, tmp_path: Path) -> None:
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w:gz") as tf:
        data = b"inside tar\n"
        ti = tarfile.TarInfo("pkg/readme")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    ctx = write(tmp_path, {
        "Dockerfile": "ARG BASE=busybox\nFROM ${BASE} AS build\nARG MSG=default\n"
                      "RUN mkdir /out && echo \"$MSG\" > /out/msg\n"
                      "FROM busybox AS unused\nRUN exit 3\n"
                      "FROM busybox\nCOPY --from=build /out/msg /final/msg\nADD pkg.tar.gz /opt/\n"
                      "COPY keep/ /keep/\nONBUILD RUN echo triggered > /trig\n",
        "pkg.tar.gz": tar.getvalue(), "keep/yes.txt": "y", "keep/no.log": "n", "keep/important.log": "i",
        ".dockerignore": "keep/*.log\n!keep/important.log\n"})
    r = docker(bd, "build", "--build-arg", "MSG=from-arg", "-t", "bt-multi", str(ctx))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "exit 3" not in r.stdout  # the unused stage is skipped
    out = run_out(bd, "bt-multi", "sh", "-c", "cat /final/msg /opt/pkg/readme; ls /keep")
    assert out == "from-arg\ninside tar\nimportant.log\nyes.txt\n"

    r = docker(bd, "build", "--target", "build", "-t", "bt-target", str(ctx))
    assert r.returncode == 0, r.stderr
    assert run_out(bd, "bt-target", "cat", "/out/msg") == "default\n"

    child = write(tmp_path / "child", {"Dockerfile": "FROM bt-multi\nRUN cat /trig\n"})
    r = docker(bd, "build", "-t", "bt-child", str(child))
    assert r.returncode == 0, r.stderr
    assert "triggered" in r.stdout

    bad = write(tmp_path / "bad", {"Dockerfile": "FROM busybox\nRUN echo before && exit 7\n"})
    r = docker(bd, "build", str(bad))
    assert r.returncode != 0
    assert "returned a non-zero code: 7" in r.stderr + r.stdout
    for t in ("bt-multi", "bt-target", "bt-child"):
        docker(bd, "rmi", t)


def test_dockyard_build_cli_plain_progress_iidfile_and_prune(bd: Daemon, tmp_path: Path) -> None:
    ctx = write(tmp_path, {"build.Dockerfile": "FROM busybox\nLABEL a=b\nRUN echo built\n"})
    args = ("build", "-f", str(ctx / "build.Dockerfile"), "--label", "x=y", "--iidfile", str(tmp_path / "iid"),
            "-t", "bt-cli", str(ctx))
    r = bd.cli(*args, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert b"Step 3/3 : RUN echo built" in r.stdout and b"built\n" in r.stdout
    iid = (tmp_path / "iid").read_text()
    assert iid.startswith("sha256:")
    r = bd.cli(*args, timeout=120)
    assert r.stdout.count(b"Using cache") == 2
    r = bd.cli("builder", "prune", "-f")
    assert r.returncode == 0 and b"reclaimed" in r.stdout
    r = bd.cli(*args, timeout=120)
    assert r.stdout.count(b"Using cache") == 0
    bd.cli("rmi", "bt-cli")
