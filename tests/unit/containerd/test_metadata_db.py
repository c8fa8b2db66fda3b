"""dockyard-containerd's metadata: images and containers, per namespace (containerd/metadata/db.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.containerd.metadata.db import ContainerRecord, ImageRecord, MetadataStore
from dockyard.types import Descriptor

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def desc(n: int) -> Descriptor:
    return Descriptor(MANIFEST, "sha256:" + f"{n:x}" * 64, 100 + n)


def container(id: str, created_at: int = 0) -> ContainerRecord:
    return ContainerRecord(id, "docker.io/library/busybox:latest", "overlayfs", id, b'{"ociVersion":"1.0.2"}',
                           "dockyard-runc", {"k": "v"}, created_at)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetadataStore]:
    s = MetadataStore(tmp_path / "meta" / "meta.db")
    yield s
    s.close()


# -- images ------------------------------------------------------------------------------


def test_put_then_get_an_image(store: MetadataStore) -> None:
    before = time.time_ns()
    put = store.put_image("moby", ImageRecord("docker.io/library/busybox:latest", desc(1), {"a": "b"}))
    assert put.created_at >= before and put.updated_at >= put.created_at
    got = store.get_image("moby", "docker.io/library/busybox:latest")
    assert got == put
    assert got.target == desc(1)
    assert got.labels == {"a": "b"}


def test_descriptor_annotations_survive(store: MetadataStore) -> None:
    d = Descriptor(MANIFEST, "sha256:" + "e" * 64, 5, {"org.opencontainers.image.ref.name": "v1"},
                   {"architecture": "amd64", "os": "linux"})
    store.put_image("ns", ImageRecord("x", d))
    assert store.get_image("ns", "x").target == d


def test_replacing_an_image_keeps_created_at_and_moves_updated_at(store: MetadataStore) -> None:
    first = store.put_image("moby", ImageRecord("img", desc(1)))
    time.sleep(0.002)
    second = store.put_image("moby", ImageRecord("img", desc(2), created_at=1))
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    got = store.get_image("moby", "img")
    assert got.target == desc(2)
    assert got.created_at == first.created_at


def test_a_new_image_may_carry_its_own_created_at(store: MetadataStore) -> None:
    assert store.put_image("moby", ImageRecord("img", desc(1), created_at=123)).created_at == 123


def test_images_are_listed_by_name_within_their_namespace(store: MetadataStore) -> None:
    for name in ("b", "a", "c"):
        store.put_image("one", ImageRecord(name, desc(1)))
    store.put_image("two", ImageRecord("z", desc(2)))
    assert [i.name for i in store.list_images("one")] == ["a", "b", "c"]
    assert [i.name for i in store.list_images("two")] == ["z"]
    assert store.list_images("three") == []


def test_namespaces_do_not_see_each_others_images(store: MetadataStore) -> None:
    store.put_image("one", ImageRecord("same", desc(1)))
    store.put_image("two", ImageRecord("same", desc(2)))
    assert store.get_image("one", "same").target == desc(1)
    assert store.get_image("two", "same").target == desc(2)
    store.delete_image("one", "same")
    with pytest.raises(errors.NotFound):
        store.get_image("one", "same")
    assert store.get_image("two", "same").target == desc(2)


def test_missing_images_are_not_found_by_name(store: MetadataStore) -> None:
    store.put_image("one", ImageRecord("there", desc(1)))
    with pytest.raises(errors.NotFound, match="image 'there': not found"):
        store.get_image("two", "there")
    with pytest.raises(errors.NotFound, match="image 'gone': not found"):
        store.delete_image("one", "gone")


def test_all_image_targets_spans_namespaces(store: MetadataStore) -> None:
    store.put_image("one", ImageRecord("a", desc(1)))
    store.put_image("two", ImageRecord("b", desc(2)))
    assert sorted(store.all_image_targets()) == sorted([desc(1).digest, desc(2).digest])


# -- containers ------------------------------------------------------------------------------


def test_create_then_get_a_container(store: MetadataStore) -> None:
    created = store.create_container("moby", container("c1"))
    assert created.created_at > 0
    got = store.get_container("moby", "c1")
    assert got == created
    assert got.spec == b'{"ociVersion":"1.0.2"}' and isinstance(got.spec, bytes)
    assert got.labels == {"k": "v"}


def test_a_duplicate_container_already_exists(store: MetadataStore) -> None:
    store.create_container("moby", container("c1"))
    with pytest.raises(errors.AlreadyExists, match="container 'c1': already exists"):
        store.create_container("moby", container("c1"))


def test_the_same_container_id_in_two_namespaces(store: MetadataStore) -> None:
    store.create_container("one", container("c1"))
    store.create_container("two", container("c1"))
    store.delete_container("one", "c1")
    assert [c.id for c in store.list_containers("one")] == []
    assert [c.id for c in store.list_containers("two")] == ["c1"]


def test_containers_are_listed_by_creation(store: MetadataStore) -> None:
    store.create_container("moby", container("late", created_at=30))
    store.create_container("moby", container("early", created_at=10))
    store.create_container("moby", container("middle", created_at=20))
    assert [c.id for c in store.list_containers("moby")] == ["early", "middle", "late"]


def test_missing_containers_are_not_found(store: MetadataStore) -> None:
    with pytest.raises(errors.NotFound, match="container 'nope': not found"):
        store.get_container("moby", "nope")
    with pytest.raises(errors.NotFound, match="container 'nope': not found"):
        store.delete_container("moby", "nope")


def test_records_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    s = MetadataStore(path)
    s.put_image("moby", ImageRecord("img", desc(3)))
    s.create_container("moby", container("c1"))
    s.close()
    again = MetadataStore(path)
    try:
        assert again.get_image("moby", "img").target == desc(3)
        assert again.get_container("moby", "c1").snapshot_key == "c1"
    finally:
        again.close()
