"""The Engine API app against a fake engine: versions, errors, ping, listing (engine/api/)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dockyard import errors
from dockyard.engine.api.app import API_VERSION, build_app
from dockyard.engine.container import Container, Live
from dockyard.engine.images import Image
from dockyard.engine.streams import STDERR, STDOUT, JsonFileLog

T = TypeVar("T")
ZERO = "0001-01-01T00:00:00Z"


def container(id: str, name: str, *, running: bool = False, status: str = "exited", exit_code: int = 0,
              created: str = "2024-01-01T00:00:00Z", labels: dict[str, str] | None = None,
              started: str = "2024-01-01T00:00:01Z", log_path: str = "/nonexistent") -> Container:
    return Container({
        "Id": id, "Name": f"/{name}", "Created": created, "Path": "sh", "Args": ["-c", "exit 0"],
        "Image": "sha256:" + "1" * 64, "LogPath": log_path,
        "State": {"Status": "running" if running else status, "Running": running, "Paused": False,
                  "ExitCode": exit_code, "StartedAt": started, "FinishedAt": ZERO, "Error": ""},
        "Config": {"Image": "busybox", "Labels": labels or {}, "Tty": False},
        "HostConfig": {"NetworkMode": "default"}, "NetworkSettings": {"Networks": {}},
    })


class FakeImages:
    def __init__(self, images: list[Image] | None = None) -> None:
        self.images = images or []

    async def list(self) -> list[Image]:
        return list(self.images)


class FakeNetworks:
    def ps_ports(self, c: dict[str, Any]) -> list[dict[str, Any]]:
        return []


class FakeEngine:
    """What the routes use of ``Engine``; failures are planted per operation."""

    def __init__(self, *containers: Container) -> None:
        self.containers: dict[str, Container] = {c.id: c for c in containers}
        self.images = FakeImages()
        self.remove_error: errors.DockyardError | None = None
        self.removed: list[tuple[str, bool]] = []
        self.networks = FakeNetworks()
        self.lives: dict[str, Live] = {}
        self.experimental = False

    def live_of(self, id: str) -> Live:
        return self.lives.setdefault(id, Live())

    def get(self, ref: str) -> Container:
        for c in self.containers.values():
            if ref in (c.id, c.short_name):
                return c
        raise errors.NotFound(f"No such container: {ref}")

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        if self.remove_error:
            raise self.remove_error
        self.removed.append((ref, force))

    async def wait(self, id: str, condition: str) -> int:
        return 7


def with_client(eng: FakeEngine, fn: Callable[[TestClient[web.Request, web.Application]], Awaitable[T]]) -> T:
    async def run() -> T:
        async with TestClient(TestServer(build_app(eng))) as client:  # type: ignore[arg-type]
            return await fn(client)

    return asyncio.run(run())


# -- ping and versions --------------------------------------------------------------------


def test_ping_answers_ok_with_dockers_headers() -> None:
    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        for path in ("/_ping", f"/v{API_VERSION}/_ping", "/v1.24/_ping"):
            resp = await client.get(path)
            assert resp.status == 200
            assert await resp.text() == "OK"
            assert resp.headers["Api-Version"] == "1.56"
            assert resp.headers["Builder-Version"] == "1"
            assert resp.headers["OSType"] == "linux"
            assert "no-cache" in resp.headers["Cache-Control"]

    with_client(FakeEngine(), fn)


def test_head_ping_has_the_headers_and_no_body() -> None:
    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        resp = await client.head("/_ping")
        assert resp.status == 200
        assert resp.headers["Api-Version"] == API_VERSION
        assert resp.headers["OSType"] == "linux"
        assert await resp.read() == b""

    with_client(FakeEngine(), fn)


def test_a_too_new_client_version_is_refused() -> None:
    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        resp = await client.get("/v1.99/_ping")
        assert resp.status == 400
        body = await resp.json()
        assert "client version 1.99 is too new" in body["message"]
        assert "Maximum supported API version is 1.56" in body["message"]

    with_client(FakeEngine(), fn)


def test_a_too_old_client_version_is_refused() -> None:
    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        resp = await client.get("/v1.12/version")
        assert resp.status == 400
        assert "client version 1.12 is too old" in (await resp.json())["message"]

    with_client(FakeEngine(), fn)


def test_version_with_and_without_prefix() -> None:
    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        for path in ("/version", "/v1.51/version", "/v1.40/version"):
            resp = await client.get(path)
            assert resp.status == 200, path
            body = await resp.json()
            assert body["ApiVersion"] == "1.56"
            assert body["MinAPIVersion"] == "1.24"
            assert body["Os"] == "linux"
            assert body["Components"][0]["Name"] == "Engine"

    with_client(FakeEngine(), fn)


# -- errors in Docker's shape --------------------------------------------------------------


def test_not_found_is_404_with_a_message() -> None:
    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        resp = await client.get("/v1.51/containers/nope/json")
        assert resp.status == 404
        assert resp.content_type == "application/json"
        assert await resp.json() == {"message": "No such container: nope"}

    with_client(FakeEngine(), fn)


def test_conflict_is_409() -> None:
    eng = FakeEngine(container("a" * 64, "web", running=True))
    eng.remove_error = errors.Conflict("cannot remove container \"/web\": container is running")

    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        resp = await client.delete("/containers/web")
        assert resp.status == 409
        assert await resp.json() == {"message": "cannot remove container \"/web\": container is running"}

    with_client(eng, fn)


def test_other_error_kinds_map_to_their_statuses() -> None:
    cases = [(errors.InvalidArgument("bad"), 400), (errors.FailedPrecondition("state"), 409),
             (errors.Unavailable("down"), 503), (errors.NotImplementedYet("later"), 501),
             (errors.PermissionDenied("no"), 403), (errors.Internal("boom"), 500)]
    eng = FakeEngine()

    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        for err, status in cases:
            eng.remove_error = err
            resp = await client.delete("/containers/x")
            assert (resp.status, (await resp.json())["message"]) == (status, str(err))

    with_client(eng, fn)


def test_unknown_paths_are_404_in_the_json_shape() -> None:
    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        resp = await client.get("/v1.51/no/such/route")
        assert resp.status == 404
        assert await resp.json() == {"message": "page not found"}

    with_client(FakeEngine(), fn)


def test_malformed_json_body_is_400() -> None:
    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        resp = await client.post("/containers/create", data=b"{not json",
                                 headers={"Content-Type": "application/json"})
        assert resp.status == 400
        assert (await resp.json())["message"].startswith("invalid JSON: ")  # dockerd's prefix

    with_client(FakeEngine(), fn)


def test_delete_passes_force() -> None:
    eng = FakeEngine()

    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        assert (await client.delete("/v1.51/containers/web?force=1")).status == 204
        assert (await client.delete("/containers/db")).status == 204

    with_client(eng, fn)
    assert eng.removed == [("web", True), ("db", False)]


# -- /containers/json -------------------------------------------------------------------------


def listing_engine() -> FakeEngine:
    return FakeEngine(
        container("a" * 64, "web", running=True, created="2024-01-03T00:00:00Z", labels={"tier": "front"}),
        container("b" * 64, "db", exit_code=3, created="2024-01-02T00:00:00Z", labels={"tier": "back"}),
        container("c" * 64, "fresh", status="created", created="2024-01-04T00:00:00Z", started=ZERO),
        container("d" * 64, "ok", exit_code=0, created="2024-01-01T00:00:00Z"),
    )


def names_of(listing: list[dict[str, Any]]) -> list[str]:
    return [c["Names"][0] for c in listing]


def list_containers(eng: FakeEngine, params: dict[str, str]) -> list[dict[str, Any]]:
    async def fn(client: TestClient[web.Request, web.Application]) -> list[dict[str, Any]]:
        resp = await client.get("/v1.51/containers/json", params=params)
        assert resp.status == 200
        return await resp.json()  # type: ignore[no-any-return]

    return with_client(eng, fn)


def test_only_running_containers_unless_all() -> None:
    assert names_of(list_containers(listing_engine(), {})) == ["/web"]
    assert names_of(list_containers(listing_engine(), {"all": "1"})) == ["/fresh", "/web", "/db", "/ok"]


def test_summary_fields() -> None:
    (web_c,) = list_containers(listing_engine(), {})
    assert web_c["Id"] == "a" * 64
    assert web_c["Command"] == "sh -c exit 0"
    assert web_c["State"] == "running" and web_c["Status"].startswith("Up ")
    assert web_c["Image"] == "busybox"
    assert web_c["Created"] == 1704240000
    assert web_c["Labels"] == {"tier": "front"}


def filters(**kw: list[str]) -> dict[str, str]:
    return {"all": "1", "filters": json.dumps(kw)}


def test_filter_by_status_name_id_and_label() -> None:
    eng = listing_engine()
    assert names_of(list_containers(eng, filters(status=["exited"]))) == ["/db", "/ok"]
    assert names_of(list_containers(eng, filters(name=["we"]))) == ["/web"]
    assert names_of(list_containers(eng, filters(id=["bbb"]))) == ["/db"]
    assert names_of(list_containers(eng, filters(label=["tier"]))) == ["/web", "/db"]
    assert names_of(list_containers(eng, filters(label=["tier=back"]))) == ["/db"]
    assert names_of(list_containers(eng, filters(status=["exited"], label=["tier"]))) == ["/db"]


def test_old_style_map_filters_are_accepted() -> None:
    params = {"all": "1", "filters": json.dumps({"name": {"db": True}})}
    assert names_of(list_containers(listing_engine(), params)) == ["/db"]


def test_filter_by_exit_code() -> None:
    assert names_of(list_containers(listing_engine(), filters(exited=["3"]))) == ["/db"]


def test_exited_filter_skips_containers_that_never_started() -> None:
    # Docker matches `exited=N` only for stopped containers with a StartedAt.
    assert names_of(list_containers(listing_engine(), filters(exited=["0"]))) == ["/ok"]


def test_limit_keeps_the_most_recent() -> None:
    assert names_of(list_containers(listing_engine(), {"all": "1", "limit": "2"})) == ["/fresh", "/web"]


def test_limit_includes_stopped_containers_like_docker_ps_last() -> None:
    # dockerd: a positive limit lists non-running containers too (`docker ps -n 1` / `-l`).
    assert names_of(list_containers(listing_engine(), {"limit": "1"})) == ["/fresh"]


def test_malformed_filters_are_400() -> None:
    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        resp = await client.get("/containers/json", params={"filters": "{nope"})
        assert resp.status == 400
        assert "message" in await resp.json()

    with_client(listing_engine(), fn)


# -- logs, wait, images ---------------------------------------------------------------------


def test_logs_are_multiplexed_frames_honouring_tail_and_streams(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    log = JsonFileLog(path)
    log.write(STDOUT, b"one\ntwo\n")
    log.write(STDERR, b"err\n")
    log.close()
    eng = FakeEngine(container("a" * 64, "web", log_path=str(path)))

    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        resp = await client.get("/containers/web/logs", params={"stdout": "1", "stderr": "1", "tail": "2"})
        assert resp.status == 200
        assert resp.content_type == "application/vnd.docker.multiplexed-stream"
        assert await resp.read() == b"\x01\x00\x00\x00\x00\x00\x00\x04two\n" + b"\x02\x00\x00\x00\x00\x00\x00\x04err\n"
        resp = await client.get("/containers/web/logs", params={"stdout": "1"})
        assert await resp.read() == b"\x01\x00\x00\x00\x00\x00\x00\x04one\n\x01\x00\x00\x00\x00\x00\x00\x04two\n"
        resp = await client.get("/containers/web/logs")
        assert resp.status == 400
        assert (await resp.json())["message"] == "You must choose at least one stream"

    with_client(eng, fn)


def test_wait_reports_the_exit_code() -> None:
    eng = FakeEngine(container("a" * 64, "web"))

    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        resp = await client.post("/containers/web/wait")
        assert resp.status == 200
        assert json.loads(await resp.read()) == {"StatusCode": 7, "Error": None}
        bad = await client.post("/containers/web/wait", params={"condition": "sometime"})
        assert bad.status == 400

    with_client(eng, fn)


def test_images_json_lists_tags_and_digests() -> None:
    eng = FakeEngine()
    manifest_digest = "sha256:" + "d" * 64
    eng.images.images = [Image(id="sha256:" + "c" * 64, names=("docker.io/library/busybox:latest",),
                               manifest_digest=manifest_digest, manifest={"layers": [{"size": 5}]},
                               config={"created": "2024-01-01T00:00:00Z",
                                       "config": {"Labels": {"a": "b"}}}, created=0)]

    async def fn(client: TestClient[web.Request, web.Application]) -> None:
        (img,) = await (await client.get("/images/json")).json()
        assert img["Id"] == "sha256:" + "c" * 64
        assert img["RepoTags"] == ["busybox:latest"]
        assert img["RepoDigests"] == [f"busybox@{manifest_digest}"]
        assert img["Created"] == 1704067200
        assert img["Size"] == 5
        assert img["Labels"] == {"a": "b"}

    with_client(eng, fn)
