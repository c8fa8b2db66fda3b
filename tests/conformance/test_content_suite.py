"""Content store conformance suite (containerd core/content/testsuite style)."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.containerd.content import ContentStore, LocalContentStore, commit_idempotent, write_blob
from dockyard.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from dockyard.oci.digest import sha256_digest

Factory = Callable[[Path], ContentStore]
IMPLS: dict[str, Factory] = {"local": LocalContentStore}


@pytest.fixture(params=sorted(IMPLS))
def factory(request: pytest.FixtureRequest) -> Factory:
    return IMPLS[request.param]


@pytest.fixture
def store(factory: Factory, tmp_path: Path) -> Iterator[ContentStore]:
    yield factory(tmp_path / "content")


DATA = b"some blob content " * 1000
DGST = sha256_digest(DATA)


def test_commit_makes_blob_visible(store: ContentStore) -> None:
    w = store.writer("ref-1", total=len(DATA), expected=DGST)
    w.write(DATA[:100])
    with pytest.raises(NotFound):
        store.info(DGST)
    assert [s.ref for s in store.list_ingests()] == ["ref-1"]
    assert store.status("ref-1").offset == 100
    w.write(DATA[100:])
    assert w.digest() == DGST and w.offset == len(DATA)
    assert w.commit(len(DATA), DGST, {"a": "b"}) == DGST
    info = store.info(DGST)
    assert (info.digest, info.size, info.labels) == (DGST, len(DATA), {"a": "b"})
    assert store.read_all(DGST) == DATA
    with store.open(DGST) as fh:
        fh.seek(10)
        assert fh.read(5) == DATA[10:15]
    assert store.list_ingests() == []


@pytest.mark.parametrize("size,expected", [(None, sha256_digest(b"other")), (len(DATA) + 1, None), (len(DATA) - 1, DGST)])
def test_wrong_digest_or_size_refused(store: ContentStore, size: int | None, expected: str | None) -> None:
    w = store.writer("ref-bad")
    w.write(DATA)
    with pytest.raises(FailedPrecondition):
        w.commit(size, expected)
    w.abort()
    assert list(store.walk()) == []
    with pytest.raises(NotFound):
        store.info(DGST)
    assert store.list_ingests() == []


def test_resume_ingest_after_close_and_restart(store: ContentStore, factory: Factory, tmp_path: Path) -> None:
    w = store.writer("resume", total=len(DATA))
    w.write(DATA[:777])
    w.close()
    w = store.writer("resume")
    assert w.offset == 777 and w.status().total == len(DATA)
    w.write(DATA[777:2000])
    w.close()
    again = factory(tmp_path / "content")  # a new process on the same root
    w = again.writer("resume")
    assert w.offset == 2000
    w.write(DATA[2000:])
    assert w.commit(len(DATA), DGST) == DGST
    assert again.read_all(DGST) == DATA


def test_truncate_restarts(store: ContentStore) -> None:
    w = store.writer("trunc")
    w.write(b"garbage")
    w.truncate(0)
    w.write(DATA)
    assert w.commit(len(DATA), DGST) == DGST


def test_ref_is_locked_while_written(store: ContentStore) -> None:
    w = store.writer("locked")
    with pytest.raises(Unavailable):
        store.writer("locked")
    w.close()
    store.writer("locked").close()


def test_already_exists(store: ContentStore) -> None:
    assert write_blob(store, DATA) == DGST
    assert write_blob(store, DATA) == DGST  # idempotent
    with pytest.raises(AlreadyExists):
        store.writer("x", expected=DGST)
    w = store.writer("dup")
    w.write(DATA)
    with pytest.raises(AlreadyExists):
        w.commit(len(DATA), DGST)
    w2 = store.writer("dup2")
    w2.write(DATA)
    assert commit_idempotent(w2, len(DATA), DGST) == DGST
    assert store.list_ingests() == []
    assert [i.digest for i in store.walk()] == [DGST]


def test_abort(store: ContentStore) -> None:
    w = store.writer("ab")
    w.write(b"123")
    w.close()
    store.abort("ab")
    assert store.list_ingests() == []
    with pytest.raises(NotFound):
        store.abort("ab")
    assert store.writer("ab").offset == 0


def test_delete_and_walk(store: ContentStore) -> None:
    blobs = [b"one", b"two", b"three"]
    digests = [write_blob(store, b, labels={"n": str(i)}) for i, b in enumerate(blobs)]
    assert sorted(i.digest for i in store.walk()) == sorted(digests)
    assert [i.digest for i in store.walk(["labels.n==1"])] == [digests[1]]
    assert sorted(i.digest for i in store.walk(["labels.n==1", "labels.n==2"])) == sorted(digests[1:])
    store.delete(digests[0])
    with pytest.raises(NotFound):
        store.open(digests[0])
    with pytest.raises(NotFound):
        store.delete(digests[0])
    assert sorted(i.digest for i in store.walk()) == sorted(digests[1:])


def test_update_labels(store: ContentStore) -> None:
    dg = write_blob(store, DATA, labels={"a": "1", "b": "2"})
    assert store.update(dg, {"a": "x"}, ["labels.a"]).labels == {"a": "x", "b": "2"}
    assert store.update(dg, {}, ["labels.b"]).labels == {"a": "x"}
    assert store.update(dg, {"c": "3"}).labels == {"c": "3"}
    with pytest.raises(NotFound):
        store.update(sha256_digest(b"nope"), {"a": "1"})


def test_invalid_digest(store: ContentStore) -> None:
    for bad in ("sha256:xyz", "../../etc/passwd", "sha256:" + "0" * 63):
        with pytest.raises(InvalidArgument):
            store.info(bad)
        with pytest.raises(InvalidArgument):
            store.open(bad)


def test_empty_blob(store: ContentStore) -> None:
    dg = write_blob(store, b"")
    assert store.info(dg).size == 0 and store.read_all(dg) == b""
