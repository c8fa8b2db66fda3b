"""A small, fast client for the Engine API over a UNIX socket.

Standard library only (http.client), so ``dockyard`` starts quickly. HTTP
errors come back as ``dockyard.errors`` kinds carrying the daemon's message.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlencode

from dockyard import errors

API_VERSION = "1.51"
DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"

_BY_STATUS: dict[int, type[errors.DockyardError]] = {
    400: errors.InvalidArgument, 403: errors.PermissionDenied, 404: errors.NotFound, 409: errors.Conflict,
    501: errors.NotImplementedYet, 503: errors.Unavailable,
}


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError as err:
            sock.close()
            raise errors.Unavailable(
                f"Cannot connect to the Dockyard daemon at unix://{self.path}. Is the dockyard daemon running?"
            ) from err
        self.sock = sock


def resolve_host(host: str | None) -> str:
    return host or os.environ.get("DOCKYARD_HOST") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


class Client:
    def __init__(self, host: str | None = None) -> None:
        host = resolve_host(host)
        if not host.startswith("unix://"):
            raise errors.InvalidArgument(f"unsupported host {host!r}: only unix:// yet")
        self.socket_path = host.removeprefix("unix://")

    def _url(self, path: str, params: dict[str, Any] | None) -> str:
        url = f"/v{API_VERSION}{path}"
        if params:
            clean = {k: (("1" if v else "0") if isinstance(v, bool) else v) for k, v in params.items() if v is not None}
            url += "?" + urlencode(clean, doseq=True)
        return url

    def request(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None,
                headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        conn = UnixConnection(self.socket_path)
        hdrs = dict(headers or {})
        data: Any = None
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif body is not None:
            data = body
        encode_chunked = data is not None and not isinstance(data, (bytes, bytearray))
        conn.request(method, self._url(path, params), body=data, headers=hdrs, encode_chunked=encode_chunked)
        resp = conn.getresponse()
        if resp.status >= 400:
            raw = resp.read()
            try:
                message = json.loads(raw).get("message", "")
            except ValueError:
                message = raw.decode(errors="replace").strip()
            raise _BY_STATUS.get(resp.status, errors.Internal)(message or f"HTTP {resp.status}")
        return resp

    def json(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        resp = self.request(method, path, params, body)
        raw = resp.read()
        return json.loads(raw) if raw.strip() else None

    def json_stream(self, method: str, path: str, params: dict[str, Any] | None = None,
                    body: bytes | Iterable[bytes] | None = None, headers: dict[str, str] | None = None
                    ) -> Iterator[dict[str, Any]]:
        resp = self.request(method, path, params, body, headers)
        for line in resp:
            if line.strip():
                yield json.loads(line)

    def hijack(self, path: str, params: dict[str, Any]) -> socket.socket:
        """POST with ``Upgrade: tcp``; after the 101 the socket carries the raw stream both ways."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.socket_path)
        except OSError as err:
            raise errors.Unavailable(f"Cannot connect to the Dockyard daemon at unix://{self.socket_path}") from err
        req = (f"POST {self._url(path, params)} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
               "Upgrade: tcp\r\nContent-Length: 0\r\n\r\n")
        sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)
            if not chunk:
                raise errors.Unavailable("daemon closed the connection during attach")
            head += chunk
        status_line = head.split(b"\r\n", 1)[0].decode()
        status = int(status_line.split()[1])
        if status >= 400:
            body = b""
            while chunk := sock.recv(65536):
                body += chunk
            try:
                message = json.loads(body.split(b"\r\n")[-1] or body).get("message", "")
            except ValueError:
                message = body.decode(errors="replace")
            raise _BY_STATUS.get(status, errors.Internal)(message)
        return sock


def demux(sock: socket.socket) -> Iterator[tuple[int, bytes]]:
    """Split Docker's multiplexed stream into (stream, payload) frames."""
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return
        buf += chunk
        while len(buf) >= 8:
            size = int.from_bytes(buf[4:8], "big")
            if len(buf) < 8 + size:
                break
            yield buf[0], buf[8:8 + size]
            buf = buf[8 + size:]
