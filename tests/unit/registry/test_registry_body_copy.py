"""The pipelined body copy (app._copy_body): batches handed to the writer thread keep order and digest."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from dockyard.registry.app import _BATCH, Registry


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def _trickle(data: bytes, piece: int) -> AsyncIterator[bytes]:
    """Send in pieces with a pause now and then, so both flush paths (full batch, idle socket) run."""
    for i in range(0, len(data), piece):
        if i % (piece * 8) == 0:
            await asyncio.sleep(0.005)
        yield data[i:i + piece]


async def _scenario(root: Path) -> None:
    reg = Registry(root)
    client = TestClient(TestServer(reg.app()))
    await client.start_server()
    try:
        data = os.urandom(2 * _BATCH + 12345)  # two full batches and a tail
        r = await client.post("/v2/b/copy/blobs/uploads/")
        assert r.status == 202
        loc = r.headers["Location"]
        r = await client.patch(loc, data=_trickle(data[:_BATCH + 7], 200_000))
        assert r.status == 202 and r.headers["Range"] == f"0-{_BATCH + 6}"
        r = await client.put(f"{loc}?digest={_sha(data)}", data=_trickle(data[_BATCH + 7:], 300_000))
        assert r.status == 201, await r.text()
        r = await client.get(f"/v2/b/copy/blobs/{_sha(data)}")
        assert r.status == 200 and await r.read() == data

        bad = os.urandom(_BATCH + 1)  # monolithic POST whose bytes do not match the digest
        r = await client.post(f"/v2/b/copy/blobs/uploads/?digest={_sha(bad[:-1])}", data=bad)
        assert r.status == 400 and (await r.json())["errors"][0]["code"] == "DIGEST_INVALID"
        r = await client.head(f"/v2/b/copy/blobs/{_sha(bad[:-1])}")
        assert r.status == 404
    finally:
        await client.close()
        reg.close()


def test_registry_pipelined_upload_keeps_order_and_digest(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))
