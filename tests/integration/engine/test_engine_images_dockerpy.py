"""Image (and volume) answers docker-py's suite wants as dockerd gives them (docs/conformance.md, docker-py): a commit's
``Parent``, ``save`` by ID without tags, load errors in the stream, the ``reference`` filter on
``RepoDigests``, ``since``/``before``, ``/distribution/{name}/json`` and ``/images/search`` asked of the
registry (a local one here)."""

from __future__ import annotations

import http.server
import io
import json
import os
import shutil
import tarfile
import tempfile
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
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


def _commit(client: Any, cleanup: tuple[list[str], list[str]], base: str, repo: str = "",
            changes: list[str] | None = None) -> str:
    containers, images = cleanup
    c = client.api.create_container(base, ["touch", f"/{uuid.uuid4().hex}"])
    containers.append(c["Id"])
    client.api.start(c["Id"])
    assert client.api.wait(c["Id"], timeout=30)["StatusCode"] == 0
    image_id = str(client.api.commit(c["Id"], repository=repo or None, changes=changes)["Id"])
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


@pytest.fixture(scope="module")
def registry() -> Iterator[Any]:
    from tests.integration.images.conftest import REGISTRY_BIN, Registry

    if not os.path.exists(REGISTRY_BIN):
        pytest.fail("docker-registry is not installed: apt-get install -y docker-registry")
    base = Path(tempfile.mkdtemp(prefix="dy-reg-"))
    r = Registry(base)
    try:
        yield r
    finally:
        r.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_distribution_inspect_asks_the_registry(client: Any, registry: Any,
                                                cleanup: tuple[list[str], list[str]]) -> None:
    name = f"{registry.host}/dy-dist-{uuid.uuid4().hex[:6]}"
    client.api.tag("busybox:latest", name, "v1")
    cleanup[1].append(f"{name}:v1")
    for line in client.api.push(name, "v1", stream=True, decode=True):
        assert "error" not in line, line
    pushed = client.api.inspect_image(f"{name}:v1")["RepoDigests"]
    data = client.api.inspect_distribution(f"{name}:v1")
    assert f"{name}@{data['Descriptor']['digest']}" in pushed
    assert data["Descriptor"]["size"] > 0 and "manifest" in data["Descriptor"]["mediaType"]
    assert data["Platforms"] == [{"architecture": "amd64" if os.uname().machine == "x86_64" else
                                  client.api.inspect_image("busybox:latest")["Architecture"], "os": "linux"}]
    import docker

    with pytest.raises(docker.errors.APIError) as err:
        client.api.inspect_distribution(f"{name}:nope")
    assert err.value.status_code == 404, err.value
    with pytest.raises(docker.errors.APIError) as err:
        client.api.inspect_distribution("Not_A/Valid::ref")
    assert err.value.status_code == 400


class _Index(http.server.BaseHTTPRequestHandler):
    """A registry's v1 search index: two results, one official."""

    def do_GET(self) -> None:  # noqa: N802 - the handler's name
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        ok = self.path.startswith("/v1/search") and query.get("q") == ["busy"]
        body = json.dumps({"num_results": 2, "query": "busy", "results": [
            {"name": "busybox", "description": "tiny", "star_count": 3000, "is_official": True,
             "is_automated": False},
            {"name": "someone/busy", "description": "", "star_count": 1, "is_official": False,
             "is_automated": False}]} if ok else {}).encode()
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_search_asks_the_registrys_index(client: Any) -> None:
    import docker

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        found = client.api.search(f"{host}/busy")
        assert [r["name"] for r in found] == ["busybox", "someone/busy"]
        params = {"term": f"{host}/busy", "filters": json.dumps({"is-official": ["true"]})}
        official = client.api._result(client.api._get(client.api._url("/images/search"), params=params), True)
        assert [r["name"] for r in official] == ["busybox"]
        assert [r["name"] for r in client.api.search(f"{host}/busy", limit=1)] == ["busybox"]
        with pytest.raises(docker.errors.APIError) as err:
            client.api.search(f"{host}/busy", limit=1000)
        assert err.value.status_code == 400
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    with pytest.raises(docker.errors.APIError) as err:  # nothing listens there any more
        client.api.search(f"{host}/busy")
    assert err.value.status_code == 503 and "cannot reach" in str(err.value)


def test_a_volume_created_without_a_name_is_anonymous_and_pruned(client: Any) -> None:
    anonymous = client.api.create_volume()["Name"]
    named = f"dy-named-{uuid.uuid4().hex[:6]}"
    client.api.create_volume(named)
    try:
        assert "com.docker.volume.anonymous" in (client.api.inspect_volume(anonymous)["Labels"] or {})
        gone = client.api.prune_volumes()["VolumesDeleted"] or []
        assert anonymous in gone and named not in gone
    finally:
        for name in (anonymous, named):
            try:
                client.api.remove_volume(name)
            except Exception as err:  # noqa: BLE001 - pruned already
                if "no such volume" not in str(err).lower():
                    raise


