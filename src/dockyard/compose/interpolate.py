"""Variable interpolation as the Compose Specification defines it (compose-go's ``template``).

``$$`` is a literal ``$``; ``$VAR`` and ``${VAR}`` substitute; inside braces ``:-``/``-`` give a
default (when unset or empty / when unset), ``:?``/``?`` an error, ``:+``/``+`` an alternative (when
set and non-empty / when set). Defaults, errors and alternatives are interpolated themselves, so
``${A:-${B:-x}}`` nests. Values are interpolated, keys are not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from dockyard import errors

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")

Lookup = Callable[[str], "str | None"]


class InterpolationError(errors.InvalidArgument):
    pass


class MissingVariable(InterpolationError):
    pass


def substitute(text: str, lookup: Lookup) -> str:
    """``text`` with its variables replaced through ``lookup`` (None: unset)."""
    out, _ = _scan(text, 0, lookup, closing=False)
    return out


def _scan(text: str, i: int, lookup: Lookup, closing: bool) -> tuple[str, int]:
    """Interpolate from ``i``; with ``closing`` stop at the ``}`` that ends the enclosing braces."""
    out: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if closing and c == "}":
            return "".join(out), i
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            value, i = _braced(text, i + 2, lookup)
            out.append(value)
        elif m := _NAME.match(text, i + 1):
            out.append(lookup(m.group()) or "")
            i = m.end()
        else:
            out.append("$")
            i += 1
    if closing:
        raise InterpolationError(f"invalid interpolation format for {text!r}: missing closing brace")
    return "".join(out), i


def _braced(text: str, i: int, lookup: Lookup) -> tuple[str, int]:
    """The value of ``${...}`` whose name starts at ``i``; returns it and the index after ``}``."""
    m = _NAME.match(text, i)
    if m is None:
        raise InterpolationError(f"invalid interpolation format for {text!r}. You may need to escape any $ with "
                                 "another $")
    name, i = m.group(), m.end()
    if i < len(text) and text[i] == "}":
        return lookup(name) or "", i + 1
    op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
    if op is None:
        raise InterpolationError(f"invalid interpolation format for {text!r}. You may need to escape any $ with "
                                 "another $")
    arg, end = _scan(text, i + len(op), lookup, closing=True)
    value = lookup(name)
    is_set, non_empty = value is not None, bool(value)
    present = non_empty if op.startswith(":") else is_set
    kind = op[-1]
    if kind == "-":
        return (value or "") if present else arg, end + 1
    if kind == "+":
        return arg if present else "", end + 1
    if not present:  # "?"
        raise MissingVariable(f"required variable {name} is missing a value" + (f": {arg}" if arg else ""))
    return value or "", end + 1


def interpolate(data: Any, env: Mapping[str, str], path: str = "") -> Any:
    """Every string value of ``data`` (nested dicts and lists) interpolated from ``env``."""
    if isinstance(data, dict):
        return {k: interpolate(v, env, f"{path}.{k}" if path else str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, env, f"{path}[{i}]") for i, v in enumerate(data)]
    if isinstance(data, str) and "$" in data:
        try:
            return substitute(data, env.get)
        except InterpolationError as err:
            raise type(err)(f"error while interpolating {path}: {err}") from err
    return data
