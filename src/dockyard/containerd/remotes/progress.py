"""Progress events of pulls and pushes, as the Transfer service streams them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dockyard.types import Descriptor


@dataclass(frozen=True)
class Event:
    id: str  # short layer id ("" for the whole image)
    status: str
    current: int = 0
    total: int = 0
    detail: str = ""
    target: Descriptor | None = None


Emit = Callable[[Event], None]


def short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


@dataclass
class Throttle:
    """Rate-limit byte progress to ~10 events a second per blob (plus the last one)."""

    interval: float = 0.1
    _last: dict[str, float] = field(default_factory=dict)

    def due(self, key: str, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self._last.get(key, 0.0) >= self.interval:
            self._last[key] = now
            return True
        return False
