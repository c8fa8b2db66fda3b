"""A small in-memory event bus: what `docker events` shows, with a bounded history for --since.

Every container/image/... action the engine takes is published once here; each
`GET /events` subscriber gets its own queue, and filtering happens per subscriber.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

HISTORY = 1024


class EventBus:
    def __init__(self) -> None:
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.subscribers: list[asyncio.Queue[dict[str, Any]]] = []

    def publish(self, type: str, action: str, id: str, attributes: dict[str, str] | None = None) -> dict[str, Any]:
        now = time.time_ns()
        attrs = dict(attributes or {})
        event: dict[str, Any] = {"Type": type, "Action": action, "Actor": {"ID": id, "Attributes": attrs},
                                 "scope": "local", "time": now // 1_000_000_000, "timeNano": now}
        if type == "container":  # the fields of API < 1.22 that the docker CLI still reads
            event.update(status=action, id=id, **({"from": attrs["image"]} if "image" in attrs else {}))
        self.history.append(event)
        for q in self.subscribers:
            q.put_nowait(event)
        return event

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.subscribers.append(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        if q in self.subscribers:
            self.subscribers.remove(q)


def matches(event: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """Docker's rule: values of one key are OR'ed, keys are AND'ed."""
    actor = event["Actor"]
    attrs = actor.get("Attributes") or {}
    for key, values in filters.items():
        if not values:
            continue
        if key == "type":
            ok = event["Type"] in values
        elif key == "event":
            ok = any(event["Action"] == v or event["Action"].split(":")[0] == v for v in values)
        elif key in ("container", "image", "volume", "network"):
            ok = event["Type"] == key and any(
                actor["ID"].startswith(v) or attrs.get("name") == v or attrs.get("image") == v for v in values)
        elif key == "label":
            ok = all(attrs.get(k) == val if sep else k in attrs
                     for k, sep, val in (v.partition("=") for v in values))
        elif key == "scope":
            ok = event.get("scope") in values
        else:
            ok = True
        if not ok:
            return False
    return True
