"""The streaming server's SPDY/3.1 side, driven by a small client over real TCP (no daemon):
the HTTP upgrade, zlib header blocks with SPDY's dictionary, streams, exit status on ``error``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from dockyard import errors
from dockyard.cri import spdy
from dockyard.cri.streaming import CHANNEL_V4, StreamServer, status_json
from tests.integration.cri.spdy_client import upgrade


class FakeRuntime:
    def __init__(self) -> None:
        self.stdin: list[bytes] = []

    async def exec_stream(self, id: str, cmd: list[str], tty: bool, io: Any) -> int:
        if id == "gone":
            raise errors.NotFound("no such container")
        if io.stdin is not None:
            async for data in io.stdin.chunks():
                self.stdin.append(data)
        await io.write("stdout", " ".join(cmd).encode() + b"\n")
        await io.write("stderr", b"warn\n")
        return 3


async def _exec(server: StreamServer, container: str, stdin: bytes | None) -> tuple[bytes, dict[str, bytes], set[int]]:
    req = SimpleNamespace(container_id=container, cmd=["echo", "hi"], tty=False, stdin=stdin is not None,
                          stdout=True, stderr=True)
    client, head = await upgrade(server.register("exec", req))
    assert head.startswith(b"HTTP/1.1 101"), head
    assert f"X-Stream-Protocol-Version: {CHANNEL_V4}".encode() in head
    ids = {name: client.open(name) for name in ("error", "stdout", "stderr")}
    if stdin is not None:
        ids["stdin"] = client.open("stdin")
        client.writer.write(spdy.data_frame(ids["stdin"], spdy.FLAG_FIN, stdin))
    data: dict[int, bytes] = {}
    fins: set[int] = set()
    replies = 0
    async for first, flags, payload in client.frames():
        if first & 0x80000000:
            if first & 0xFFFF == spdy.SYN_REPLY:
                client.inflate.decompress(payload[4:])
                replies += 1
            continue
        data[first] = data.get(first, b"") + payload
        if flags & spdy.FLAG_FIN:
            fins.add(first)
    client.writer.close()
    assert replies == len(ids)
    by_name = {name: data.get(id, b"") for name, id in ids.items()}
    return by_name.pop("error"), by_name, fins & set(ids.values())


def with_server(scenario: Callable[[StreamServer], Awaitable[None]]) -> None:
    async def run() -> None:
        srv = StreamServer(FakeRuntime(), "127.0.0.1:0")
        await srv.start()
        try:
            await scenario(srv)
        finally:
            await srv.stop()

    asyncio.run(run())


def test_exec_over_spdy_streams_output_and_exit_code() -> None:
    with_server(_exec_with_stdin)


async def _exec_with_stdin(server: StreamServer) -> None:
    error, out, fins = await _exec(server, "c1", stdin=b"input bytes")
    status = json.loads(error)
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert out == {"stdout": b"echo hi\n", "stderr": b"warn\n", "stdin": b""}
    assert len(fins) == 4  # error, stdout, stderr, stdin: each got its FIN
    assert server.rt.stdin == [b"input bytes"]


def test_exec_of_a_vanished_container_is_a_failure_status() -> None:
    with_server(_exec_vanished)


async def _exec_vanished(server: StreamServer) -> None:
    error, out, _ = await _exec(server, "gone", stdin=None)
    assert json.loads(error) == {"metadata": {}, "status": "Failure", "message": "no such container"}
    assert out == {"stdout": b"", "stderr": b""}


def test_a_token_is_single_use() -> None:
    with_server(_token_twice)


async def _token_twice(server: StreamServer) -> None:
    url = server.register("exec", SimpleNamespace(container_id="c1", cmd=["x"], tty=False, stdin=False,
                                                  stdout=True, stderr=False))
    first, head = await upgrade(url)
    assert head.startswith(b"HTTP/1.1 101")
    second, head2 = await upgrade(url)
    assert head2.startswith(b"HTTP/1.1 404"), head2
    first.writer.close()
    second.writer.close()


def test_a_client_without_the_protocol_is_refused() -> None:
    with_server(_wrong_protocol)


async def _wrong_protocol(server: StreamServer) -> None:
    url = server.register("portforward", SimpleNamespace(pod_sandbox_id="p"))
    client, head = await upgrade(url, protocol="v4.channel.k8s.io")
    assert head.startswith(b"HTTP/1.1 403"), head
    client.writer.close()


def test_status_json_success() -> None:
    assert json.loads(status_json(0)) == {"metadata": {}, "status": "Success"}


def test_header_block_round_trip() -> None:
    block = spdy.encode_headers({"streamType": "stdout", "port": "80"})
    assert spdy.decode_headers(block) == {"streamtype": "stdout", "port": "80"}


def test_a_websocket_upgrade_is_refused_and_the_token_kept_for_spdy() -> None:
    with_server(_websocket_then_spdy)


async def _websocket_then_spdy(server: StreamServer) -> None:
    url = server.register("exec", SimpleNamespace(container_id="c1", cmd=["x"], tty=False, stdin=False,
                                                  stdout=True, stderr=False))
    host_port, path = url.removeprefix("http://").split("/", 1)
    host, port = host_port.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                 "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n".encode())
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 400")
    writer.close()
    client, head = await upgrade(url)
    assert head.startswith(b"HTTP/1.1 101"), head
    client.writer.close()
