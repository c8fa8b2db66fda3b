"""A managed plugin's pull streams its progress as it happens: against a registry written here that sends
half of the plugin's layer and then waits, ``Pulling from``, ``Pulling fs layer`` and ``Downloading``
(part of the total) reach the client while the layer is still coming; the rest follows once it is sent.
A layer that does not match its digest ends the stream with the error line, and nothing is kept."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dockyard.plugins.distribution import MANIFEST_V2, pack
from tests.conftest import Daemon
from tests.httpcall import UnixHTTPConnection

pytestmark = pytest.mark.root
CONFIG = {"Description": "slow", "Interface": {"Types": ["docker.volumedriver/1.0"], "Socket": "s.sock"},
          "Entrypoint": ["/plugin"], "Network": {"Type": "none"}}
HALF = 256 << 10


class SlowRegistry:
    """``dy/slow:v1``: its layer sent half, then the rest once ``release`` is set; ``dy/bad:v1``: the
    same manifest with a layer whose bytes do not match its digest."""

    def __init__(self, rootfs: Path) -> None:
        self.layer, self.config, self.manifest = pack(rootfs, CONFIG)
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                outer.serve(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, h: BaseHTTPRequestHandler) -> None:
        import hashlib

        digests = {"sha256:" + hashlib.sha256(b).hexdigest(): b for b in (self.layer, self.config)}
        parts = h.path.split("/")
        if h.path == "/v2/":
            body, ctype = b"{}", "application/json"
        elif len(parts) == 6 and parts[4] == "manifests":
            body, ctype = self.manifest, MANIFEST_V2
        elif len(parts) == 6 and parts[4] == "blobs" and parts[5] in digests:
            body, ctype = digests[parts[5]], "application/octet-stream"
            if body is self.layer:
                self._send_layer(h, parts[3] == "bad")
                return
        else:
            h.send_error(404)
            return
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _send_layer(self, h: BaseHTTPRequestHandler, corrupt: bool) -> None:
        body = self.layer[:-1] + bytes([self.layer[-1] ^ 1]) if corrupt else self.layer
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[:HALF])
        h.wfile.flush()
        self.release.wait(60)
        h.wfile.write(body[HALF:])

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[SlowRegistry]:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "blob").write_bytes(os.urandom(2 << 20))  # incompressible: the gzipped layer stays ~2 MiB
    s = SlowRegistry(rootfs)
    try:
        yield s
    finally:
        s.stop()


def _pull(d: Daemon, remote: str, name: str) -> tuple[UnixHTTPConnection, Any]:
    conn = UnixHTTPConnection(str(d.socket))
    conn.request("POST", f"/plugins/pull?remote={remote}&name={name}", body=b"[]",
                 headers={"Content-Type": "application/json"})
    conn.sock.settimeout(20)  # old code answered only once the pull was over: this would time out
    return conn, conn.getresponse()


def _line(resp: Any) -> dict[str, Any]:
    return json.loads(resp.readline())  # type: ignore[no-any-return]


def test_pull_progress_arrives_while_the_layer_is_coming(fresh_daemon: Daemon, slow: SlowRegistry) -> None:
    conn, resp = _pull(fresh_daemon, f"{slow.addr}/dy/slow:v1", "slow")
    try:
        assert resp.status == 200
        short = pack_id(slow.layer)
        assert _line(resp) == {"status": f"Pulling from {slow.addr}/dy/slow", "id": "v1"}
        assert _line(resp) == {"status": "Pulling fs layer", "progressDetail": {}, "id": short}
        first = _line(resp)
        assert first["status"] == "Downloading" and first["id"] == short
        assert 0 < first["progressDetail"]["current"] <= HALF < first["progressDetail"]["total"] == len(slow.layer)
        assert not slow.release.is_set()  # all of this while the layer's second half is held back
        slow.release.set()
        rest = [json.loads(x) for x in resp.read().splitlines() if x.strip()]
    finally:
        slow.release.set()
        conn.close()
    statuses = [m.get("status") for m in rest]
    assert "Download complete" in statuses and statuses[-1] == f"Status: Downloaded newer image for {slow.addr}/dy/slow:v1"
    assert all("error" not in m for m in rest), rest
    conn = UnixHTTPConnection(str(fresh_daemon.socket))
    conn.request("GET", "/plugins/slow:latest/json")
    assert conn.getresponse().status == 200
    conn.close()


def test_a_failure_after_progress_is_the_streams_last_line(fresh_daemon: Daemon, slow: SlowRegistry) -> None:
    slow.release.set()
    conn, resp = _pull(fresh_daemon, f"{slow.addr}/dy/bad:v1", "bad")
    try:
        assert resp.status == 200
        lines = [json.loads(x) for x in resp.read().splitlines() if x.strip()]
    finally:
        conn.close()
    assert lines[0]["status"].startswith("Pulling from") and "does not match its digest" in lines[-1]["error"], lines
    root = fresh_daemon.data_root / "plugins"
    assert sorted(p.name for p in root.glob("*")) in ([], ["plugins.json"])  # nothing half-pulled kept
    records = json.loads((root / "plugins.json").read_text()) if (root / "plugins.json").exists() else {}
    assert records == {}


def pack_id(layer: bytes) -> str:
    import hashlib

    return hashlib.sha256(layer).hexdigest()[:12]
