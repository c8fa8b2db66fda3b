"""The CLI's HTTP client against a real HTTP server on a UNIX socket (client/http.py).

The server is a few lines of ``http.server`` in a thread; each test plants the
raw responses it wants and reads back the requests the client made.
"""

from __future__ import annotations

import json
import shutil
import socketserver
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.cli import main as cli
from dockyard.client import http
from dockyard.client.errors import DaemonError
from dockyard.client.http import Client


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Responder = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class FakeDaemon:
    """Routes ``(method, path without query)`` to a responder; records every request."""

    socket: Path
    routes: dict[tuple[str, str], Responder] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


def reply(status: int, body: bytes | dict[str, Any] | list[Any] = b"", ctype: str = "application/json") -> Responder:
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body

    def respond(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if data:
            h.wfile.write(data)

    return respond


def raw(*pieces: bytes, pause: float = 0.02) -> Responder:
    """Write bytes straight to the socket, pausing between pieces so they arrive in separate reads."""

    def respond(h: BaseHTTPRequestHandler) -> None:
        for piece in pieces:
            h.wfile.write(piece)
            time.sleep(pause)

    return respond


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        out = b""
        while True:
            size = int(h.rfile.readline().strip(), 16)
            if size == 0:
                h.rfile.readline()
                return out
            out += h.rfile.read(size)
            h.rfile.readline()
    return h.rfile.read(int(h.headers.get("Content-Length") or 0))


@pytest.fixture
def daemon() -> Iterator[FakeDaemon]:
    base = Path(tempfile.mkdtemp(prefix="dyc-", dir="/tmp"))  # short: UNIX socket paths are limited
    fake = FakeDaemon(base / "d.sock")

    class Handler(BaseHTTPRequestHandler):
        def handle_one_request(self) -> None:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline or not self.parse_request():
                self.close_connection = True
                return
            fake.seen.append(Seen(self.command, self.path, dict(self.headers), _read_body(self)))
            route = fake.routes.get((self.command, self.path.split("?", 1)[0]))
            self.close_connection = True
            try:
                (route or reply(404, {"message": "page not found"}))(self)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client had all it wanted (a 204's headers) and hung up

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = socketserver.ThreadingUnixStreamServer(str(fake.socket), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(2)
        shutil.rmtree(base, ignore_errors=True)


V = f"/v{http.API_VERSION}"


# -- requests --------------------------------------------------------------------------


def test_every_path_carries_the_api_version_prefix(daemon: FakeDaemon) -> None:
    daemon.routes[("GET", f"{V}/version")] = reply(200, {"ApiVersion": "1.51"})
    assert Client(daemon.host).json("GET", "/version") == {"ApiVersion": "1.51"}
    assert daemon.paths() == ["/v1.51/version"]


def test_params_bools_are_1_or_0_none_is_dropped_lists_repeat(daemon: FakeDaemon) -> None:
    daemon.routes[("GET", f"{V}/containers/json")] = reply(200, [])
    Client(daemon.host).json("GET", "/containers/json",
                             {"all": True, "size": False, "name": None, "changes": ["CMD x", "ENV a=b"]})
    (seen,) = daemon.seen
    path, _, query = seen.path.partition("?")
    assert path == "/v1.51/containers/json"
    assert query.split("&") == ["all=1", "size=0", "changes=CMD+x", "changes=ENV+a%3Db"]


def test_a_dict_body_is_sent_as_json(daemon: FakeDaemon) -> None:
    daemon.routes[("POST", f"{V}/containers/create")] = reply(201, {"Id": "abc", "Warnings": []})
    out = Client(daemon.host).json("POST", "/containers/create", {"name": "x"}, {"Image": "busybox"})
    assert out == {"Id": "abc", "Warnings": []}
    (seen,) = daemon.seen
    assert seen.path == "/v1.51/containers/create?name=x"
    assert seen.headers["Content-Type"] == "application/json"
    assert json.loads(seen.body) == {"Image": "busybox"}


def test_an_empty_answer_is_none(daemon: FakeDaemon) -> None:
    daemon.routes[("POST", f"{V}/containers/x/start")] = reply(204)
    assert Client(daemon.host).json("POST", "/containers/x/start") is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, errors.InvalidArgument), (403, errors.PermissionDenied), (404, errors.NotFound), (409, errors.Conflict),
     (501, errors.NotImplementedYet), (503, errors.Unavailable), (500, errors.Internal)],
)
def test_error_statuses_become_error_kinds_with_the_daemons_message(
        daemon: FakeDaemon, status: int, kind: type[errors.DockyardError]) -> None:
    daemon.routes[("GET", f"{V}/containers/x/json")] = reply(status, {"message": f"the reason {status}"})
    with pytest.raises(kind) as info:
        Client(daemon.host).json("GET", "/containers/x/json")
    assert isinstance(info.value, DaemonError)  # the daemon said it: kept apart from the CLI's own errors
    assert info.value.status == status
    assert str(info.value) == f"the reason {status}"


