"""``.env`` and ``env_file`` files in Compose's dotenv format.

``KEY=value`` (or ``export KEY=value``); ``#`` starts a comment line, or an inline comment after
whitespace in an unquoted value; single quotes are literal; double quotes take ``\\n``-style escapes
and may span lines; unquoted and double-quoted values are interpolated from the keys above them
and then ``lookup``. A bare ``KEY`` takes its value from ``lookup`` (dropped when unset there).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from dockyard import errors
from dockyard.compose import projcache
from dockyard.compose.interpolate import substitute

_KEY = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_.\-][A-Za-z0-9_.\-]*)[ \t]*([=:]?)[ \t]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "\\$", "\n": ""}


def parse(text: str, lookup: Callable[[str], str | None] = lambda _: None, where: str = "") -> dict[str, str]:
    values: dict[str, str] = {}

    def get(name: str) -> str | None:
        return values[name] if name in values else lookup(name)

    i, n, line = 0, len(text), 1
    while i < n:
        eol = text.find("\n", i)
        eol = n if eol < 0 else eol
        raw = text[i:eol]
        if not raw.strip() or raw.lstrip().startswith("#"):
            i, line = eol + 1, line + 1
            continue
        m = _KEY.match(text, i)
        if m is None or m.end() > eol + 1 and not m.group(2):
            raise errors.InvalidArgument(f"{where}line {line}: unexpected character in variable name {raw.strip()!r}")
        key, sep = m.group(1), m.group(2)
        if not sep:
            if text[m.end():eol].strip():
                raise errors.InvalidArgument(f"{where}line {line}: unexpected character in variable name "
                                             f"{raw.strip()!r}")
            value = lookup(key)
            if value is not None:
                values[key] = value
            i, line = eol + 1, line + 1
            continue
        value, i = _value(text, m.end(), get, where, line)
        values[key] = value
        line = text.count("\n", 0, i) + 1
    return values


def _value(text: str, i: int, get: Callable[[str], str | None], where: str, line: int) -> tuple[str, int]:
    """The value starting at ``i`` and the index of the next line."""
    quote = text[i] if i < len(text) and text[i] in "'\"" else ""
    if quote:
        end = i + 1
        while True:
            end = text.find(quote, end)
            if end < 0:
                raise errors.InvalidArgument(f"{where}line {line}: unterminated quoted value")
            if quote == "'" or text[end - 1] != "\\" or text[end - 2:end] == "\\\\":
                break
            end += 1
        body = text[i + 1:end]
        nl = text.find("\n", end)
        nxt = len(text) if nl < 0 else nl + 1
        if quote == "'":
            return body, nxt
        body = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body, flags=re.S)
        return substitute(body.replace("\\$", "$$"), get), nxt
    nl = text.find("\n", i)
    end = len(text) if nl < 0 else nl
    body = text[i:end]
    comment = re.search(r"\s#", body)
    if comment:
        body = body[:comment.start()]
    return substitute(body.strip(), get), end + 1


def read(path: Path, lookup: Callable[[str], str | None] = lambda _: None) -> dict[str, str]:
    try:
        text = projcache.read_text(path)
    except FileNotFoundError as err:
        raise errors.NotFound(f"env file {path} not found: {err.strerror}") from err
    return parse(text, lookup, f"{path}: ")
