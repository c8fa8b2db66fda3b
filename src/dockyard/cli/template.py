"""The Go-template forms people pass to ``--format``: ``{{.Field.Sub}}``, ``{{json .X}}``."""

from __future__ import annotations

import json
import re
from typing import Any

_ACTION = re.compile(r"\{\{\s*(.*?)\s*\}\}")


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
    if isinstance(value, list):
        return "[" + " ".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_text(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def render(template: str, obj: Any) -> str:
    def action(m: re.Match[str]) -> str:
        expr = m.group(1)
        if expr.startswith("json "):
            return json.dumps(_lookup(obj, expr[5:].strip()), separators=(",", ":"), ensure_ascii=False)
        return _text(_lookup(obj, expr))

    return _ACTION.sub(action, template)
