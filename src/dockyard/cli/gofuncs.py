"""The functions of Go's text/template that ``--format`` templates call (``template``): Go's
builtins (``and or not len index slice print printf println eq ne lt le gt ge``), docker's
(``json split join title lower upper pad truncate``), and printing values as fmt's %v does."""

from __future__ import annotations

from dockyard.cli.errors import TemplateError

# ``re`` and ``json`` are imported where used (see ``template``: they cost as much as a ``ps``).

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class _Missing:
    """A map key that is not there: prints as ``<no value>``."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()

# -- printing as fmt does ---------------------------------------------------------------------------


def go_float(v: float) -> str:
    """fmt's %v of a float64 (strconv 'g', shortest, exponent from 21 digits)."""
    if v == int(v) and abs(v) < 1e21:
        return str(int(v))
    text = repr(v)
    if "e" in text:
        mant, _, exp = text.partition("e")
        sign = "-" if exp.startswith("-") else "+"
        return f"{mant}e{sign}{exp.lstrip('+-').zfill(2)}"
    return text


def text(value: Any, top: bool = True) -> str:
    """fmt.Sprint of one value (``<no value>`` for a missing or null value at the top)."""
    if value is None or value is MISSING:
        return "<no value>" if top else "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, list):
        return "[" + " ".join(text(v, False) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{text(v, False)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def truth(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, (bool, int, float, str, list, dict)):
        return bool(value)
    return True


# -- functions --------------------------------------------------------------------------------------


def _json(value: Any) -> str:
    if value is MISSING:
        value = None
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _index(obj: Any, *keys: Any) -> Any:
    for k in keys:
        if obj is None or obj is MISSING:
            raise TemplateError("error calling index: index of untyped nil")
        if isinstance(obj, dict):
            zero = "" if obj and all(isinstance(v, str) for v in obj.values()) else MISSING
            obj = obj.get(k, zero)
        elif isinstance(obj, (list, str)):
            if not isinstance(k, int) or not 0 <= k < len(obj):
                raise TemplateError(f"error calling index: index out of range: {k}")
            obj = obj[k]
        else:
            raise TemplateError(f"error calling index: can't index item of type {type(obj).__name__}")
    return obj


def _slice(obj: Any, *bounds: int) -> Any:
    if not isinstance(obj, (list, str)):
        raise TemplateError("error calling slice: can't slice item")
    return obj[bounds[0] if bounds else 0:bounds[1] if len(bounds) > 1 else None]


def _len(value: Any) -> int:
    if isinstance(value, (list, dict, str)):
        return len(value)
    raise TemplateError(f"error calling len: len of type {'<nil>' if value in (None, MISSING) else type(value).__name__}")


def _sprint(*args: Any) -> str:
    out = ""
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out += " "
        out += text(a, False) if a is None else text(a)
    return out


def _title(s: str) -> str:
    """Each word character after whitespace (or at the start) in upper case."""
    out = []
    after_space = True
    for ch in s:
        out.append(ch.upper() if after_space else ch)
        after_space = ch.isspace()
    return "".join(out)


def first_word(s: str) -> str:
    """What comes before the first whitespace character."""
    for i, ch in enumerate(s):
        if ch.isspace():
            return s[:i]
    return s


_PATTERNS: dict[str, Any] = {}
_VERB = r"%([-+# 0]*)(\d*)(?:\.(\d+))?([a-zA-Z%])"


def pattern(source: str, verbose: bool = False) -> Any:
    """``source`` compiled on first use (``re`` is imported then): printf's verbs, a template
    action's tokens."""
    if source not in _PATTERNS:
        import re

        _PATTERNS[source] = re.compile(source, re.X if verbose else 0)
    return _PATTERNS[source]


def _printf(fmt: str, *args: Any) -> str:
    values = list(args)

    def one(m: Any) -> str:  # a re.Match (re is imported on first use)
        flags, width, prec, verb = m.groups()
        if verb == "%":
            return "%"
        if not values:
            return f"%!{verb}(MISSING)"
        v = values.pop(0)
        if verb in "sv":
            s = text(v)
        elif verb == "q":
            from dockyard.cli.format import go_quote

            s = go_quote(text(v))
        elif verb == "d":
            s = str(int(v))
        elif verb in "feEgG":
            s = f"%{'.' + prec if prec else ''}{verb}" % float(v)
        elif verb in "xX":
            s = format(int(v), verb) if isinstance(v, int) else "".join(f"{b:02{verb}}" for b in text(v).encode())
        elif verb == "t":
            s = text(bool(v))
        else:
            s = text(v)
        if prec and verb in "sv":
            s = s[:int(prec)]
        if width:
            s = s.ljust(int(width)) if "-" in flags else s.rjust(int(width), "0" if "0" in flags else " ")
        return s

    return pattern(_VERB).sub(one, fmt)


def _cmp(name: str, op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def compare(a: Any, b: Any) -> bool:
        if isinstance(a, (int, float)) != isinstance(b, (int, float)) or (
                isinstance(a, str) != isinstance(b, str)):
            raise TemplateError(f"error calling {name}: incompatible types for comparison")
        return op(a, b)

    return compare


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise TemplateError("error calling eq: missing argument for comparison")
    return any(a == b for b in others)


FUNCS: dict[str, Callable[..., Any]] = {
    "json": _json,
    "split": lambda s, sep: text(s).split(sep),
    "join": lambda items, sep: sep.join(text(x) for x in (items or [])),
    "title": lambda s: _title(text(s)),
    "lower": lambda s: text(s).lower(),
    "upper": lambda s: text(s).upper(),
    "pad": lambda s, before, after: " " * before + text(s) + " " * after,
    "truncate": lambda s, n: text(s)[:n],
    "len": _len,
    "index": _index,
    "slice": _slice,
    "print": _sprint,
    "printf": _printf,
    "println": lambda *args: " ".join(text(a) for a in args) + "\n",
    "not": lambda v: not truth(v),
    "and": lambda *args: next((a for a in args if not truth(a)), args[-1]),
    "or": lambda *args: next((a for a in args if truth(a)), args[-1]),
    "eq": _eq,
    "ne": _cmp("ne", lambda a, b: a != b),
    "lt": _cmp("lt", lambda a, b: a < b),
    "le": _cmp("le", lambda a, b: a <= b),
    "gt": _cmp("gt", lambda a, b: a > b),
    "ge": _cmp("ge", lambda a, b: a >= b),
}

# docker's header functions: a table header runs the row template over the column titles.
HEADER_FUNCS: dict[str, Callable[..., Any]] = {
    **FUNCS, **{name: (lambda v, *_: v) for name in ("json", "split", "join", "title", "lower", "upper",
                                                       "truncate")},
    "pad": lambda v, *_: v,
}
