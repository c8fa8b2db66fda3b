"""The daemon's kept build contexts: a file is reused only when its whole manifest line matches."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.builder.context import FileTree
from dockyard.builder.contexts import ContextCache
from tests.unit.containerd.layertar import f, make_tar


def tree_of(files: dict[str, bytes]) -> FileTree:
    t = FileTree()
    t.add_tar(make_tar([f(name, data) for name, data in files.items()]))
    return t


def line(name: str, size: int, ctime: int = 1, ino: int = 7) -> list[object]:
    return [name, size, 1000, ctime, ino, 1, 0o100644, 0, 0]


def test_an_unknown_session_needs_everything_then_unchanged_files_are_kept() -> None:
    cache = ContextCache()
    token, need = cache.need("k", [line("a", 1), line("big", 3)])
    assert need == ["a", "big"]
    cache.assemble(token, tree_of({"a": b"A", "big": b"BIG", "Dockerfile": b"FROM x\n"}))
    token, need = cache.need("k", [line("a", 1, ctime=2), line("big", 3)])  # a was written again
    assert need == ["a"]
    tree = cache.assemble(token, tree_of({"a": b"B", "Dockerfile": b"FROM x\n"}))
    assert bytes(tree.entries["big"].data) == b"BIG" and tree.entries["a"].data == b"B"


@pytest.mark.parametrize("field", range(1, 9))
def test_any_changed_field_of_a_line_means_the_file_is_sent(field: int) -> None:
    cache = ContextCache()
    token, _ = cache.need("k", [line("f", 2)])
    cache.assemble(token, tree_of({"f": b"xy"}))
    changed = line("f", 2)
    changed[field] = int(changed[field]) + 1  # type: ignore[call-overload]
    assert cache.need("k", [changed])[1] == ["f"]


def test_other_sessions_and_missing_files_are_not_taken_from_the_cache() -> None:
    cache = ContextCache()
    token, _ = cache.need("one", [line("f", 2)])
    cache.assemble(token, tree_of({"f": b"xy"}))
    assert cache.need("two", [line("f", 2)])[1] == ["f"]
    token, need = cache.need("one", [line("f", 2), line("g", 1)])
    assert need == ["g"]
    with pytest.raises(errors.InvalidArgument, match="'g'"):
        cache.assemble(token, tree_of({}))  # the client did not send what it was asked for


def test_tokens_are_single_use_and_bad_manifests_are_refused() -> None:
    cache = ContextCache()
    token, _ = cache.need("k", [])
    cache.assemble(token, tree_of({}))
    with pytest.raises(errors.InvalidArgument, match="token"):
        cache.assemble(token, tree_of({}))
    with pytest.raises(errors.InvalidArgument):
        cache.need("k", [["f", "not a number"]])


def test_the_byte_budget_evicts_the_least_recently_used_context() -> None:
    cache = ContextCache(budget=10)
    for key in ("old", "new"):
        token, _ = cache.need(key, [line("f", 6)])
        cache.assemble(token, tree_of({"f": b"123456"}))
    assert cache.need("old", [line("f", 6)])[1] == ["f"]  # evicted: 12 bytes > 10
    assert cache.need("new", [line("f", 6)])[1] == []
