"""A small, fast client for the Engine API over a UNIX socket (or TCP, optionally TLS).

HTTP/1.1 written by hand on a socket: ``http.client`` alone (with ``email``
and ``ssl``) costs more start-up time than the rest of the CLI, and the CLI
must start fast. HTTP errors come back as ``dockyard.errors`` kinds carrying
the daemon's message.
"""

from __future__ import annotations

import _socket  # the C module: ``socket`` costs ~3 ms of start-up (enum classes, selectors) for nothing used here
import os

from dockyard import errors
from dockyard.client import jsonlite as json
from dockyard.client.errors import TransportError, from_status

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Iterable, Iterator
    from typing import Any

API_VERSION = "1.51"
DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"

class Response:
    """A response body read straight off the socket: Content-Length, chunked, or until close."""

    def __init__(self, sock: socket.socket, status: int, headers: dict[str, str], rest: bytes) -> None:
        self.sock = sock
        self.status = status
        self.headers = headers
        self._buf = rest
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._left = int(length) if length is not None and not self._chunked else -1
        self._chunk_left = 0
        self._eof = status in (204, 304) or self._left == 0

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self._buf += data
        return True

    def _raw(self, n: int) -> bytes:
        """Up to n bytes of the message body (before chunk decoding)."""
        while not self._buf:
            if not self._fill():
                return b""
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def read1(self, n: int = 65536) -> bytes:
        """Some body bytes (at most n), b'' at the end."""
        if self._eof:
            return b""
        if self._chunked:
            if self._chunk_left == 0:
                while b"\r\n" not in self._buf:
                    if not self._fill():
                        self._eof = True
                        return b""
                line, self._buf = self._buf.split(b"\r\n", 1)
                self._chunk_left = int(line.split(b";")[0], 16)
                if self._chunk_left == 0:
                    self._eof = True
                    return b""
            data = self._raw(min(n, self._chunk_left))
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                while len(self._buf) < 2 and self._fill():
                    pass
                self._buf = self._buf[2:]
            if not data:
                self._eof = True
            return data
        if self._left >= 0:
            data = self._raw(min(n, self._left))
            self._left -= len(data)
            if self._left == 0 or not data:
                self._eof = True
            return data
        data = self._raw(n)
        if not data:
            self._eof = True
        return data

    def read(self, n: int = -1) -> bytes:
        if n >= 0:
            return self.read1(n)
        parts = []
        while chunk := self.read1():
            parts.append(chunk)
        self.close()
        return b"".join(parts)

    def __iter__(self) -> Iterator[bytes]:
        pending = b""
        while chunk := self.read1():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line + b"\n"
        if pending:
            yield pending
        self.close()

    def close(self) -> None:
        self.sock.close()


def _read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise TransportError("the daemon closed the connection before answering")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def _error(resp: Response, head: bool = False) -> errors.DockyardError:
    raw = b"" if head else resp.read()  # a HEAD answer has no body to wait for
    try:
        message = json.loads(raw).get("message", "")
    except (ValueError, AttributeError):
        message = raw.decode(errors="replace").strip()
    return from_status(resp.status, message or f"HTTP {resp.status}")


def resolve_host(host: str | None) -> str:
    return host or os.environ.get("DOCKYARD_HOST") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


class TLSConfig:
    """Client TLS as the docker CLI's: --tlsverify checks the daemon against the CA; cert+key identify us.

    Defaults come from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem)."""

    def __init__(self, verify: bool = False, cacert: str = "", cert: str = "", key: str = "", tls: bool = False):
        cert_path = os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
        self.verify = verify or bool(os.environ.get("DOCKER_TLS_VERIFY"))
        self.enabled = tls or self.verify
        self.cacert = cacert or os.path.join(cert_path, "ca.pem")
        self.cert = cert or os.path.join(cert_path, "cert.pem")
        self.key = key or os.path.join(cert_path, "key.pem")

    def context(self) -> Any:
        import ssl  # only a TLS connection pays for the import

        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.cacert if self.verify else None)
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if os.path.exists(self.cert) and os.path.exists(self.key):
            ctx.load_cert_chain(self.cert, self.key)
        return ctx


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def _quote(value: str) -> str:
    return "".join(chr(b) if b in _UNRESERVED else "+" if b == 32 else f"%{b:02X}" for b in value.encode())


def urlencode(params: dict[str, Any]) -> str:
    """``urllib.parse.urlencode(params, doseq=True)`` without importing urllib.parse (and its
    ipaddress, ~2.5 ms of every CLI start)."""
    pairs = []
    for key, value in params.items():
        for v in value if isinstance(value, (list, tuple)) else (value,):
            pairs.append(f"{_quote(str(key))}={_quote(str(v))}")
    return "&".join(pairs)


