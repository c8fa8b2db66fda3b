"""The plugin client: JSON over HTTP/1.1 to a plugin's UNIX socket (or TCP address), as Docker's
``pkg/plugins`` client talks to it.

Every call is a ``POST /<Service.Method>`` with ``application/vnd.docker.plugins.v1.2+json``. A plugin
that cannot be reached (no socket yet, refused, reset) is retried with Docker's back-off (1 s, 2 s,
4 s … up to 32 s) until the next wait would pass the retry window (Docker's 30 s); a plugin that
accepts but never answers is given up on after the request timeout. Both end in ``Unavailable``
naming the plugin, never in a hang. Synchronous on purpose: callers on the event loop use
``asyncio.to_thread``.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from typing import Any

from dockyard import errors

MEDIA_TYPE = "application/vnd.docker.plugins.v1.2+json"
RETRY_WINDOW = 30.0     # Docker's defaultTimeOut: how long an unreachable plugin is retried
REQUEST_TIMEOUT = 120.0  # Docker's longTimeout for volume calls: one request's answer


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("plugin", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.path)
        except OSError:
            s.close()
            raise
        self.sock = s


def backoff(retries: int) -> float:
    """Docker's ``backoff``: 1 s doubled per retry, at most 32 s."""
    return float(min(1 << retries, 32))


class PluginClient:
    def __init__(self, name: str, addr: str, retry_window: float = RETRY_WINDOW,
                 request_timeout: float = REQUEST_TIMEOUT) -> None:
        self.name = name
        self.addr = addr
        self.retry_window = retry_window
        self.request_timeout = request_timeout

    def _connection(self) -> http.client.HTTPConnection:
        if self.addr.startswith("unix://"):
            return _UnixConnection(self.addr.removeprefix("unix://"), self.request_timeout)
        if self.addr.startswith("tcp://"):
            host, _, port = self.addr.removeprefix("tcp://").rpartition(":")
            return http.client.HTTPConnection(host, int(port), timeout=self.request_timeout)
        raise errors.InvalidArgument(f"plugin {self.name}: unsupported address {self.addr!r}")

    def _post(self, method: str, body: bytes) -> tuple[int, bytes]:
        conn = self._connection()
        try:
            conn.request("POST", f"/{method}", body, {"Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def call(self, method: str, args: dict[str, Any] | None = None, retry: bool = True,
             optional: bool = False) -> dict[str, Any]:
        """One protocol call; the answer's ``Err`` (or a non-200 status) becomes an error naming the plugin.
        ``optional``: a method the plugin may not serve; its 404 is an empty answer (libnetwork's rule for
        methods added to a protocol later)."""
        status, data = self._exchange(method, args, retry)
        if optional and status == 404:
            return {}
        return _answer(self.name, method, status, data)

    def stream(self, method: str, args: dict[str, Any] | None = None) -> bytes:
        """A call whose answer is not JSON but a byte stream (``LogDriver.ReadLogs``), read whole."""
        status, data = self._exchange(method, args, True)
        if status != 200:
            _answer(self.name, method, status, data)
        return data

    def _exchange(self, method: str, args: dict[str, Any] | None, retry: bool) -> tuple[int, bytes]:
        body = json.dumps(args if args is not None else {}).encode()
        start, retries = time.monotonic(), 0
        while True:
            try:
                status, data = self._post(method, body)
                break
            except TimeoutError:
                raise errors.Unavailable(f"plugin {self.name}: {method}: no answer within "
                                         f"{self.request_timeout:g}s") from None
            except (ConnectionError, FileNotFoundError, http.client.HTTPException, OSError) as err:
                wait = backoff(retries)
                if not retry or time.monotonic() - start + wait > self.retry_window:
                    raise errors.Unavailable(f"plugin {self.name} is not reachable at {self.addr}: {method}: "
                                             f"{err}") from None
                retries += 1
                time.sleep(wait)
        return status, data


def _answer(name: str, method: str, status: int, data: bytes) -> dict[str, Any]:
    try:
        out = json.loads(data) if data.strip() else {}
    except ValueError:
        out = None
    if status != 200:
        msg = out.get("Err") if isinstance(out, dict) and out.get("Err") else data.decode(errors="replace").strip()
        raise errors.Internal(f"plugin {name}: {method}: {msg or f'status {status}'}")
    if not isinstance(out, dict):
        raise errors.Internal(f"plugin {name}: {method}: malformed answer (not a JSON object): {data[:200]!r}")
    if out.get("Err"):
        raise errors.Internal(f"plugin {name}: {method}: {out['Err']}")
    return out
