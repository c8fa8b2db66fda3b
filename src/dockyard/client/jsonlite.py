"""JSON through the C accelerator ``_json`` alone: ``json`` imports ``re`` (its decoder's
whitespace and number patterns), which with ``enum`` and friends costs a hot CLI command more
than the rest of its run. ``loads`` is ``json.loads`` for the daemon's answers; ``dumps`` is
``json.dumps``' compact ASCII output. Errors (rare) are json's own: the module is imported then.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"


def _constant(name: str) -> float:
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


class _Context:
    """What ``_json.make_scanner`` reads from a JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # typeshed types the context as a make_scanner


def loads(data: str | bytes) -> Any:
    text = data.decode() if isinstance(data, (bytes, bytearray)) else data
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration:
        end = -1
    if end < 0 or text[end:].strip(_WHITESPACE):
        import json

        return json.loads(text)  # raises json.JSONDecodeError with its position
    return value


def _unserializable(obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_encode = _json.make_encoder(None, _unserializable, _json.encode_basestring_ascii, None, ": ", ", ",
                             False, False, True)


def dumps(obj: Any) -> str:
    return "".join(_encode(obj, 0))