class Client:
    def __init__(self, host: str | None = None, tls: TLSConfig | None = None) -> None:
        host = resolve_host(host)
        self.tcp: tuple[str, int] | None = None
        self.tls = tls or TLSConfig()
        self._ssl: Any = None
        self.ssh: Any = None  # an ssh.SSHTarget for ssh:// hosts
        if host.startswith("tcp://"):
            from urllib.parse import urlsplit

            u = urlsplit(host)
            self.tcp = (u.hostname or "127.0.0.1", u.port or (2376 if self.tls.enabled else 2375))
            self.socket_path = ""
        elif host.startswith("unix://"):
            self.socket_path = host.removeprefix("unix://")
        elif host.startswith("ssh://"):
            from dockyard.client.ssh import SSHTarget

            self.ssh = SSHTarget(host)
            self.socket_path = ""
        else:
            raise errors.InvalidArgument(f"unsupported host {host!r}: unix://, tcp:// or ssh://")

    def _url(self, path: str, params: dict[str, Any] | None) -> str:
        url = f"/v{API_VERSION}{path}"
        if params:
            clean = {k: (("1" if v else "0") if isinstance(v, bool) else v) for k, v in params.items() if v is not None}
            url += "?" + urlencode(clean)
        return url

    def _connect(self) -> socket.socket:
        if self.tcp is not None:
            return self._connect_tcp(self.tcp)
        if self.ssh is not None:
            return self.ssh.connect()  # type: ignore[no-any-return]
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.connect(self.socket_path)
        except OSError as err:
            sock.close()
            raise TransportError(
                f"Cannot connect to the Dockyard daemon at unix://{self.socket_path}. Is the dockyard daemon running?"
            ) from err
        return sock  # type: ignore[return-value]  # _socket.socket: socket.socket's C base, all that is used of it

    def _connect_tcp(self, addr: tuple[str, int]) -> socket.socket:
        import socket

        try:
            sock = socket.create_connection(addr)
        except OSError as err:
            raise TransportError(f"Cannot connect to the Dockyard daemon at tcp://{addr[0]}:{addr[1]}: {err}") \
                from err
        if not self.tls.enabled:
            return sock
        import ssl

        if self._ssl is None:
            self._ssl = self.tls.context()
        try:
            return self._ssl.wrap_socket(sock, server_hostname=addr[0])  # type: ignore[no-any-return]
        except (ssl.SSLError, OSError) as err:
            sock.close()
            raise TransportError(f"TLS with tcp://{addr[0]}:{addr[1]} failed: {err}") from err

    def request(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None,
                headers: dict[str, str] | None = None) -> Response:
        hdrs = {"Host": "dockyard", "User-Agent": "dockyard-cli", **(headers or {})}
        data: Any = None
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif body is not None:
            data = body
        sends = hasattr(data, "send_to")  # a body that writes itself (a planned build context)
        streamed = data is not None and not sends and not isinstance(data, (bytes, bytearray))
        if streamed:
            hdrs["Transfer-Encoding"] = "chunked"
        else:
            hdrs["Content-Length"] = str(len(data or b""))
        sock = self._connect()
        head = f"{method} {self._url(path, params)} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        if sends:
            sock.sendall(head.encode("latin-1") + b"\r\n")
            data.send_to(sock)
        elif streamed or not data or len(data) < 65536:
            sock.sendall(head.encode("latin-1") + b"\r\n" + (b"" if streamed else (data or b"")))
        else:  # a large body (a build context) is sent as it is, not copied behind the head
            sock.sendall(head.encode("latin-1") + b"\r\n")
            sock.sendall(data)
        if streamed:
            for chunk in data:
                if chunk:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        status, resp_headers, rest = _read_head(sock)
        resp = Response(sock, status, resp_headers, rest)
        if status >= 400:
            raise _error(resp, method == "HEAD")
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
        sock = self._connect()
        req = (f"POST {self._url(path, params)} HTTP/1.1\r\nHost: dockyard\r\nConnection: Upgrade\r\n"
               "Upgrade: tcp\r\nContent-Length: 0\r\n\r\n")
        sock.sendall(req.encode())
        status, headers, rest = _read_head(sock)
        if status >= 400:
            raise _error(Response(sock, status, headers, rest))
        return _Prefixed(sock, rest) if rest else sock  # type: ignore[return-value]


class _Prefixed:
    """A socket whose first bytes were already read with the response head."""

    def __init__(self, sock: socket.socket, rest: bytes) -> None:
        self._sock = sock
        self._rest = rest

    def recv(self, n: int) -> bytes:
        if self._rest:
            out, self._rest = self._rest[:n], self._rest[n:]
            return out
        return self._sock.recv(n)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def exists(c: Any, path: str) -> bool:
    """Whether the object ``GET path`` inspects is there (a 404 says it is not), for the client ``c``."""
    try:
        c.request("GET", path).read()
    except errors.NotFound:
        return False
    return True


def demux(sock: socket.socket) -> Iterator[tuple[int, bytes]]:
    """Split Docker's multiplexed stream, read from ``sock`` to its end, into (stream, payload) frames."""
    return frames(iter(lambda: sock.recv(65536), b""))


def frames(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Docker's multiplexed stream (each frame an 8-byte header: the stream, three zero bytes, the
    payload's big-endian size), its bytes as they come in ``chunks``, as (stream, payload) frames."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        while len(buf) >= 8:
            size = int.from_bytes(buf[4:8], "big")
            if len(buf) < 8 + size:
                break
            yield buf[0], buf[8:8 + size]
            buf = buf[8 + size:]
