"""The dashboard (``dockyard desktop``) started against the session's private daemon, and a small
HTTP client that keeps its cookie."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BIN, Daemon
from tests.integration.desktop import webdriver


@dataclass
class Desktop:
    proc: subprocess.Popen[str]
    host: str
    port: int
    token: str
    log: Path
    cookie: str = field(default="")

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def conn(self, timeout: float = 30) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                cookie: bool = True) -> tuple[int, dict[str, str], bytes]:
        c = self.conn()
        try:
            h = {"Host": f"{self.host}:{self.port}", **(headers or {})}
            if cookie and self.cookie:
                h.setdefault("Cookie", self.cookie)
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                h["Content-Type"] = "application/json"
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def json(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, _, data = self.request(method, path, body, **kw)
        assert status == 200, (status, data)
        return json.loads(data)


def start_desktop(d: Daemon, *extra: str, env: dict[str, str] | None = None) -> Desktop:
    """``dockyard desktop`` on ``d`` (``env`` added to ours); its log (stderr) goes to a file read
    back by ``stop_desktop``."""
    fd, log = tempfile.mkstemp(prefix="dy-desktop-", suffix=".log")
    proc = subprocess.Popen([str(BIN / "dockyard"), "-H", d.host, "desktop", "--no-browser", *extra],
                            stdout=subprocess.PIPE, stderr=fd, text=True, env={**os.environ, **(env or {})})
    os.close(fd)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"http://([^:/]+):(\d+)/\?token=(\S+)", line)
    if not m:
        proc.kill()
        proc.wait()
        raise AssertionError(f"no URL printed: {line!r} {Path(log).read_text()}")
    return Desktop(proc, m.group(1), int(m.group(2)), m.group(3), Path(log))


def stop_desktop(desk: Desktop) -> None:
    """SIGTERM, and the log must show no unhandled exception."""
    desk.proc.send_signal(signal.SIGTERM)
    try:
        desk.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        desk.proc.kill()
        desk.proc.wait()
    text = desk.log.read_text(errors="replace")
    desk.log.unlink()
    assert "Traceback" not in text and "Error handling request" not in text, text[-4000:]


@pytest.fixture(scope="module")
def desktop(daemon: Daemon) -> Iterator[Desktop]:
    # no CRI: the pods view must not read the demo's /run/dockyard/cri.sock
    desk = start_desktop(daemon, "--addr", "127.0.0.1:0", "--cri", "unix:///nonexistent/dy-desktop-cri.sock")
    try:
        status, headers, _ = desk.request("GET", f"/?token={desk.token}", cookie=False)
        assert status == 302, status
        desk.cookie = headers["set-cookie"].split(";")[0]
        yield desk
    finally:
        stop_desktop(desk)


@pytest.fixture
def browser(desktop: Desktop) -> Iterator[webdriver.Browser]:
    """Headless chromium on the dashboard, past the token (the cookie set, landed on /)."""
    b = webdriver.Browser()
    try:
        b.get(f"{desktop.origin}/?token={desktop.token}")
        yield b
    finally:
        b.close()
