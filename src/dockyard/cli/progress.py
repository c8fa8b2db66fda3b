"""Docker's JSON progress streams (pull, push, load, import) shown as the docker CLI shows them
(``jsonmessage.DisplayJSONMessagesStream``): on a terminal one line per layer, redrawn in place
with a bar; otherwise the status lines alone, without the byte counts."""

from __future__ import annotations

import os
import time

from dockyard.cli.errors import StatusError
from dockyard.cli.format import human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, TextIO


def bar(detail: dict[str, Any], width: int, now: float | None = None) -> str:
    """JSONProgress.String: ``[====>     ]  1.2MB/4.5MB 3s``."""
    current, total = int(detail.get("current") or 0), int(detail.get("total") or 0)
    units = detail.get("units") or ""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current, 4):>8}" if not units else f"{current} {units}"
    percentage = min(50, int(current / total * 100) // 2)
    box = f"[{'=' * percentage}>{' ' * max(0, 50 - percentage)}] " if width > 110 else ""
    if detail.get("hidecounts"):
        numbers = ""
    elif not units:
        numbers = f"{human_size(current, 4):>8}/{human_size(total, 4)}"
        if current > total:
            numbers = f"{human_size(current, 4):>8}"
    else:
        numbers = f"{current}/{total} {units}" if current <= total else f"{current} {units}"
    left = ""
    start = detail.get("start") or 0
    if current > 0 and start > 0 and percentage < 50 and width > 50:
        elapsed = (now or time.time()) - start
        remaining = int(elapsed / current * (total - current))
        left = " " + _go_duration(remaining)
    return box + numbers + left


def _go_duration(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


def _line(msg: dict[str, Any], tty: bool, width: int) -> str | None:
    """JSONMessage.Display, without the line control; None when nothing is shown."""
    detail = msg.get("progressDetail")
    progress = bar(detail, width) if isinstance(detail, dict) else ""
    if not tty and progress:
        return None
    text = ""
    if msg.get("id"):
        text += f"{msg['id']}: "
    if msg.get("from"):
        text += f"(from {msg['from']}) "
    if tty and detail is not None:
        return text + f"{msg.get('status', '')} {progress}"
    if msg.get("progress") and tty:
        return text + f"{msg.get('status', '')} {msg['progress']}"
    if msg.get("stream"):
        return text + msg["stream"]
    return text + f"{msg.get('status', '')}\n"


def show(messages: Iterable[dict[str, Any]], out: TextIO, quiet: bool = False) -> list[dict[str, Any]]:
    """Print a progress stream; a message with ``error`` ends it as a StatusError. Returns the
    ``aux`` payloads (digests, image IDs)."""
    tty = out.isatty() and not quiet
    try:
        width = os.get_terminal_size(out.fileno()).columns if tty else 200
    except OSError:
        width = 200
    ids: dict[str, int] = {}
    aux = []
    for msg in messages:
        if msg.get("error") or msg.get("errorDetail"):
            message = msg.get("error") or (msg.get("errorDetail") or {}).get("message", "")
            raise StatusError(message)
        if "aux" in msg:
            aux.append(msg["aux"])
            continue
        if quiet:
            continue
        diff = 0
        if msg.get("id") and msg.get("progressDetail") is not None:
            line = ids.get(msg["id"])
            if line is None:
                line = ids[msg["id"]] = len(ids)
                if tty:
                    out.write("\n")
            diff = len(ids) - line
            if tty:
                out.write(f"\x1b[{diff}A")
        else:
            ids = {}
        text = _line(msg, tty, width)
        if text is not None:
            if tty and msg.get("progressDetail") is not None and not msg.get("stream"):
                out.write("\x1b[2K\r" + text + "\r")
            else:
                out.write(text)
        if msg.get("id") and tty and diff:
            out.write(f"\x1b[{diff}B")
        out.flush()
    return aux
