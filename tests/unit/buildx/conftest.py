"""The buildx plugin reads this process's environment (and ``--config`` sets DOCKER_CONFIG): each test starts
without the daemon, context and builder variables, DOCKER_CONFIG a fresh directory (the context store), and
leaves none behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

NAMES = ("DOCKYARD_HOST", "DOCKER_HOST", "DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONFIG",
         "DOCKER_CONTEXT", "BUILDX_BUILDER", "BUILDX_CONFIG")


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path) -> Iterator[None]:
    saved = {n: os.environ.pop(n) for n in NAMES if n in os.environ}
    os.environ["DOCKER_CONFIG"] = str(tmp_path / "docker")
    try:
        yield
    finally:
        for n in NAMES:
            os.environ.pop(n, None)
        os.environ.update(saved)
