"""Image answers docker-py's suite wants as dockerd gives them (docs/conformance.md, docker-py): a commit's
``Parent``, ``save`` by ID without tags, load errors in the stream, the ``reference`` filter on
``RepoDigests``, ``since``/``before``, and honest refusals of ``/images/search`` and
``/distribution/{name}/json``."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[Any]:
    import docker

    c = docker.DockerClient(base_url=daemon.host, version="1.47", timeout=60)
    yield c
    c.close()


@pytest.fixture
def cleanup(client: Any) -> Iterator[tuple[list[str], list[str]]]:
    """(containers, images) the test made, removed afterwards."""
    containers: list[str] = []
    images: list[str] = []
    yield containers, images
    for id in containers:
        client.api.remove_container(id, force=True)
    for ref in reversed(images):
        try:
            client.api.remove_image(ref, force=True)
        except Exception as err:  # noqa: BLE001 - the image may be gone with an earlier name
            if "No such image" not in str(err):
                raise


def _commit(client: Any, cleanup: tuple[list[str], list[str]], base: str, repo: str = "") -> str:
    containers, images = cleanup
    c = client.api.create_container(base, ["touch", f"/{uuid.uuid4().hex}"])
    containers.append(c["Id"])
    client.api.start(c["Id"])
    assert client.api.wait(c["Id"], timeout=30)["StatusCode"] == 0
    image_id = str(client.api.commit(c["Id"], repository=repo or None)["Id"])
    images.append(repo or image_id)
    return image_id


def _manifest_json(data: bytes) -> list[dict[str, Any]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        f = tar.extractfile("manifest.json")
        assert f is not None
        return list(json.load(f))


def test_commit_records_the_image_it_was_made_from(client: Any, cleanup: tuple[list[str], list[str]]) -> None:
    base = client.api.inspect_image("busybox:latest")["Id"]
    repo = f"dy-parent-{uuid.uuid4().hex[:6]}"
    child = _commit(client, cleanup, "busybox:latest", repo)
    assert client.api.inspect_image(child)["Parent"] == base
    listed = [i for i in client.api.images() if i["Id"] == child]
    assert listed and listed[0]["ParentId"] == base
    grandchild = _commit(client, cleanup, repo)
    assert client.api.inspect_image(grandchild)["Parent"] == child
    client.api.tag(child, repo, "again")
    cleanup[1].append(f"{repo}:again")
    assert client.api.inspect_image(f"{repo}:again")["Parent"] == base  # a new tag keeps it
    assert client.api.inspect_image("busybox:latest")["Parent"] == ""  # imported: none


def test_save_by_id_writes_no_tags_and_loads_as_one_image(client: Any, cleanup: tuple[list[str], list[str]]) -> None:
    img = client.images.get("busybox:latest")
    extra = f"dy-save-{uuid.uuid4().hex[:6]}:x"
    img.tag(extra)
    cleanup[1].append(extra)
    by_id = b"".join(client.api.get_image(img.id))
    assert [e["RepoTags"] or [] for e in _manifest_json(by_id)] == [[]]
    assert [e["RepoTags"] for e in _manifest_json(b"".join(client.api.get_image(extra)))] == [[extra]]
    loaded = client.images.load(by_id)
    assert [i.id for i in loaded] == [img.id]
    # the record the export went through is gone: the image has its names and no dangling one
    assert sorted(client.images.get(img.id).tags) == sorted(["busybox:latest", extra])
    assert img.id not in [i["Id"] for i in client.api.images(filters={"dangling": True})]


@pytest.mark.parametrize("body", [b"abc", b""], ids=["not-tar", "empty"])
def test_load_errors_come_in_the_stream(client: Any, body: bytes) -> None:
    import docker

    with pytest.raises(docker.errors.ImageLoadError, match="archive"):
        client.images.load(body)
    assert client.api.inspect_image("busybox:latest")["Id"]


def test_reference_filter_keeps_only_matching_repo_digests(client: Any,
                                                           cleanup: tuple[list[str], list[str]]) -> None:
    """dockerd filters RepoDigests like RepoTags: otherwise `docker images busybox:latest` shows every other
    repository of the image as a `<none>` row."""
    other = f"localhost:5000/dy-ref-{uuid.uuid4().hex[:6]}"
    client.api.tag("busybox:latest", other, "latest")
    cleanup[1].append(f"{other}:latest")
    rows = client.api.images(name="busybox:latest")  # a tag matches no repo@digest (moby's FamiliarMatch)
    assert [(r["RepoTags"], r["RepoDigests"]) for r in rows] == [(["busybox:latest"], [])]
    rows = client.api.images(name="busybox")
    assert len(rows) == 1 and rows[0]["RepoTags"] == ["busybox:latest"]
    assert rows[0]["RepoDigests"] and all(d.startswith("busybox@") for d in rows[0]["RepoDigests"])
    both = client.api.images(filters={"reference": ["busybox", other]})
    assert {d.partition("@")[0] for d in both[0]["RepoDigests"]} == {"busybox", other}


def test_since_and_before_filters(client: Any, cleanup: tuple[list[str], list[str]]) -> None:
    first = _commit(client, cleanup, "busybox:latest")
    second = _commit(client, cleanup, "busybox:latest")
    since = {i["Id"] for i in client.api.images(all=True, filters={"since": first})}
    assert second in since and first not in since
    before = {i["Id"] for i in client.api.images(all=True, filters={"before": second})}
    assert first in before and second not in before
    assert client.api.inspect_image("busybox:latest")["Id"] in before


def test_search_and_distribution_are_refused_honestly(client: Any) -> None:
    import docker

    with pytest.raises(docker.errors.APIError) as err:
        client.api.search("busybox")
    assert err.value.status_code == 501 and "search" in str(err.value)
    with pytest.raises(docker.errors.APIError) as err:
        client.api.inspect_distribution("busybox:latest")
    assert err.value.status_code == 501 and "distribution" in str(err.value)
    with pytest.raises(docker.errors.APIError) as err:
        client.api.inspect_distribution("Not_A/Valid::ref")
    assert err.value.status_code == 400
