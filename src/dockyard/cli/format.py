"""Output helpers for the CLI: Docker's tables, short IDs, human sizes and ages."""

from __future__ import annotations

import time


def short_id(id: str) -> str:
    return id.removeprefix("sha256:")[:12]


def human_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n}"


def ago(epoch: float) -> str:
    secs = max(0, int(time.time() - epoch))
    if secs < 60:
        return f"{secs} seconds ago" if secs != 1 else "1 second ago"
    if secs < 3600:
        m = secs // 60
        return "About a minute ago" if m == 1 else f"{m} minutes ago"
    h = secs // 3600
    if h < 48:
        return "About an hour ago" if h == 1 else f"{h} hours ago"
    return f"{h // 24} days ago"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = []
    for row in [headers, *rows]:
        cells = [c.ljust(w) for c, w in zip(row, widths)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def filters(items: list[str]) -> dict[str, list[str]]:
    """``--filter k=v`` flags as the Engine API's ``filters`` map."""
    out: dict[str, list[str]] = {}
    for item in items:
        k, _, v = item.partition("=")
        out.setdefault(k, []).append(v)
    return out


def timestamp(value: str) -> str | None:
    """``--since``/``--until`` as the API wants them (epoch seconds): docker turns ``10m`` into now-10m."""
    import re

    if not value:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", value)
    if m:
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        return f"{time.time() - float(m.group(1)) * scale:.9f}"
    if "T" in value or "-" in value:
        from datetime import datetime

        try:
            return f"{datetime.fromisoformat(value.replace('Z', '+00:00')).timestamp():.9f}"
        except ValueError:
            return value
    return value


def print_objects(objects: list[object], template: str = "") -> None:
    """``inspect`` output: each object through ``--format``, or the JSON array docker prints."""
    if template:
        from dockyard.cli.template import render

        for obj in objects:
            print(render(template, obj))
        return
    import json

    print(json.dumps(objects, indent=4))
