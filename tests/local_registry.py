"""A ``dockyard registry serve`` of a test's own: on a free loopback port (a loopback registry is pushed
to by HTTP), stopped by its PID at the end, also on failure."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import BIN


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_registry(root: Path, *args: str, timeout: float = 20) -> Iterator[str]:
    """``host:port`` of a registry storing under ``root``; ``args``: more of ``registry serve``'s flags."""
    port = free_port()
    addr = f"127.0.0.1:{port}"
    proc = subprocess.Popen([str(BIN / "dockyard"), "registry", "serve", "--addr", addr, "--root", str(root), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "registry did not start"
                time.sleep(0.05)
        yield addr
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
