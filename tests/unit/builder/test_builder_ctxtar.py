"""The hand-written context tar writer (what `dockyard build` sends) against tarfile and the engine's reader."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from dockyard.buildcontext.tar import context_tar, plan_context
from dockyard.builder.context import FileTree
from dockyard.cli.main import _lean_module


def test_context_tar_round_trips_through_tarfile_and_the_engine_reader(tmp_path: Path) -> None:
    long_name = "d/" + "x" * 150
    (tmp_path / "d").mkdir()
    (tmp_path / long_name).write_text("long")
    (tmp_path / "ünï.txt").write_text("unicode")
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    big = os.urandom(70_001)
    (tmp_path / "big.bin").write_bytes(big)
    (tmp_path / "exec.sh").write_text("#!/bin/sh\n")
    os.chmod(tmp_path / "exec.sh", 0o751)
    os.symlink("y" * 120, tmp_path / "dangling")
    os.link(tmp_path / "big.bin", tmp_path / "zz-hard")
    os.utime(tmp_path / "Dockerfile", (1_700_000_000, 1_700_000_000))

    data = bytes(context_tar(tmp_path))
    assert len(data) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = {m.name: m for m in tf}
        assert tf.extractfile(members[long_name]).read() == b"long"  # type: ignore[union-attr]
        assert tf.extractfile(members["big.bin"]).read() == big  # type: ignore[union-attr]
    assert members["d"].isdir()
    assert members["ünï.txt"].size == len("unicode")
    assert members["exec.sh"].mode == 0o751
    assert members["dangling"].issym() and members["dangling"].linkname == "y" * 120
    assert members["zz-hard"].islnk() and members["zz-hard"].linkname == "big.bin"
    assert members["Dockerfile"].mtime == 1_700_000_000
    assert members["Dockerfile"].uname == "" and members["Dockerfile"].uid == os.getuid()

    tree = FileTree()
    tree.add_tar(data)
    assert tree.entries["big.bin"].data == big
    assert tree.entries[long_name].data == b"long"
    assert tree.entries["ünï.txt"].data == b"unicode"
    # the same tree always gives the same bytes (the cache keys depend on it)
    assert bytes(context_tar(tmp_path)) == data


def test_a_planned_context_streams_the_same_bytes_it_would_build(tmp_path: Path) -> None:
    """``send_to`` (what the CLI uses: small files batched, big ones by sendfile) writes exactly
    the tar that ``finish`` builds, of the announced length, plus a file from outside."""
    import socket
    import threading

    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "small").mkdir()
    for i in range(50):
        (tmp_path / "small" / f"f{i}").write_text(f"{i}\n" * (i + 1))
    (tmp_path / "big.bin").write_bytes(os.urandom(3 * 65536 + 123))
    (tmp_path / "empty").write_bytes(b"")
    plan = plan_context(tmp_path)
    plan.add_bytes(".dockerfile.x", b"FROM scratch\n")
    a, b = socket.socketpair()
    got = bytearray()

    def read() -> None:
        while chunk := b.recv(1 << 16):
            got.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    plan.send_to(a)
    a.close()
    reader.join()
    b.close()
    assert bytes(got) == bytes(plan.finish())
    assert len(got) == len(plan)
    tree = FileTree()
    tree.add_tar(bytes(got))
    assert bytes(tree.entries["big.bin"].data) == (tmp_path / "big.bin").read_bytes()
    assert tree.entries[".dockerfile.x"].data == b"FROM scratch\n"


def test_a_file_that_shrinks_while_it_is_sent_is_an_error(tmp_path: Path) -> None:
    import socket

    import pytest

    from dockyard import errors

    (tmp_path / "big.bin").write_bytes(os.urandom(1 << 17))
    plan = plan_context(tmp_path)
    (tmp_path / "big.bin").write_bytes(b"short")
    a, b = socket.socketpair()
    try:
        with pytest.raises(errors.FailedPrecondition, match="changed size"):
            plan.send_to(a)
    finally:
        a.close()
        b.close()


def test_lean_parser_only_for_build() -> None:
    assert _lean_module(["-H", "unix:///x.sock", "build", "-q", "."]) == "build"
    assert _lean_module(["--host", "build", "ps"]) == "containers"  # "build" here is the host value
    assert _lean_module(["run", "build"]) == "containers"  # the command is run, not build
    assert _lean_module([]) is None
