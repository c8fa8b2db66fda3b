"""Namespaces: names, and a snapshotter view whose keys live under ``<namespace>/``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from dockyard import errors
from dockyard.containerd import namespaces
from dockyard.containerd.namespaces import NamespacedSnapshotter
from dockyard.containerd.snapshots.snapshotter import Kind, SnapshotInfo
from dockyard.types import Mount


@pytest.mark.parametrize("name", ["default", "moby", "k8s.io", "a", "A-b_c.9", "x" * 76])
def test_valid_namespaces(name: str) -> None:
    assert namespaces.validate(name) == name


@pytest.mark.parametrize("name", ["", "-moby", ".x", "_x", "a/b", "a b", "x" * 77, "m\u00f6by"])
def test_invalid_namespaces(name: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="invalid name"):
        namespaces.validate(name)


def test_a_trailing_newline_is_not_a_valid_namespace() -> None:
    # It would become part of every snapshot key ("moby\n/...").
    with pytest.raises(errors.InvalidArgument):
        namespaces.validate("moby\n")


class Recorder:
    """A snapshotter that records each call and answers with something recognisable."""

    def __init__(self, infos: list[SnapshotInfo] | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.infos = infos or []

    def prepare(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        self.calls.append(("prepare", key, parent, labels))
        return [Mount("overlay", key)]

    def view(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        self.calls.append(("view", key, parent, labels))
        return [Mount("bind", key)]

    def mounts(self, key: str) -> list[Mount]:
        self.calls.append(("mounts", key))
        return [Mount("overlay", key)]

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None:
        self.calls.append(("commit", name, key, labels))

    def stat(self, key: str) -> SnapshotInfo:
        self.calls.append(("stat", key))
        return SnapshotInfo(key, "", Kind.COMMITTED)

    def remove(self, key: str) -> None:
        self.calls.append(("remove", key))

    def usage(self, key: str) -> Any:
        self.calls.append(("usage", key))
        return None

    def walk(self, filters: Any = ()) -> Iterator[SnapshotInfo]:
        yield from self.infos


def test_every_key_and_parent_is_prefixed() -> None:
    inner = Recorder()
    sn = NamespacedSnapshotter(inner, "moby")  # type: ignore[arg-type]
    assert sn.prepare("c1", "sha256:layer", {"l": "1"}) == [Mount("overlay", "moby/c1")]
    assert sn.view("v1", "sha256:layer") == [Mount("bind", "moby/v1")]
    assert sn.mounts("c1") == [Mount("overlay", "moby/c1")]
    sn.commit("sha256:next", "c1")
    assert sn.stat("sha256:next").name == "moby/sha256:next"
    sn.usage("c1")
    sn.remove("c1")
    assert inner.calls == [
        ("prepare", "moby/c1", "moby/sha256:layer", {"l": "1"}),
        ("view", "moby/v1", "moby/sha256:layer", None),
        ("mounts", "moby/c1"),
        ("commit", "moby/sha256:next", "moby/c1", None),
        ("stat", "moby/sha256:next"),
        ("usage", "moby/c1"),
        ("remove", "moby/c1"),
    ]


def test_no_parent_stays_no_parent() -> None:
    inner = Recorder()
    NamespacedSnapshotter(inner, "moby").prepare("base")  # type: ignore[arg-type]
    assert inner.calls == [("prepare", "moby/base", "", None)]


def test_two_namespaces_may_use_the_same_key() -> None:
    inner = Recorder()
    NamespacedSnapshotter(inner, "one").prepare("c")  # type: ignore[arg-type]
    NamespacedSnapshotter(inner, "two").prepare("c")  # type: ignore[arg-type]
    assert [c[1] for c in inner.calls] == ["one/c", "two/c"]


def test_walk_shows_only_the_namespaces_snapshots() -> None:
    infos = [SnapshotInfo("moby/a", "", Kind.COMMITTED), SnapshotInfo("mobyx/b", "", Kind.ACTIVE),
             SnapshotInfo("default/c", "", Kind.ACTIVE), SnapshotInfo("moby/d", "moby/a", Kind.ACTIVE)]
    sn = NamespacedSnapshotter(Recorder(infos), "moby")  # type: ignore[arg-type]
    assert [i.name for i in sn.walk()] == ["moby/a", "moby/d"]  # type: ignore[attr-defined]


def test_an_invalid_namespace_is_refused_up_front() -> None:
    with pytest.raises(errors.InvalidArgument):
        NamespacedSnapshotter(Recorder(), "a/b")  # type: ignore[arg-type]
