"""Timestamps as the engine and containerd write and read them: RFC 3339 in UTC.

Docker's JSON carries Go's ``time.Time`` form (``2006-01-02T15:04:05.999999999Z``); Python's
``datetime`` holds microseconds, so the nanosecond forms are built from integers. The CLI
keeps its own humanizing helpers (``cli/format.py``): it does not import this module at
start-up.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def rfc3339(ns: int | float | None = None) -> str:
    """``ns`` (Unix nanoseconds; now if None) to microseconds, a whole-millisecond "000Z" shortened to "Z"."""
    t = time.time() if ns is None else ns / 1e9
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace("000Z", "Z")


def rfc3339_micro(seconds: float | None = None) -> str:
    """Unix ``seconds`` (now if None) with six fraction digits (the json-file log's ``time``)."""
    t = time.time() if seconds is None else seconds
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_nano(ns: int | None = None) -> str:
    """Unix nanoseconds (now if None), nine fraction digits, fixed width (``--timestamps``, stats' ``read``)."""
    ns = time.time_ns() if ns is None else ns
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"


def parse_rfc3339(value: str) -> float:
    """Unix seconds of an RFC 3339 time (``Z`` or an offset; up to nine fraction digits, kept);
    without a zone it is local time, as Go's ``time.ParseInLocation`` in dockerd. ValueError if it is none."""
    head, dot, rest = value.partition(".")
    if not dot:
        return datetime.fromisoformat(value).timestamp()
    digits = len(rest) - len(rest.lstrip("0123456789"))
    frac, zone = rest[:digits], rest[digits:]
    if not frac:
        raise ValueError(f"invalid RFC 3339 time {value!r}")
    return datetime.fromisoformat(head + zone).timestamp() + int(frac) / 10 ** len(frac)
