"""The dashboard's guard seen from headless Chromium: a visit without the token gets nothing, the
same server reached under another name (DNS rebinding: chromium resolves ``rebind.test`` to
127.0.0.1) is refused even with the token, and a page on another origin of this machine, in the
browser that holds the dashboard's cookie, cannot stop a container."""

from __future__ import annotations

import http.server
import threading
import time
import uuid

import pytest

from tests.conftest import Daemon
from tests.integration.desktop import webdriver
from tests.integration.desktop.conftest import Desktop

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not webdriver.available(), reason="needs Debian's chromium and chromium-driver")]

BODY = "return document.body.textContent"


class _Empty(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        body = b"<!doctype html><title>elsewhere</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _running(daemon: Daemon, name: str) -> bool:
    return daemon.cli("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == b"true"


def test_the_browser_is_refused_without_the_token_and_from_elsewhere(daemon: Daemon, desktop: Desktop) -> None:
    name = f"deskguard{uuid.uuid4().hex[:6]}"
    r = daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "1000")
    assert r.returncode == 0, r.stderr.decode()
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Empty)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    b = webdriver.Browser("--host-resolver-rules=MAP rebind.test 127.0.0.1")
    try:
        b.get(f"{desktop.origin}/")  # no token, no cookie
        assert "token" in b.js(BODY) and not b.js("return document.getElementById('view')")
        b.get(f"http://rebind.test:{desktop.port}/?token={desktop.token}")
        assert "foreign Host refused" in b.js(BODY)

        b.get(f"{desktop.origin}/?token={desktop.token}")  # the cookie is set: the dashboard loads
        b.wait_js(f"return document.querySelector('tr[data-name=\"{name}\"]')")
        b.get(f"http://127.0.0.1:{other.server_address[1]}/")
        stop = ("return fetch(arguments[0], {method: 'POST', mode: 'no-cors', credentials: 'include'})"
                ".then(() => 'sent', (e) => 'failed: ' + e)")
        url = f"{desktop.origin}/api/containers/{name}/stop"
        assert b.js(stop, url) == "sent"  # the request went out (opaque answer): the dashboard refused it
        time.sleep(1)
        assert _running(daemon, name)
        b.get(f"{desktop.origin}/")  # the same request from the dashboard's own page does stop it
        assert b.js(stop, url) == "sent"
        deadline = time.monotonic() + 30
        while _running(daemon, name):
            assert time.monotonic() < deadline, "the same-origin stop did not stop it"
            time.sleep(0.1)
    finally:
        b.close()
        other.shutdown()
        other.server_close()
        daemon.cli("rm", "-f", name)