def test_build_sends_the_image_id_before_successfully_built(client: Any) -> None:
    """dockerd's order: {"aux": {"ID"}} then "Successfully built", "Successfully tagged" (docker-py reads the
    last line's "stream")."""
    tag = f"dy-build-order-{uuid.uuid4().hex[:6]}:latest"
    lines = list(client.api.build(fileobj=io.BytesIO(b"FROM busybox\nLABEL a=b\n"), tag=tag, decode=True))
    try:
        tail = [next(iter(line)) + ":" + str(line.get("stream", "")).split(" ")[0] for line in lines[-3:]]
        assert tail == ["aux:", "stream:Successfully", "stream:Successfully"], lines
        assert lines[-2]["stream"].startswith("Successfully built")
        assert lines[-1]["stream"] == f"Successfully tagged {tag}\n"
        assert lines[-3]["aux"]["ID"] == client.api.inspect_image(tag)["Id"]
    finally:
        client.api.remove_image(tag, force=True)


def test_a_moved_tag_leaves_its_old_image_dangling_without_repo_digests(
        client: Any, cleanup: tuple[list[str], list[str]]) -> None:
    """As dockerd: the image a tag named before stays as `<none>:<none>` (not gone); a dangling image has
    no RepoDigests (the CLI showed its record's name, "moby-dangling", as a repository)."""
    repo = f"dy-moved-{uuid.uuid4().hex[:6]}"
    first = _commit(client, cleanup, "busybox:latest", repo)
    second = _commit(client, cleanup, "busybox:latest", repo)
    cleanup[1].extend([first, second])
    assert first != second
    old = client.api.inspect_image(first)
    assert old["RepoTags"] == [] and old["RepoDigests"] == []
    dangling = {i["Id"]: i for i in client.api.images(filters={"dangling": True})}
    assert first in dangling and dangling[first]["RepoDigests"] == []
    assert client.api.inspect_image(f"{repo}:latest")["Id"] == second
    client.api.tag("busybox:latest", repo, "latest")  # moved again by tag: the second goes dangling too
    assert client.api.inspect_image(second)["RepoTags"] == []
    assert all(not d.startswith("moby-dangling") for i in client.api.images(all=True) for d in i["RepoDigests"] or [])


def test_until_and_label_filters_on_image_list_and_prune(client: Any, cleanup: tuple[list[str], list[str]]) -> None:
    """`until` (Unix time, RFC 3339 or a duration before now) and prune's `label`/`label!` are applied,
    not only accepted. Every prune here is limited to this test's label (the daemon is the session's)."""
    import time

    run = uuid.uuid4().hex[:8]
    old = _commit(client, cleanup, "busybox:latest", changes=[f"LABEL dy.run={run}"])
    time.sleep(1.1)
    cut = time.time()
    time.sleep(0.1)
    new = _commit(client, cleanup, "busybox:latest", changes=[f"LABEL dy.run={run} dy.keep=yes"])
    third = _commit(client, cleanup, "busybox:latest", changes=[f"LABEL dy.run={run}"])
    listed = {i["Id"] for i in client.api.images(all=True, filters={"until": str(cut)})}
    assert old in listed and new not in listed
    assert new not in {i["Id"] for i in client.api.images(all=True, filters={"until": "1h"})}
    with pytest.raises(Exception, match="until"):
        client.api.images(filters={"until": "yesterday"})
    gone = client.api.prune_images(filters={"until": str(cut), "label": f"dy.run={run}"})
    assert {d.get("Deleted") for d in gone["ImagesDeleted"] or []} == {old}
    gone = client.api.prune_images(filters={"label": f"dy.run={run}", "label!": "dy.keep=yes"})
    assert {d.get("Deleted") for d in gone["ImagesDeleted"] or []} == {third}
    assert client.api.inspect_image(new)["Id"] == new


def test_load_and_pull_over_a_tag_leave_the_image_it_named_dangling(
        client: Any, registry: Any, cleanup: tuple[list[str], list[str]]) -> None:
    repo = f"{registry.host}/dy-over-{uuid.uuid4().hex[:6]}"
    a = _commit(client, cleanup, "busybox:latest", f"{repo}:t")
    for line in client.api.push(repo, "t", stream=True, decode=True):
        assert "error" not in line, line
    saved = b"".join(client.api.get_image(f"{repo}:t"))
    b = _commit(client, cleanup, "busybox:latest", f"{repo}:t")  # a: dangling (engine side)
    cleanup[1].extend([a, b])
    client.images.load(saved)  # the tag back on a; b must stay, dangling
    assert client.api.inspect_image(f"{repo}:t")["Id"] == a
    assert client.api.inspect_image(b)["RepoTags"] == []
    client.api.tag(b, repo, "t")  # and a pull puts it back on a again
    for line in client.api.pull(repo, "t", stream=True, decode=True):
        assert "error" not in line, line
    assert client.api.inspect_image(f"{repo}:t")["Id"] == a
    assert client.api.inspect_image(b)["RepoTags"] == []
    assert b in {i["Id"] for i in client.api.images(filters={"dangling": True})}
