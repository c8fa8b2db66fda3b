"""The commands that talk to the daemon (filled in below ``config``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def register(cmd: Callable[[str, str], Any]) -> None:
    pass


def run(args: Any, client_factory: Callable[[], Any]) -> int:
    raise NotImplementedError
