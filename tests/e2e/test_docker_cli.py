"""The real docker CLI (client 28) drives dockyardd unchanged.

These run the machine's `docker` binary against a private dockyardd through
DOCKER_HOST, exactly as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root

DOCKER = "/usr/local/bin/docker" if os.path.exists("/usr/local/bin/docker") else shutil.which("docker")


@pytest.fixture(scope="module")
def docker(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    assert DOCKER, "the docker CLI is part of this machine; install docker.io if it is missing"
    config = tmp_path_factory.mktemp("dockercfg")  # isolate from any user config.json

    def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "DOCKER_HOST": daemon.host, "DOCKER_CONFIG": str(config), "DOCKER_CLI_HINTS": "false"}
        return subprocess.run([DOCKER, *args], input=input, capture_output=True, env=env, timeout=60)

    return run


def test_version_negotiates_the_api_and_names_the_server(docker) -> None:  # type: ignore[no-untyped-def]
    r = docker("version", "--format", "{{json .Server}}")
    assert r.returncode == 0, r.stderr
    server = json.loads(r.stdout)
    assert server["Platform"]["Name"] == "Dockyard Engine"
    assert server["ApiVersion"] == "1.56"  # engine/api/versions.py: the newest API served


def test_info_reports_the_daemon(docker) -> None:  # type: ignore[no-untyped-def]
    r = docker("info", "--format", "{{.OSType}} {{.Driver}} {{.CgroupDriver}}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == "linux overlayfs cgroupfs"


def test_import_then_images_lists_it(docker, busybox_tar: Path) -> None:  # type: ignore[no-untyped-def]
    r = docker("import", "--change", "CMD [\"sh\"]", "--change", "ENV FOO=bar", "-", "e2e/imported:v1",
               input=busybox_tar.read_bytes())
    assert r.returncode == 0, r.stderr
    image_id = r.stdout.decode().strip()
    assert image_id.startswith("sha256:")
    try:
        r = docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
        assert r.returncode == 0, r.stderr
        assert f"e2e/imported:v1 {image_id[7:19]}" in r.stdout.decode().splitlines()
        r = docker("image", "inspect", "--format", "{{json .Config.Env}} {{json .Config.Cmd}}", "e2e/imported:v1")
        assert r.stdout.decode().strip() == '["FOO=bar"] ["sh"]'
        r = docker("run", "--rm", "e2e/imported:v1", "sh", "-c", "echo $FOO")
        assert r.stdout == b"bar\n", r.stderr
    finally:
        assert docker("rmi", "e2e/imported:v1").returncode == 0


def test_run_rm_prints_the_output(docker) -> None:  # type: ignore[no-untyped-def]
    r = docker("run", "--rm", "busybox", "echo", "hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hi\n"


def test_run_exit_code_and_ps_and_rm(docker) -> None:  # type: ignore[no-untyped-def]
    r = docker("run", "--name", "e2e-exit3", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3
    assert r.stdout == b"out\n"
    assert r.stderr == b"err\n"
    r = docker("ps", "-a", "--format", "{{.Names}} {{.Status}}")
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.decode().splitlines() if x.startswith("e2e-exit3 "))
    assert line.startswith("e2e-exit3 Exited (3)")
    r = docker("rm", "e2e-exit3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == "e2e-exit3"
    assert "e2e-exit3" not in docker("ps", "-a", "--format", "{{.Names}}").stdout.decode()


def test_errors_come_back_in_dockers_words(docker) -> None:  # type: ignore[no-untyped-def]
    r = docker("rm", "no-such-container-e2e")
    assert r.returncode == 1
    assert b"No such container: no-such-container-e2e" in r.stderr
    r = docker("run", "--rm", "--pull", "never", "no-such-image-e2e")
    assert r.returncode == 125
    assert b"No such image" in r.stderr


def test_detached_run_stop_and_logs(docker) -> None:  # type: ignore[no-untyped-def]
    r = docker("run", "-d", "--name", "e2e-detached", "busybox", "sh", "-c",
               "echo started; trap 'exit 0' TERM; while true; do sleep 0.1; done")
    assert r.returncode == 0, r.stderr
    try:
        assert len(r.stdout.decode().strip()) == 64
        # stop only once the shell has set its trap (it echoes after): a stop before that is a plain TERM kill
        deadline = time.monotonic() + 10
        while docker("logs", "e2e-detached").stdout != b"started\n" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert docker("stop", "e2e-detached").returncode == 0
        assert docker("logs", "e2e-detached").stdout == b"started\n"
        r = docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "e2e-detached")
        assert r.stdout.decode().strip() == "exited 0"
    finally:
        docker("rm", "-f", "e2e-detached")
