"""The kube tests' private daemon (one per module) and their small helpers: a free loopback port, a
command that must succeed, a page that must answer."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, started_daemon


@pytest.fixture(scope="module")
def kdaemon(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar) as d:
        yield d


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, deadline: float = 20) -> str:
    end = time.monotonic() + deadline
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                return str(r.read().decode())
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stderr + r.stdout
    return r.stdout
