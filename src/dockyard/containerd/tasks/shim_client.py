"""Async client of one shim's socket (the JSON-lines protocol of ``dockyard.shim``)."""

from __future__ import annotations

import asyncio
from typing import Any

from dockyard import errors
from dockyard.shim.protocol import decode, encode


class ShimClient:
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        try:
            reader, writer = await asyncio.open_unix_connection(self.socket_path, limit=1 << 20)
        except (FileNotFoundError, ConnectionRefusedError) as err:
            raise errors.Unavailable(f"shim {self.socket_path}: not reachable: {err}") from err
        try:
            writer.write(encode({"method": method, "params": params}))
            await writer.drain()
            line = await reader.readline()
        except ConnectionError as err:  # the shim exited between accept and reply
            raise errors.Unavailable(f"shim {self.socket_path}: {method}: {err}") from err
        finally:
            writer.close()
        if not line:
            raise errors.Unavailable(f"shim {self.socket_path}: closed the connection during {method}")
        reply = decode(line)
        if "error" in reply:
            raise errors.from_kind(reply["error"].get("kind", "internal"), reply["error"].get("message", ""))
        result = reply.get("result") or {}
        assert isinstance(result, dict)
        return result
