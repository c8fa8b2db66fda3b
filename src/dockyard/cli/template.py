"""The Go-template subset people pass to ``--format``.

Fields (``{{.State.Status}}``, ``{{$k}}``), functions (``json``, ``len``, ``index``,
``upper``, ``lower``, ``join``, ``title``, ``println``), ``{{range}}`` (with
``$k, $v :=``), ``{{if}}``/``{{else}}`` and ``{{end}}``; ``table`` prefixes are
handled by the commands (see ``table_format``). Small on purpose: a tree of
(text | action | block) nodes evaluated against plain JSON data.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)


def _lookup(obj: Any, path: str) -> Any:
    if path in (".", ""):
        return obj
    for part in path.lstrip(".").split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        else:
            return None
    return obj


def _text(value: Any) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + " ".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_text(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _truthy(value: Any) -> bool:
    return bool(value)


class _Scope:
    def __init__(self, dot: Any, vars: dict[str, Any]) -> None:
        self.dot = dot
        self.vars = vars


def _term(tok: str, s: _Scope) -> Any:
    if tok.startswith('"'):
        return json.loads(tok)
    if tok.startswith("$"):
        name, _, rest = tok.partition(".")
        base = s.vars.get(name)
        return _lookup(base, rest) if rest else base
    if tok.startswith("."):
        return _lookup(s.dot, tok)
    if re.fullmatch(r"-?\d+", tok):
        return int(tok)
    if tok in ("true", "false"):
        return tok == "true"
    return None


def _index(obj: Any, *keys: Any) -> Any:
    for k in keys:
        try:
            obj = obj[k]
        except (KeyError, IndexError, TypeError):
            return None
    return obj


_FUNCS: dict[str, Any] = {
    "json": lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False),
    "len": lambda v: len(v) if v is not None else 0,
    "index": _index,
    "upper": lambda v: _text(v).upper(),
    "lower": lambda v: _text(v).lower(),
    "title": lambda v: _text(v).title(),
    "join": lambda v, sep: sep.join(_text(x) for x in (v or [])),
    "println": lambda *v: " ".join(_text(x) for x in v) + "\n",
    "print": lambda *v: "".join(_text(x) for x in v),
    "not": lambda v: not _truthy(v),
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
}


def _pipeline(expr: str, s: _Scope) -> Any:
    value: Any = None
    first = True
    for stage in expr.split("|"):
        toks = shlex.split(stage.strip(), posix=False)
        if not toks:
            continue
        if toks[0] in _FUNCS:
            args = [_term(t, s) for t in toks[1:]]
            if not first:
                args.append(value)
            value = _FUNCS[toks[0]](*args)
        else:
            value = _term(toks[0], s)
        first = False
    return value


def _parse(template: str) -> list[Any]:
    """Nodes: str (text), ("act", expr), ("range"|"if", expr, body, else_body)."""
    root: list[Any] = []
    stack: list[tuple[list[Any], Any]] = [(root, None)]
    pos = 0
    for m in _ACTION.finditer(template):
        if m.start() > pos:
            stack[-1][0].append(template[pos:m.start()])
        pos = m.end()
        expr = m.group(1)
        word = expr.split(" ", 1)[0]
        if word in ("range", "if", "with"):
            node = [word, expr[len(word):].strip(), [], []]
            stack[-1][0].append(node)
            stack.append((node[2], node))
        elif word == "else" and len(stack) > 1:
            node = stack.pop()[1]
            stack.append((node[3], node))
        elif word == "end" and len(stack) > 1:
            stack.pop()
        else:
            stack[-1][0].append(("act", expr))
    if pos < len(template):
        root.append(template[pos:])
    return root


def _exec(nodes: list[Any], s: _Scope, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, tuple):
            value = _pipeline(node[1], s)
            if isinstance(value, str) and node[1].split(" ", 1)[0] in ("json", "println", "print"):
                out.append(value)
            else:
                out.append(_text(value))
        else:
            kind, expr, body, other = node
            if kind == "range":
                kvar = vvar = ""
                if ":=" in expr:
                    names, expr = expr.split(":=", 1)
                    vs = [n.strip() for n in names.split(",")]
                    kvar, vvar = (vs[0], vs[1]) if len(vs) == 2 else ("", vs[0])
                value = _pipeline(expr.strip(), s)
                items = list(value.items()) if isinstance(value, dict) else list(enumerate(value or []))
                if isinstance(value, dict):
                    items.sort()
                if not items:
                    _exec(other, s, out)
                for k, v in items:
                    vars = dict(s.vars)
                    if kvar:
                        vars[kvar] = k
                    if vvar:
                        vars[vvar] = v
                    _exec(body, _Scope(v, vars), out)
            else:
                value = _pipeline(expr, s)
                if _truthy(value):
                    _exec(body, _Scope(value, s.vars) if kind == "with" else s, out)
                else:
                    _exec(other, s, out)


def render(template: str, obj: Any) -> str:
    out: list[str] = []
    _exec(_parse(template), _Scope(obj, {"$": obj}), out)
    return "".join(out)


def table_format(template: str) -> tuple[bool, str]:
    """(is a table, the row template) for ``--format 'table {{.A}}\\t{{.B}}'``."""
    if template.startswith("table"):
        return True, template[5:].strip()
    return False, template


def print_rows(template: str, rows: list[dict[str, Any]]) -> None:
    """Print one line per row; a ``table`` template gets a header of its field names, tab-aligned."""
    is_table, body = table_format(template)
    body = body.replace("\\t", "\t").replace("\\n", "\n")
    lines = [render(body, r) for r in rows]
    if is_table:
        header = _ACTION.sub(lambda m: _header(m.group(1)), body)
        lines.insert(0, header)
        cells = [ln.split("\t") for ln in lines]
        widths: dict[int, int] = {}
        for row in cells:
            for i, c in enumerate(row):
                widths[i] = max(widths.get(i, 0), len(c))
        lines = ["   ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in cells]
    for ln in lines:
        print(ln)


def _header(expr: str) -> str:
    field = expr.split()[-1].lstrip(".")
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", field).upper() if field else ""
