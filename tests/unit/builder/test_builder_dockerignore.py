"""``.dockerignore`` matching (Go filepath.Match + ``**`` + ``!``) and the context tar the client sends."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from dockyard.buildcontext.dockerignore import Matcher
from dockyard.buildcontext.tar import context_tar
from dockyard.builder.context import FileTree, is_archive


@pytest.mark.parametrize("patterns,path,excluded", [
    ("*.log", "a.log", True), ("*.log", "d/a.log", False), ("**/*.log", "d/e/a.log", True),
    ("d", "d/x/y", True), ("d/*\n!d/keep", "d/keep", False), ("d/*\n!d/keep", "d/drop", True),
    ("/abs", "abs", True), ("a?c", "abc", True), ("a[0-9]", "a5", True), ("a[!0-9]", "a5", False),
    ("# comment\n\n x ", "x", True), ("**", "any/thing", True), ("*\n!*.md\nREADME*.md", "README.x.md", True),
    ("*\n!*.md\nREADME*.md", "notes.md", False), ("dir/**/tmp", "dir/tmp", True),
])
def test_dockerignore_matching(patterns: str, path: str, excluded: bool) -> None:
    assert Matcher.from_text(patterns).excluded(path) is excluded


def test_context_tar_applies_dockerignore(tmp_path: Path) -> None:
    for name in ("Dockerfile", "a.txt", "logs/x.log", "logs/keep.log", "node_modules/m/i.js"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / ".dockerignore").write_text("logs/*.log\n!logs/keep.log\nnode_modules\nDockerfile\n")
    with tarfile.open(fileobj=io.BytesIO(context_tar(tmp_path)), mode="r") as tf:
        names = sorted(m.name for m in tf if m.isfile())
    assert names == [".dockerignore", "Dockerfile", "a.txt", "logs/keep.log"]


def test_file_tree_whiteouts_globs_and_archives() -> None:
    def tar(entries: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            for name, data in entries.items():
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
        return buf.getvalue()

    tree = FileTree()
    tree.add_tar(tar({"etc/a.conf": b"1", "etc/b.conf": b"2", "bin/x": b"x"}))
    tree.add_tar(tar({"etc/.wh.a.conf": b"", "etc/c.conf": b"3"}))
    assert tree.glob("etc/*.conf") == ["etc/b.conf", "etc/c.conf"]
    assert tree.is_dir("etc") and not tree.is_dir("bin/x") and not tree.exists("etc/a.conf")
    assert is_archive(tar({"f": b"1"})) and not is_archive(b"plain text" * 100)
