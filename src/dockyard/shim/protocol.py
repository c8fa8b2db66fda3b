"""The shim's wire protocol: one JSON object per line over its UNIX socket.

Request ``{"method": "start", "id": "<task>", "params": {...}}`` (without ``id``: the shim's
first task); reply ``{"result": {...}}`` or
``{"error": {"kind": "...", "message": "..."}}`` (kinds from ``dockyard.errors``).
Kept in its own tiny module so the shim process imports nothing heavy.
"""

from __future__ import annotations

import json
from typing import Any

METHODS = ("add", "create", "start", "kill", "wait", "state", "delete", "shutdown", "exec", "resize", "close_io", "pause",
           "resume", "pids", "stats", "update")


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValueError("shim message is not a JSON object")
    return obj
