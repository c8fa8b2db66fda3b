"""A ``dockyard registry serve`` of a test's own: on a free loopback port (a loopback registry is pushed
to by HTTP), stopped by its PID at the end, also on failure; its log beside ``root``
(``tests/unit/registry/dockyard_regkit.py``'s ``Server``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.unit.registry.dockyard_regkit import Server


@contextmanager
def serve_registry(root: Path, *args: str, timeout: float = 20) -> Iterator[str]:
    """``host:port`` of a registry storing under ``root``; ``args``: more of ``registry serve``'s flags."""
    server = Server(root, list(args))
    try:
        server.start(timeout)
        yield server.addr
    finally:
        server.stop()
