"""The engine's container records in SQLite (engine/store.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.engine.store import ContainerStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ContainerStore]:
    s = ContainerStore(tmp_path / "sub" / "engine.db")
    yield s
    s.close()


def test_insert_then_all_in_insertion_order(store: ContainerStore) -> None:
    store.insert("b" * 64, "second", {"Id": "b", "n": 1})
    store.insert("a" * 64, "first", {"Id": "a", "nested": {"x": [1, 2]}})
    assert store.all() == [{"Id": "b", "n": 1}, {"Id": "a", "nested": {"x": [1, 2]}}]


def test_update_replaces_the_record(store: ContainerStore) -> None:
    store.insert("a" * 64, "web", {"State": "created"})
    store.update("a" * 64, "web", {"State": "running"})
    assert store.all() == [{"State": "running"}]


def test_delete_removes_and_frees_the_name(store: ContainerStore) -> None:
    store.insert("a" * 64, "web", {"Id": "a"})
    store.delete("a" * 64)
    assert store.all() == []
    store.insert("b" * 64, "web", {"Id": "b"})
    assert store.all() == [{"Id": "b"}]


def test_a_taken_name_is_a_conflict_with_dockers_message(store: ContainerStore) -> None:
    store.insert("a" * 64, "web", {})
    with pytest.raises(errors.Conflict) as info:
        store.insert("b" * 64, "web", {})
    assert str(info.value) == (
        f'Conflict. The container name "/web" is already in use by container "{"a" * 64}". '
        "You have to remove (or rename) that container to be able to reuse that name.")
    assert len(store.all()) == 1


def test_a_duplicate_id_already_exists(store: ContainerStore) -> None:
    store.insert("a" * 64, "one", {})
    with pytest.raises(errors.AlreadyExists):
        store.insert("a" * 64, "two", {})


def test_records_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "engine.db"
    s = ContainerStore(path)
    s.insert("a" * 64, "web", {"Id": "a", "Name": "/web"})
    s.close()
    again = ContainerStore(path)
    try:
        assert again.all() == [{"Id": "a", "Name": "/web"}]
    finally:
        again.close()
