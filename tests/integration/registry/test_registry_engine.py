"""dockyardd and the docker CLI push to and pull from `dockyard registry` on 127.0.0.1, with token auth.

Loopback registries are plain-http and allowed out of the box, as in Docker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.local_registry import serve_registry

pytestmark = pytest.mark.root
BIN = Path(sys.executable).parent
DOCKER = "/usr/local/bin/docker"



@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[str]:
    line = subprocess.run([str(BIN / "dockyard"), "registry", "htpasswd", "alice"], input=b"s3cret\n",
                          capture_output=True, check=True).stdout
    (tmp_path / "htpasswd").write_bytes(line)
    with serve_registry(tmp_path / "root", "--htpasswd", str(tmp_path / "htpasswd"),
                        "--token-realm", "builtin") as addr:
        yield addr


def test_dockyard_login_push_pull_through_the_engine(daemon: Daemon, token_registry: str, tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "cfg")}
    ref = f"{token_registry}/team/busybox:v1"

    def cli(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([str(BIN / "dockyard"), "-H", daemon.host, *args], input=input, capture_output=True,
                              env=env, timeout=120)

    assert cli("tag", "busybox:latest", ref).returncode == 0
    try:
        refused = cli("push", ref)
        assert refused.returncode != 0
        assert b"unauthorized" in refused.stderr.lower() or b"authentication required" in refused.stderr.lower()
        bad = cli("login", "-u", "alice", "--password-stdin", token_registry, input=b"wrong\n")
        assert bad.returncode != 0
        ok = cli("login", "-u", "alice", "--password-stdin", token_registry, input=b"s3cret\n")
        assert ok.returncode == 0, ok.stderr
        pushed = cli("push", ref)
        assert pushed.returncode == 0, pushed.stderr
        assert cli("rmi", ref).returncode == 0
        pulled = cli("pull", ref)
        assert pulled.returncode == 0, pulled.stderr
        run = cli("run", "--rm", ref, "echo", "pulled and ran")
        assert run.stdout == b"pulled and ran\n", run.stderr
    finally:
        cli("rmi", ref)


def test_docker_cli_push_pull_through_dockyardd(daemon: Daemon, token_registry: str, tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": daemon.host, "DOCKER_CONFIG": str(tmp_path / "dcfg")}
    ref = f"{token_registry}/team/bb:docker"

    def docker(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([DOCKER, *args], input=input, capture_output=True, env=env, timeout=120)

    assert docker("tag", "busybox:latest", ref).returncode == 0
    try:
        ok = docker("login", "-u", "alice", "--password-stdin", token_registry, input=b"s3cret\n")
        assert ok.returncode == 0, ok.stderr
        pushed = docker("push", ref)
        assert pushed.returncode == 0, pushed.stderr
        assert docker("rmi", ref).returncode == 0
        pulled = docker("pull", ref)
        assert pulled.returncode == 0, pulled.stderr
        assert docker("run", "--rm", ref, "true").returncode == 0
    finally:
        docker("rmi", ref)
