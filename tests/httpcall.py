"""Raw HTTP to a test daemon's API socket, for tests that check exact statuses, headers and bodies
(no client library in between): one place for what engine, builder, network and plugin tests send."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.conftest import Daemon


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client`` over a UNIX socket."""

    def __init__(self, path: str | Path, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def request(d: Daemon, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
            raw: bytes | None = None, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-cased names) and body of one request: ``body`` sent as JSON, or ``raw``
    bytes as a tar."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    content_type = "application/x-tar" if raw is not None else "application/json"
    conn = UnixHTTPConnection(d.socket, timeout)
    try:
        conn.request(method, path, body=data, headers={"Content-Type": content_type, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def call(d: Daemon, method: str, path: str, body: Any = None, raw: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, Any]:
    """Status and the answer as JSON (None when empty, the bytes when not JSON)."""
    status, _, payload = request(d, method, path, body, headers, raw, timeout)
    if not payload.strip():
        return status, None
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload
