"""Output helpers for the CLI, as the docker CLI prints: Go's tabwriter, short IDs, go-units sizes
and durations, strconv.Quote, natural sort, the PORTS column."""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# tabwriter.NewWriter(out, 10, 1, 3, ' ', 0): the docker CLI's tables.
MIN_WIDTH = 10
PADDING = 3


def short_id(id: str) -> str:
    """stringid.TruncateID: what follows the algorithm, 12 characters."""
    return id.partition(":")[2][:12] if ":" in id else id[:12]


def human_size(n: float, precision: int = 3) -> str:
    """units.HumanSizeWithPrecision: decimal units, ``%.3g``."""
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    i = 0
    n = float(n)
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    return f"{n:.{precision}g}{units[i]}"


def bytes_size(n: float) -> str:
    """units.BytesSize: binary units, ``%.4g``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
    i = 0
    n = float(n)
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return f"{n:.4g}{units[i]}"


def human_duration(seconds: float) -> str:
    """units.HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def ago(epoch: float) -> str:
    return human_duration(time.time() - epoch) + " ago"


def go_time(epoch: float) -> str:
    """Go's Time.String() in local time: ``2006-01-02 15:04:05 -0700 MST``."""
    t = time.localtime(epoch)
    return time.strftime("%Y-%m-%d %H:%M:%S %z ", t) + (time.strftime("%Z", t) or "UTC")


def ellipsis(text: str, width: int) -> str:
    """formatter.Ellipsis: at most ``width`` characters, the last one ``…`` when cut."""
    if len(text) <= width:
        return text
    return text[:width - 1] + "…"


def go_quote(text: str) -> str:
    """strconv.Quote for the text docker quotes (commands)."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def natural_key(text: str) -> list[Any]:
    """sortorder.NaturalLess as a sort key: digit runs compare as numbers."""
    parts: list[str] = []
    for ch in text:
        if parts and parts[-1][-1].isdigit() == ch.isdigit():
            parts[-1] += ch
        else:
            parts.append(ch)
    return [(0, int(part), part) if part.isdigit() else (1, 0, part) for part in parts]


def tabwrite(text: str, min_width: int = MIN_WIDTH, padding: int = PADDING) -> str:
    """Go's text/tabwriter (padchar ' ', no flags) over whole lines: tab-terminated cells form
    columns, the text after a line's last tab is not part of one. A column spans the block of
    consecutive lines that have a cell in it; its width is the widest cell plus ``padding``,
    at least ``min_width``."""
    lines = [line.split("\t") for line in text.split("\n")]
    out = ["" for _ in lines]
    _format(lines, out, 0, 0, len(lines), [], min_width, padding)
    return "\n".join(out)


def _format(lines: list[list[str]], out: list[str], column: int, start: int, end: int, widths: list[int],
            min_width: int, padding: int) -> None:
    this = start
    while this < end:
        if column >= len(lines[this]) - 1:
            _write(lines, out, this, widths)
            this += 1
            continue
        block = this
        width = min_width
        while this < end and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + padding)
            this += 1
        _format(lines, out, column + 1, block, this, [*widths, width], min_width, padding)


def _write(lines: list[list[str]], out: list[str], i: int, widths: list[int]) -> None:
    cells = lines[i]
    parts = []
    for j, cell in enumerate(cells):
        parts.append(cell)
        if j < len(widths) and j < len(cells) - 1:
            parts.append(" " * (widths[j] - len(cell)))
    out[i] = "".join(parts)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A docker table: the cells of each line tab-separated through ``tabwrite``."""
    return tabwrite("\n".join("\t".join(row) for row in [headers, *rows]))


def display_ports(ports: list[dict[str, Any]]) -> str:
    """formatter.DisplayablePorts (docker 20.10): consecutive ports of one IP and protocol
    collapse to ranges, ``0.0.0.0:8080->80/tcp`` for a mapping to another port."""
    ports = sorted(ports, key=lambda p: (p.get("PrivatePort", 0), p.get("IP", ""), p.get("PublicPort", 0),
                                         p.get("Type", "")))
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    mappings: list[str] = []
    for p in ports:
        current = p.get("PrivatePort", 0)
        key = p.get("Type", "")
        if p.get("IP"):
            if p.get("PublicPort") != current:
                mappings.append(f"{p['IP']}:{p.get('PublicPort', 0)}->{current}/{p.get('Type', '')}")
                continue
            key = f"{p['IP']}/{p.get('Type', '')}"
        group = groups.get(key)
        if group is None:
            groups[key] = [current, current]
            order.append(key)
        elif current == group[1] + 1:
            group[1] = current
        else:
            result.append(_port_group(key, *group))
            groups[key] = [current, current]
    result += [_port_group(key, *groups[key]) for key in order]
    return ", ".join(result + mappings)


def _port_group(key: str, first: int, last: int) -> str:
    ip, _, kind = key.rpartition("/")
    group = str(first) if first == last else f"{first}-{last}"
    if ip:
        group = f"{ip}:{group}->{group}"
    return f"{group}/{kind}"


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
    if template and template != "json":
        from dockyard.cli.template import render_one

        errors = ("template parsing error: ", "template parsing error: ")  # docker 20.10's inspect words
        for obj in objects:
            print(render_one(template, obj, prefixes=errors, keep_partial=False))
        return
    import json

    if template == "json":
        for obj in objects:
            print(json.dumps(obj, separators=(",", ":")))
        return
    print(json.dumps(objects, indent=4))


def no_such(kind: str, ref: str) -> str:
    """What the docker CLI prints for a 404 on an object's own endpoint."""
    return f"Error: No such {kind}: {ref}"


def inspect_all(c: Any, refs: list[str], path: str, kind: str, template: str = "") -> int:
    """``<kind> inspect``: the objects found (the JSON array, or each through ``--format``), then an
    ``Error: No such <kind>`` line for each one missing; exit 1 if any was."""
    import sys

    from dockyard.client.errors import DaemonNotFound

    found, missing = [], []
    for ref in refs:
        try:
            found.append(c.json("GET", path.format(ref)))
        except DaemonNotFound:
            missing.append(no_such(kind, ref))
    print_objects(found, template)
    for line in missing:
        print(line, file=sys.stderr)
    return 1 if missing else 0


def remove_all(c: Any, refs: list[str], path: str, kind: str, params: dict[str, Any] | None = None) -> int:
    """``rm``-like commands: DELETE each, print its name, report each failure as docker does, exit 1 if any."""
    import sys

    from dockyard import errors
    from dockyard.client.errors import DaemonNotFound

    rc = 0
    for ref in refs:
        try:
            c.request("DELETE", path.format(ref), params).read()
            print(ref)
        except DaemonNotFound:
            print(no_such(kind, ref), file=sys.stderr)
            rc = 1
        except errors.DockyardError as err:
            print(f"Error response from daemon: {err}", file=sys.stderr)
            rc = 1
    return rc
