"""JSON for the runtime's hot path without ``import json``.

``json`` pulls in ``re`` and, through it, ``enum``: ~10 ms of a ~11 ms
interpreter start, paid by every ``create``/``start``/``state``/``kill``/
``delete`` (they all read state.json).  The C accelerator ``_json`` that
``json`` itself uses is a built-in extension: driving its scanner and encoder
directly gives the same parser and output for the compact form, at no import
cost.  Anything unusual (no ``_json``, an error to explain) falls back to
``json`` so behaviour and messages stay the standard library's.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_scan: Callable[[str, int], tuple[Any, int]] | None
_encode: Callable[[Any, int], list[str]] | None

try:
    import _json

    class _ScanContext:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        memo: dict[str, str] = {}

        @staticmethod
        def parse_constant(name: str) -> float:
            return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]

    # typeshed: the scanner's context is typed as a make_scanner (any object with these attributes
    # works) and the encoder's default as a callable (the C encoder takes None)
    _scan = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]
    _encode = _json.make_encoder(
        None, None, _json.encode_basestring_ascii, None, ":", ",", False, False, True  # type: ignore[arg-type]
    )
except (ImportError, AttributeError, TypeError):  # pragma: no cover - other interpreters
    _scan = None
    _encode = None

_WS = " \t\n\r"


def loads(text: str | bytes) -> Any:
    """``json.loads`` for documents the runtime reads (config.json, state.json, sync messages)."""
    if isinstance(text, bytes):
        text = text.decode()
    if _scan is not None:
        start = len(text) - len(text.lstrip(_WS))
        try:
            obj, end = _scan(text, start)
        except (StopIteration, ValueError):
            pass  # json.loads below raises the standard, precise error
        else:
            if not text[end:].strip(_WS):
                return obj
    import json

    return json.loads(text)


def dumps(obj: Any) -> str:
    """Compact ``json.dumps(obj, separators=(",", ":"))``; output parses with any JSON reader."""
    if _encode is not None:
        try:
            return "".join(_encode(obj, 0))
        except (TypeError, ValueError):
            pass
    import json

    return json.dumps(obj, separators=(",", ":"))
