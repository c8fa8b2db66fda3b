"""Modules and routes reach the engine through its public methods, never its privates (issue 20):
no ``eng._x``, ``engine._x``, ``self.engine._x``, ``request.app["engine"]._x`` or ``engine(request)._x``
outside ``engine/daemon.py``, the engine's own module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "dockyard"
ENGINE_NAMES = {"eng", "engine", "daemon_engine"}
OWN_MODULE = SRC / "engine" / "daemon.py"


def _names_the_engine(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ENGINE_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr in ENGINE_NAMES
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "engine"
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id == "engine"
    return False


def private_uses(source: str) -> list[tuple[int, str]]:
    """(line, name) of every private attribute of the engine that ``source`` touches."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                and _names_the_engine(node.value):
            out.append((node.lineno, node.attr))
    return out


@pytest.mark.parametrize("source, found", [
    ("eng._save(c)", [(1, "_save")]),
    ("await self.engine._wait_exit(i)", [(1, "_wait_exit")]),
    ('request.app["engine"]._live(i)', [(1, "_live")]),
    ("engine(request)._monitor(c, live)", [(1, "_monitor")]),
    ("eng.save(c); self._save(c); eng.__class__", []),
])
def test_the_check_finds_private_uses(source: str, found: list[tuple[int, str]]) -> None:
    assert private_uses(source) == found


def test_no_module_calls_the_engines_privates() -> None:
    leaks = {f"{path.relative_to(SRC)}:{line}": name
             for path in sorted(SRC.rglob("*.py")) if path != OWN_MODULE and "_pb2" not in path.name
             for line, name in private_uses(path.read_text())}
    assert leaks == {}, "give the engine a public method instead"
