"""The compose integration tests' fixtures: a private dockyardd per module (``cdaemon``), a
project directory on it (``project``: a free ``10.216.x.0/24`` per project, whatever a failed
test left removed at teardown) and Compose v2's binary (``compose_v2``, skipped without it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, Daemon, free_subnet, started_daemon

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "compose"))
from compose_oracle import find as find_compose_v2  # noqa: E402

PROJECT = """
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo db ready; exec sleep 1000"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      retries: 30
    volumes: ["data:/data"]
    environment:
      ROLE: ${ROLE:-database}
  job:
    image: busybox
    command: ["sh", "-c", "echo job done > /data/job; echo job done"]
    volumes: ["data:/data"]
    restart: "no"
  web:
    image: busybox
    command: ["sh", "-c", "echo web up; exec sleep 1000"]
    depends_on:
      db: {condition: service_healthy}
      job: {condition: service_completed_successfully}
    environment:
      - GREETING=${GREETING:-hello}
    volumes: ["data:/data:ro"]
    stop_signal: SIGKILL
networks:
  default:
    ipam:
      config: [{subnet: "${SUBNET}"}]
volumes:
  data: {}
"""


@pytest.fixture(scope="module")
def cdaemon(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar) as d:
        yield d


class Project:
    def __init__(self, d: Daemon, base: Path, name: str) -> None:
        self.d = d
        self.dir = base
        self.name = name
        self.env = {**os.environ, "SUBNET": free_subnet("10.216"), "DOCKER_HOST": d.host, "COMPOSE_BAKE": "false",
                    "DOCKER_BUILDKIT": "0", "DOCKER_CONFIG": str(base / ".docker")}
        self.env.pop("DOCKYARD_HOST", None)
        (base / "compose.yaml").write_text(PROJECT)

    def dy(self, *args: str, timeout: float = 180, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "dockyard"), "-H", self.d.host, "compose", "-p", self.name, *args],
                              cwd=self.dir, env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=timeout)

    def v2(self, binary: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, "-p", self.name, *args], cwd=self.dir, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def leftovers(self) -> dict[str, list[str]]:
        label = f"label=com.docker.compose.project={self.name}"
        out = {}
        for kind, args in (("containers", ["ps", "-aq", "--filter", label]),
                           ("networks", ["network", "ls", "-q", "--filter", label]),
                           ("volumes", ["volume", "ls", "-q", "--filter", label])):
            r = self.d.cli(*args)
            assert r.returncode == 0, r.stderr.decode()
            out[kind] = r.stdout.decode().split()
        return {k: v for k, v in out.items() if v}

    def cleanup(self) -> None:
        left = self.leftovers()
        if left.get("containers"):
            self.d.cli("rm", "-f", *left["containers"])
        for n in left.get("networks", []):
            self.d.cli("network", "rm", n)
        for v in left.get("volumes", []):
            self.d.cli("volume", "rm", "-f", v)


@pytest.fixture
def project(cdaemon: Daemon, tmp_path: Path) -> Iterator[Project]:
    p = Project(cdaemon, tmp_path, "cp" + uuid.uuid4().hex[:6])
    try:
        yield p
    finally:
        p.cleanup()


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, f"rc={r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r.stdout


def container_json(d: Daemon, ref: str) -> dict:  # type: ignore[type-arg]
    r = d.cli("inspect", ref)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)[0]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def compose_v2() -> str:
    binary = find_compose_v2()
    if binary is None:
        pytest.skip("Compose v2 not found (COMPOSE_V2, /tmp/cgo/docker-compose; see tests/unit/compose/"
                    "compose_oracle.py)")
    return binary