def test_a_non_json_error_body_is_the_message(daemon: FakeDaemon) -> None:
    daemon.routes[("GET", f"{V}/info")] = reply(500, b"plain failure\n", "text/plain")
    with pytest.raises(errors.Internal, match="^plain failure$"):
        Client(daemon.host).json("GET", "/info")


def test_json_stream_yields_each_line_and_sends_iterables_chunked(daemon: FakeDaemon) -> None:
    daemon.routes[("POST", f"{V}/images/create")] = reply(
        200, b'{"status":"one"}\n\n{"status":"sha256:abc"}\n')
    body = iter([b"tar-part-1", b"tar-part-2"])
    msgs = list(Client(daemon.host).json_stream("POST", "/images/create", {"fromSrc": "-"}, body,
                                                {"Content-Type": "application/x-tar"}))
    assert msgs == [{"status": "one"}, {"status": "sha256:abc"}]
    (seen,) = daemon.seen
    assert seen.headers["Transfer-Encoding"] == "chunked"
    assert seen.body == b"tar-part-1tar-part-2"


def test_no_daemon_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(errors.Unavailable, match="Cannot connect to the Dockyard daemon"):
        Client(f"unix://{tmp_path}/none.sock").json("GET", "/_ping")


def test_unix_and_tcp_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.InvalidArgument):
        Client("ssh2://127.0.0.1:2375")
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    assert Client("tcp://127.0.0.1:2375").tcp == ("127.0.0.1", 2375)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", "/certs")
    c = Client("tcp://127.0.0.1")
    assert c.tcp == ("127.0.0.1", 2376) and c.tls.verify and c.tls.cacert == "/certs/ca.pem"
    monkeypatch.delenv("DOCKER_TLS_VERIFY")
    monkeypatch.delenv("DOCKYARD_HOST", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///x.sock")
    assert Client().socket_path == "/x.sock"
    monkeypatch.setenv("DOCKYARD_HOST", "unix:///y.sock")
    assert Client().socket_path == "/y.sock"


# -- hijack and demux --------------------------------------------------------------------------

UPGRADED = (b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n"
            b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")


def frame(stream: int, data: bytes) -> bytes:
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


def test_hijack_upgrades_then_demux_reassembles_frames_split_anywhere(daemon: FakeDaemon) -> None:
    stream = frame(1, b"hello ") + frame(2, b"oops\n") + frame(1, b"x" * 70000)
    # The head and the frames arrive in awkward pieces: inside the header, inside a payload.
    daemon.routes[("POST", f"{V}/containers/c1/attach")] = raw(
        UPGRADED + stream[:3], stream[3:10], stream[10:20], stream[20:], pause=0.03)
    sock = Client(daemon.host).hijack("/containers/c1/attach", {"stream": 1, "stdout": True})
    try:
        frames = list(http.demux(sock))
    finally:
        sock.close()
    assert frames == [(1, b"hello "), (2, b"oops\n"), (1, b"x" * 70000)]
    (seen,) = daemon.seen
    assert seen.path == "/v1.51/containers/c1/attach?stream=1&stdout=1"
    assert seen.headers["Connection"] == "Upgrade" and seen.headers["Upgrade"] == "tcp"


class Chunks:
    """A socket whose reads return exactly the given pieces, then EOF."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = list(pieces)

    def recv(self, n: int) -> bytes:
        return self.pieces.pop(0)[:n] if self.pieces else b""


def test_demux_across_every_possible_read_boundary() -> None:
    data = frame(1, b"abc") + frame(2, b"") + frame(2, b"defg")
    for cut in range(1, len(data)):
        got = list(http.demux(Chunks(data[:cut], data[cut:])))  # type: ignore[arg-type]
        assert got == [(1, b"abc"), (2, b""), (2, b"defg")], cut


def test_demux_byte_by_byte_and_drops_a_truncated_tail() -> None:
    data = frame(1, b"whole") + frame(1, b"cut short")[:-3]
    assert list(http.demux(Chunks(*(data[i:i + 1] for i in range(len(data)))))) == [(1, b"whole")]  # type: ignore[arg-type]


def test_hijack_error_status_raises_the_kind_with_the_message(daemon: FakeDaemon) -> None:
    daemon.routes[("POST", f"{V}/containers/nope/attach")] = reply(404, {"message": "No such container: nope"})
    with pytest.raises(errors.NotFound, match="^No such container: nope$"):
        Client(daemon.host).hijack("/containers/nope/attach", {"stream": 1})


# -- the CLI over the client -------------------------------------------------------------------


def test_run_streams_output_and_exits_with_the_containers_code(
        daemon: FakeDaemon, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    daemon.routes[("POST", f"{V}/containers/create")] = reply(201, {"Id": "c1", "Warnings": []})
    daemon.routes[("POST", f"{V}/containers/c1/attach")] = raw(UPGRADED, frame(1, b"out\n") + frame(2, b"err\n"))
    daemon.routes[("POST", f"{V}/containers/c1/wait")] = reply(200, {"StatusCode": 3, "Error": None})
    daemon.routes[("POST", f"{V}/containers/c1/start")] = reply(204)
    rc = cli.main(["-H", daemon.host, "run", "--rm", "busybox", "sh", "-c", "exit 3"])
    out = capsysbinary.readouterr()
    assert rc == 3
    assert (out.out, out.err) == (b"out\n", b"err\n")
    create = daemon.seen[0]
    assert json.loads(create.body)["Cmd"] == ["sh", "-c", "exit 3"]
    assert json.loads(create.body)["HostConfig"]["AutoRemove"] is True
    wait = next(s for s in daemon.seen if "/wait" in s.path)
    assert wait.path.endswith("?condition=removed")


@pytest.mark.parametrize("command", ["run", "create"])
def test_run_and_create_exit_125_when_the_daemon_refuses(
        daemon: FakeDaemon, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    # docker run/create exit 125 when the daemon itself fails (here: no such image).
    daemon.routes[("POST", f"{V}/containers/create")] = reply(404, {"message": "No such image: nosuch:latest"})
    rc = cli.main(["-H", daemon.host, command, "--pull", "never", "nosuch"])
    err = capsys.readouterr().err
    assert err == (f"dockyard: Error response from daemon: No such image: nosuch:latest.\n"
                   f"See 'dockyard {command} --help'.\n")
    assert rc == 125
    assert not any("/images/create" in p for p in daemon.paths())


def _created_after_pull(daemon: FakeDaemon) -> Responder:
    """POST /containers/create: 404 No such image until the image was pulled."""

    def respond(h: BaseHTTPRequestHandler) -> None:
        if any("/images/create" in p for p in daemon.paths()):
            reply(201, {"Id": "c0ffee", "Warnings": []})(h)
        else:
            reply(404, {"message": "No such image: busybox:latest"})(h)

    return respond


@pytest.mark.parametrize("command", ["run", "create"])
def test_a_missing_image_is_pulled_then_created(
        daemon: FakeDaemon, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    progress = b"".join(json.dumps(m).encode() + b"\n" for m in (
        {"status": "Pulling from library/busybox", "id": "latest"},
        {"status": "Pull complete", "progressDetail": {}, "id": "abc"},
        {"status": "Status: Downloaded newer image for busybox:latest"}))
    daemon.routes[("POST", f"{V}/containers/create")] = _created_after_pull(daemon)
    daemon.routes[("POST", f"{V}/images/create")] = reply(200, progress)
    daemon.routes[("POST", f"{V}/containers/c0ffee/start")] = reply(204)
    args = ["-d"] if command == "run" else []
    assert cli.main(["-H", daemon.host, command, *args, "busybox"]) == 0
    out = capsys.readouterr()
    assert out.out == "c0ffee\n"
    assert out.err.splitlines() == ["Unable to find image 'busybox:latest' locally", "latest: Pulling from library/busybox",
                                    "abc: Pull complete", "Status: Downloaded newer image for busybox:latest"]
    pulls = [p for p in daemon.paths() if "/images/create" in p]
    assert len(pulls) == 1 and "fromImage=busybox" in pulls[0] and "tag=latest" in pulls[0]
    assert [p.split("?")[0] for p in daemon.paths()].count(f"{V}/containers/create") == 2


def test_pull_always_pulls_first_and_a_pull_error_is_one_line(
        daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    daemon.routes[("POST", f"{V}/images/create")] = reply(200, b'{"error": "manifest unknown"}\n')
    assert cli.main(["-H", daemon.host, "create", "--pull", "always", "busybox"]) == 1
    assert capsys.readouterr().err == "manifest unknown\n"
    assert daemon.paths()[0].startswith(f"{V}/images/create")


def test_other_commands_exit_1_on_daemon_errors(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    daemon.routes[("GET", f"{V}/containers/x/logs")] = reply(404, {"message": "No such container: x"})
    daemon.routes[("GET", f"{V}/containers/x/json")] = reply(404, {"message": "No such container: x"})
    assert cli.main(["-H", daemon.host, "logs", "x"]) == 1
    assert "No such container: x" in capsys.readouterr().err
