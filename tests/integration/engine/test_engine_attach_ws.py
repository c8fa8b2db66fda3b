"""``GET /containers/{id}/attach/ws``: docker-py's ``attach_socket(ws=True)`` (its CI runs over TCP,
where the websocket works): raw output in binary frames (text before API 1.28), stdin from the
client's messages; before, the route was a 404."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root


def _create(d: Daemon, *args: str) -> str:
    r = d.cli("create", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


async def _session(d: Daemon) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(d.socket)))


def test_output_comes_in_binary_frames_then_the_socket_closes(daemon: Daemon) -> None:
    id = _create(daemon, "busybox", "sh", "-c", "printf 'hi there'")

    async def scenario() -> list[aiohttp.WSMessage]:
        async with await _session(daemon) as s, \
                s.ws_connect(f"http://d/v1.45/containers/{id}/attach/ws?stdout=1&stream=1&logs=1") as ws:
            assert daemon.cli("start", id).returncode == 0
            msgs = []
            while (msg := await asyncio.wait_for(ws.receive(), 20)).type not in (
                    aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                msgs.append(msg)
            return msgs

    try:
        msgs = asyncio.run(scenario())
        assert [m.type for m in msgs] == [aiohttp.WSMsgType.BINARY]
        assert msgs[0].data == b"hi there"  # not multiplexed: no 8-byte header
    finally:
        daemon.cli("rm", "-f", id)


def test_stdin_from_the_client_and_text_frames_before_128(daemon: Daemon) -> None:
    id = _create(daemon, "-i", "busybox", "cat")

    async def scenario() -> str:
        async with await _session(daemon) as s, \
                s.ws_connect(f"http://d/v1.27/containers/{id}/attach/ws?stream=1") as ws:
            assert daemon.cli("start", id).returncode == 0
            await ws.send_bytes(b"ping\n")
            msg = await asyncio.wait_for(ws.receive(), 20)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            return str(msg.data)

    try:
        assert asyncio.run(scenario()) == "ping\n"
    finally:
        daemon.cli("rm", "-f", id)


def test_a_missing_container_is_a_404_before_the_upgrade(daemon: Daemon) -> None:
    async def scenario() -> tuple[int, str]:
        async with await _session(daemon) as s:
            try:
                await s.ws_connect("http://d/v1.45/containers/nope-ws/attach/ws?stream=1")
            except aiohttp.WSServerHandshakeError as err:
                return err.status, err.message
            return 101, ""

    status, _ = asyncio.run(scenario())
    assert status == 404
