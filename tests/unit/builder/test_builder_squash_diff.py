"""``squash.diff``: the one layer a squashed build adds over its base (dockerd's ``TarStreamFrom``)."""

from __future__ import annotations

import tarfile

from dockyard.builder.context import FileTree
from dockyard.builder.squash import diff


def tree(entries: dict[str, bytes | None], mtime: int = 0) -> FileTree:
    """name -> bytes (a file) or None (a directory)."""
    t = FileTree()
    for name, data in entries.items():
        ti = tarfile.TarInfo(name)
        ti.mtime = mtime
        if data is None:
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        else:
            ti.size, ti.mode = len(data), 0o644
        t.merge(ti, data or b"")
    return t


def names(items: list[tuple[tarfile.TarInfo, object]]) -> list[str]:
    return [ti.name for ti, _ in items]


def test_new_changed_removed_and_unchanged() -> None:
    before = tree({"etc": None, "etc/a": b"1", "etc/b": b"2", "bin": None, "bin/ls": b"x", "var": None,
                   "var/d": None, "var/d/f": b"f"})
    after = tree({"etc": None, "etc/a": b"1", "etc/b": b"3", "bin": None, "var": None, "new": None,
                  "new/deep": None, "new/deep/f": b"n"})
    out = diff(before, after)
    assert names(out) == ["bin/.wh.ls", "etc", "etc/b", "new", "new/deep", "new/deep/f", "var/.wh.d"]
    data = {ti.name: d for ti, d in out}
    assert data["etc/b"] == b"3" and data["bin/.wh.ls"] == b""


def test_a_directory_replaced_by_a_file_is_whited_out_first() -> None:
    before = tree({"x": None, "x/y": b"1"})
    after = tree({"x": b"file"})
    assert names(diff(before, after)) == [".wh.x", "x"]


def test_nothing_changed_is_an_empty_layer() -> None:
    same = {"a": None, "a/b": b"1"}
    assert diff(tree(same), tree(same)) == []
    assert names(diff(tree(same), tree(same, mtime=5))) == ["a", "a/b"]  # a touched file is a change
