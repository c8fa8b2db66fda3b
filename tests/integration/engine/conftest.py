"""Fixtures shared by the engine's integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Daemon
from tests.httpcall import call


@pytest.fixture
def made(daemon: Daemon) -> Iterator[list[str]]:
    """Names or IDs of containers (and volumes, prefixed ``volume:``) a test makes on the shared daemon;
    removed at the end."""
    names: list[str] = []
    yield names
    for name in names:
        if name.startswith("volume:"):
            call(daemon, "DELETE", f"/volumes/{name[7:]}?force=1")
        else:
            call(daemon, "DELETE", f"/containers/{name}?force=1")
