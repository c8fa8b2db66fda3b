"""The import rules of docs/architecture.md, checked on the source: a new leak fails here.

- the engine side (engine, builder, volumes, network) reaches containerd only through
  ``dockyard.containerd.client`` (what it may share with containerd is pure data: oci, types, errors);
- the runtime imports nothing of the engine, containerd, the shim or the clients;
- the clients (cli, client, compose, desktop, kube, buildx) import no server code;
- ``dockyard.archive`` (what containerd, the engine and volumes share to write into untrusted roots)
  imports none of them.
- ``dockyard.buildcontext`` (the build context as the clients make it; the builder reads its
  ``.dockerignore`` matcher) imports none of them either.

``KNOWN`` lists the leaks that exist today, each to be removed (issue 20); it may only shrink:
an entry that no longer matches fails too, so the list stays true.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# (importing package prefix, imported module prefixes it must not use)
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("dockyard.engine", ("dockyard.containerd.", "dockyard.runtime", "dockyard.shim", "dockyard.cli")),
    ("dockyard.builder", ("dockyard.containerd.", "dockyard.runtime", "dockyard.shim", "dockyard.cli")),
    ("dockyard.volumes", ("dockyard.containerd.", "dockyard.runtime", "dockyard.shim", "dockyard.cli")),
    ("dockyard.network", ("dockyard.containerd.", "dockyard.runtime", "dockyard.shim", "dockyard.cli")),
    ("dockyard.cri", ("dockyard.containerd.", "dockyard.runtime", "dockyard.shim", "dockyard.cli")),
    ("dockyard.runtime", ("dockyard.engine", "dockyard.containerd", "dockyard.shim", "dockyard.cli",
                          "dockyard.client", "dockyard.builder", "dockyard.network", "dockyard.volumes")),
    ("dockyard.cli", ("dockyard.engine", "dockyard.containerd", "dockyard.runtime", "dockyard.shim",
                      "dockyard.builder", "dockyard.network", "dockyard.volumes", "dockyard.cri")),
    ("dockyard.client", ("dockyard.engine", "dockyard.containerd", "dockyard.runtime", "dockyard.shim",
                         "dockyard.cli", "dockyard.builder", "dockyard.registry")),
    ("dockyard.desktop", ("dockyard.engine", "dockyard.containerd", "dockyard.runtime", "dockyard.shim",
                          "dockyard.builder", "dockyard.network", "dockyard.volumes", "dockyard.cri")),
    ("dockyard.compose", ("dockyard.engine", "dockyard.containerd", "dockyard.runtime", "dockyard.shim",
                          "dockyard.builder", "dockyard.network", "dockyard.volumes")),
    ("dockyard.archive", ("dockyard.engine", "dockyard.containerd", "dockyard.runtime", "dockyard.shim",
                          "dockyard.cli", "dockyard.client", "dockyard.builder", "dockyard.network",
                          "dockyard.volumes")),
    ("dockyard.buildcontext", ("dockyard.engine", "dockyard.containerd", "dockyard.runtime", "dockyard.shim",
                               "dockyard.cli", "dockyard.client", "dockyard.builder", "dockyard.compose",
                               "dockyard.buildx", "dockyard.network", "dockyard.volumes")),
    ("dockyard.buildx", ("dockyard.engine", "dockyard.containerd", "dockyard.runtime", "dockyard.shim",
                         "dockyard.builder", "dockyard.network", "dockyard.volumes", "dockyard.cri")),
    ("dockyard.kube", ("dockyard.engine", "dockyard.containerd", "dockyard.runtime", "dockyard.shim",
                       "dockyard.builder", "dockyard.network", "dockyard.volumes", "dockyard.cri", "dockyard.cli")),
]
ALLOWED = ("dockyard.containerd.client",)

# importer -> imported module: today's leaks (issue 20 removes them)
KNOWN: set[tuple[str, str]] = set()  # none left


@functools.cache
def _trees() -> dict[Path, ast.Module]:
    """Every source file, parsed once for all the checks here."""
    return {path: ast.parse(path.read_text(), str(path)) for path in SRC.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(_trees()[path]):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from dockyard.containerd import gc` imports dockyard.containerd.gc
                sub = f"{node.module}.{alias.name}"
                found.add(sub if _is_module(sub) else node.module)
    return {name for name in found if name.startswith("dockyard.")}


def _is_module(name: str) -> bool:
    base = SRC.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _module(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")


def _edges() -> set[tuple[str, str]]:
    return {(_module(p), imported) for p in _trees() for imported in _imports(p)}


def _forbidden(importer: str, imported: str) -> bool:
    if imported.startswith(ALLOWED):
        return False
    for package, banned in RULES:
        if importer == package or importer.startswith(package + "."):
            if any(imported == b.rstrip(".") or imported.startswith(b if b.endswith(".") else b + ".")
                   or imported == b for b in banned):
                return True
    return False


def test_no_new_leak_across_the_boundaries() -> None:
    leaks = {(a, b) for a, b in _edges() if _forbidden(a, b)}
    assert leaks - KNOWN == set(), "imports across a boundary (docs/architecture.md, 'Import direction')"


def test_the_known_leaks_are_still_true() -> None:
    leaks = {(a, b) for a, b in _edges() if _forbidden(a, b)}
    assert KNOWN - leaks == set(), "a known leak is gone: remove it from KNOWN"


def test_the_rule_catches_a_leak() -> None:
    assert _forbidden("dockyard.engine.daemon", "dockyard.containerd.gc")
    assert _forbidden("dockyard.runtime.cli", "dockyard.engine.spec")
    assert _forbidden("dockyard.cli.main", "dockyard.engine")
    assert _forbidden("dockyard.buildx.bake", "dockyard.builder.parser")
    assert not _forbidden("dockyard.engine.daemon", "dockyard.containerd.client")
    assert not _forbidden("dockyard.engine.daemon", "dockyard.oci.runtime_spec")


def test_the_client_names_the_gc_root_label_as_gc_does() -> None:
    from dockyard.containerd import client, gc

    assert client.LABEL_GC_ROOT == gc.LABEL_GC_ROOT


def _private_imports() -> set[tuple[str, str]]:
    """``from dockyard.<pkg>.x import _name`` in a module of another top-level package."""
    found: set[tuple[str, str]] = set()
    for path, tree in _trees().items():
        importer = _module(path)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                    and node.module.startswith("dockyard.")):
                continue
            if node.module.split(".")[1] == importer.split(".")[1]:
                continue
            found.update((importer, f"{node.module}.{a.name}") for a in node.names
                         if a.name.startswith("_") and not a.name.startswith("__"))
    return found


def test_no_package_imports_another_packages_private_names() -> None:
    assert _private_imports() == set(), "make the name public where it belongs"


def _foreign_privates(package: str) -> set[str]:
    """``<obj>._name`` read in ``package`` off anything but ``self``/``cls``: another object's privates."""
    found: set[str] = set()
    for path, tree in _trees().items():
        if not path.is_relative_to(SRC / "dockyard" / package):
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                found.add(f"{_module(path)}: {ast.unparse(node)}")
    return found


def test_the_builder_uses_no_other_objects_privates() -> None:
    # the Build called the Builder's pending-write indexes, RUN mounts the cache dirs' counters
    assert _foreign_privates("builder") == set()


def test_the_engine_side_reads_no_snapshotter_layout() -> None:
    # containerd's callers hand on the mounts a snapshotter returns; only containerd reads their options
    # (an OCI layer's ``.wh.`` whiteouts are the layer format's, not a snapshotter's)
    found = [f"{_module(path)}: {word}" for pkg in ("engine", "builder", "volumes", "network")
             for path in (SRC / "dockyard" / pkg).rglob("*.py")
             for word in ("lowerdir", "upperdir") if word in path.read_text()]
    assert found == []
