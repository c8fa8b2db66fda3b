"""The real Compose v2 for the differential tests (``compose_oracle.find``), or the test skipped."""

from __future__ import annotations

import pytest


@pytest.fixture
def compose_v2() -> str:
    """The path of Compose v2's binary; the test is skipped when it is not here."""
    from compose_oracle import find  # type: ignore[import-not-found]

    binary = find()
    if binary is None:
        pytest.skip("Compose v2 not found (COMPOSE_V2, /tmp/cgo/docker-compose; see compose_oracle.py)")
    return str(binary)
