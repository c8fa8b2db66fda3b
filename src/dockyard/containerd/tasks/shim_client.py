"""Async client of one task in a shim (the JSON-lines protocol of ``dockyard.shim``): the shim's
socket and the task's ID (a pod's shim holds several)."""

from __future__ import annotations

import asyncio
from typing import Any

from dockyard import errors
from dockyard.shim.protocol import decode, encode


class ShimClient:
    def __init__(self, socket_path: str, task_id: str = "") -> None:
        self.socket_path = socket_path
        self.task_id = task_id

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        try:
            reader, writer = await asyncio.open_unix_connection(self.socket_path, limit=1 << 20)
        except (FileNotFoundError, ConnectionRefusedError) as err:
            raise errors.Unavailable(f"shim {self.socket_path}: not reachable: {err}") from err
        try:
            request: dict[str, Any] = {"method": method, "params": params}
            if self.task_id:
                request["id"] = self.task_id
            writer.write(encode(request))
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
