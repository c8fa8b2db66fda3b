"""Detach-key parsing and scanning (Docker's `ctrl-p,ctrl-q` on an attached TTY's stdin)."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.engine import detachkeys
from dockyard.engine.detachkeys import Scanner


def test_parse_docker_forms() -> None:
    assert detachkeys.parse("ctrl-p,ctrl-q") == b"\x10\x11"
    assert detachkeys.parse("ctrl-x") == b"\x18"
    assert detachkeys.parse("a,ctrl-@,ctrl-_") == b"a\x00\x1f"
    with pytest.raises(errors.InvalidArgument):
        detachkeys.parse("ctrl-1")
    with pytest.raises(errors.InvalidArgument):
        detachkeys.parse("shift-a")


def test_scanner_holds_a_partial_match_and_forwards_it_when_it_breaks() -> None:
    s = Scanner(b"\x10\x11")
    assert s.feed(b"ab\x10") == (b"ab", False)
    assert s.feed(b"c") == (b"\x10c", False)
    assert s.feed(b"x\x10") == (b"x", False)
    assert s.feed(b"\x11rest") == (b"", True)


def test_scanner_sequence_inside_one_chunk() -> None:
    assert Scanner(b"\x10\x11").feed(b"hi\x10\x11more") == (b"hi", True)
