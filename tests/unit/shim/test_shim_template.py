"""The shim template (shim/template.py): each forked shim answers its caller itself, so a shim slow to
start holds up no other; start errors and bad requests reach the caller. ``become_shim`` is replaced by
a stand-in in the template's process, so no task or runtime is involved."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.shim import template

SLOW = 3.0


def _stand_in(pids: Path) -> Callable[[Any, Callable[[str | None], None]], None]:
    def become_shim(args: Any, report: Callable[[str | None], None]) -> None:
        with open(pids, "a") as f:
            f.write(f"{os.getpid()}\n")
        if args.id == "slow":
            time.sleep(SLOW)
        report("dockyard-shim: boom\n" if args.id == "bad" else None)
        os._exit(0)
    return become_shim


@pytest.fixture
def template_socket(tmp_path: Path) -> Iterator[Path]:
    sock, pids = tmp_path / "t.sock", tmp_path / "pids"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            sys.stdout = os.fdopen(w, "w")  # "ready" goes to the pipe
            import dockyard.runtime.warm

            dockyard.runtime.warm.warm = lambda: None  # the runtime's imports are not under test
            template.become_shim = _stand_in(pids)  # type: ignore[assignment]
            template.serve_template(str(sock))
        finally:
            os._exit(1)
    os.close(w)
    try:
        assert os.read(r, 16).strip() == b"ready"
        yield sock
    finally:
        os.close(r)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        for line in pids.read_text().split() if pids.exists() else []:
            try:
                os.kill(int(line), signal.SIGKILL)
            except ProcessLookupError:
                pass


def _send(sock: Path, id: str | None, tmp_path: Path) -> socket.socket:
    req: dict[str, Any] = {"namespace": "t", "bundle": str(tmp_path), "runtime_root": str(tmp_path),
                           "socket": str(tmp_path / f"{id}.sock")}
    if id is not None:
        req["id"] = id
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(str(sock))
    conn.sendall(json.dumps(req).encode() + b"\n")
    return conn


def _reply(conn: socket.socket, timeout: float) -> dict[str, Any]:
    conn.settimeout(timeout)
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    conn.close()
    out: dict[str, Any] = json.loads(data)
    return out


def test_a_shim_slow_to_start_holds_up_no_other(template_socket: Path, tmp_path: Path) -> None:
    slow = _send(template_socket, "slow", tmp_path)
    time.sleep(0.2)  # the slow one is with its spare before the next request comes
    t0 = time.monotonic()
    assert _reply(_send(template_socket, "fast", tmp_path), SLOW) == {"ok": True}
    assert time.monotonic() - t0 < SLOW / 2  # answered while the slow shim still starts
    assert _reply(slow, SLOW * 2) == {"ok": True}


def test_a_start_error_reaches_the_caller(template_socket: Path, tmp_path: Path) -> None:
    assert _reply(_send(template_socket, "bad", tmp_path), 10) == {"error": "dockyard-shim: boom"}
    assert _reply(_send(template_socket, "next", tmp_path), 10) == {"ok": True}


def test_a_bad_request_is_refused_and_the_template_serves_on(template_socket: Path, tmp_path: Path) -> None:
    assert _reply(_send(template_socket, None, tmp_path), 10) == {"error": "bad request: 'id'"}
    assert _reply(_send(template_socket, "next", tmp_path), 10) == {"ok": True}
