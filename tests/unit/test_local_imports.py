"""Function-local imports in the long-lived daemons only with a reason written above them.

A daemon pays its imports once, so an import belongs at the top of its module (docs/architecture.md,
"Imports and start-up"). One inside a function must say why on the comment line(s) right above it
(or on its own line): ``# lazy: <N> ms ...`` (a measured start-up cost, the figure in it) or
``# cycle: ...`` (the import cycle it breaks). ``TYPE_CHECKING`` blocks are not imports at run time.
The short-lived programs (the CLI, dockyard-runc, the shim, compose, buildx, kube) are not checked here.

``KNOWN`` lists the local imports without a reason (none today); it may only shrink.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
DAEMON_PACKAGES = ("engine", "containerd", "network", "builder", "registry", "cri", "plugins", "volumes", "trust",
                   "desktop")
REASON = re.compile(r"#\s*(lazy:.*\b\d+(\.\d+)?\s*ms\b|cycle:\s*\S)")

# "module: import statement" of today's unexplained local imports (issue 20 removes them)
KNOWN: set[str] = set()


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _local_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    walk(tree, False)
    return found


def _has_reason(lines: list[str], node: ast.Import | ast.ImportFrom) -> bool:
    """A reason on the import's own line(s), or in the comments right above it (across the imports
    of the same group: one comment may speak for two or three lines of imports)."""
    if any(REASON.search(lines[i - 1]) for i in range(node.lineno, (node.end_lineno or node.lineno) + 1)):
        return True
    i = node.lineno - 2
    while i >= 0:
        text = lines[i].strip()
        if REASON.search(text):
            return True
        if not (text.startswith(("#", "import ", "from ")) or text == ")" or text.endswith(",")):
            return False
        i -= 1
    return False


def unexplained() -> set[str]:
    out: set[str] = set()
    for package in DAEMON_PACKAGES:
        for path in sorted((SRC / "dockyard" / package).rglob("*.py")):
            text = path.read_text()
            lines = text.splitlines()
            module = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
            for node in _local_imports(ast.parse(text, str(path))):
                if not _has_reason(lines, node):
                    out.add(f"{module}: {ast.unparse(node)}")
    return out


def test_no_new_function_local_import_without_a_reason() -> None:
    assert unexplained() - KNOWN == set(), (
        "a function-local import in a daemon package: move it to the top of the module, or write why "
        "above it (# lazy: <N> ms ... measured, or # cycle: ...)")


def test_the_known_ones_are_still_there() -> None:
    assert KNOWN - unexplained() == set(), "an unexplained local import is gone: remove it from KNOWN"


def test_the_rule_reads_comments(tmp_path: Path) -> None:
    src = ("def f():\n"
           "    # lazy: 12 ms of every start (measured)\n"
           "    import a\n"
           "    import b\n"
           "\n"
           "    # cycle: c imports this module\n"
           "    from c import d\n"
           "    import e  # lazy: 3 ms\n"
           "    x = 1\n"
           "    import g\n"
           "    # lazy: no figure\n"
           "    import h\n")
    lines = src.splitlines()
    reasons = {ast.unparse(n): _has_reason(lines, n) for n in _local_imports(ast.parse(src))}
    assert reasons == {"import a": True, "import b": True, "from c import d": True, "import e": True,
                       "import g": False, "import h": False}
