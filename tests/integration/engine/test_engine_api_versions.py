"""The Engine API through 1.56 on a daemon, and older versions answered as dockerd answers them (issue 14)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import Daemon
from tests.httpcall import call, request

pytestmark = pytest.mark.root


@pytest.fixture
def healthy(daemon: Daemon) -> Any:
    """A running container with a passing healthcheck and an annotation; removed at the end."""
    name = f"ver-{uuid.uuid4().hex[:8]}"
    status, out = call(daemon, "POST", f"/v1.56/containers/create?name={name}", {
        "Image": "busybox", "Cmd": ["sleep", "300"],
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 200_000_000, "StartPeriod": 0},
        "HostConfig": {"NetworkMode": "none", "Annotations": {"org.example/owner": "tests"}}})
    assert status == 201, out
    try:
        assert call(daemon, "POST", f"/v1.56/containers/{name}/start")[0] == 204
        deadline = time.monotonic() + 20
        while call(daemon, "GET", f"/containers/{name}/json")[1]["State"]["Health"]["Status"] != "healthy":
            assert time.monotonic() < deadline, "healthcheck never passed"
            time.sleep(0.1)
        yield name
    finally:
        daemon.cli("rm", "-f", name)


def _row(d: Daemon, version: str, name: str) -> dict[str, Any]:
    status, rows = call(d, "GET", f"/v{version}/containers/json?all=1")
    assert status == 200
    return next(r for r in rows if r["Names"] == [f"/{name}"])


def test_version_prefix_bounds_and_advertised_version(daemon: Daemon) -> None:
    assert call(daemon, "GET", "/v1.56/version")[1]["ApiVersion"] == "1.56"
    assert call(daemon, "GET", "/v1.24/version")[1]["MinAPIVersion"] == "1.24"
    assert call(daemon, "GET", "/v1.99/version") == (
        400, {"message": "client version 1.99 is too new. Maximum supported API version is 1.56"})
    assert call(daemon, "GET", "/v1.57/_ping")[0] == 400
    status, _ = call(daemon, "GET", "/v1.23/version")
    assert status == 400
    status, headers, _ = request(daemon, "GET", "/_ping")
    assert status == 200 and headers["api-version"] == "1.56"


def test_container_list_health_summary_and_annotations_by_version(daemon: Daemon, healthy: str) -> None:
    row = _row(daemon, "1.56", healthy)
    assert row["Health"] == {"Status": "healthy", "FailingStreak": 0}
    assert row["HostConfig"]["Annotations"] == {"org.example/owner": "tests"}
    assert "Health" not in _row(daemon, "1.51", healthy)
    assert "Annotations" not in _row(daemon, "1.45", healthy)["HostConfig"]


def test_container_without_healthcheck_lists_health_none(daemon: Daemon) -> None:
    name = f"ver-{uuid.uuid4().hex[:8]}"
    assert call(daemon, "POST", f"/containers/create?name={name}", {"Image": "busybox",
                                                                    "HostConfig": {"NetworkMode": "none"}})[0] == 201
    try:
        assert _row(daemon, "1.52", name)["Health"] == {"Status": "none", "FailingStreak": 0}
    finally:
        daemon.cli("rm", "-f", name)


def test_container_inspect_legacy_network_fields_end_at_152(daemon: Daemon, healthy: str) -> None:
    new = call(daemon, "GET", f"/v1.52/containers/{healthy}/json")[1]
    assert {"IPAddress", "Gateway", "MacAddress", "EndpointID", "Bridge"}.isdisjoint(new["NetworkSettings"])
    assert new["Storage"] == {"RootFS": {"Snapshot": {"Name": "overlayfs"}}} and "GraphDriver" not in new
    old = call(daemon, "GET", f"/v1.51/containers/{healthy}/json")[1]
    assert "Bridge" in old["NetworkSettings"] and old["GraphDriver"]["Name"] == "overlayfs"


def test_container_wide_mac_address_ignored_from_152(daemon: Daemon) -> None:
    """From 1.52 dockerd's Config has no MacAddress: its decoder drops the field (a 201, no warning, the
    endpoint gets an address of its own); 1.51 still applies it to the endpoint of the default network."""
    net = f"vermac-{uuid.uuid4().hex[:8]}"
    assert daemon.cli("network", "create", net).returncode == 0
    name = f"ver-{uuid.uuid4().hex[:8]}"
    body = {"Image": "busybox", "Cmd": ["sleep", "60"], "MacAddress": "02:42:ac:11:00:09",
            "HostConfig": {"NetworkMode": net}}
    try:
        status, out = call(daemon, "POST", f"/v1.52/containers/create?name={name}", body)
        assert (status, out.get("Warnings")) == (201, []), out
        assert daemon.cli("start", name).returncode == 0
        mac = call(daemon, "GET", f"/v1.56/containers/{name}/json")[1]["NetworkSettings"]["Networks"][net]
        assert mac["MacAddress"] and mac["MacAddress"] != "02:42:ac:11:00:09"
        daemon.cli("rm", "-f", name)
        status, out = call(daemon, "POST", f"/v1.51/containers/create?name={name}", body)
        assert status == 201, out
        assert daemon.cli("start", name).returncode == 0
        mac = call(daemon, "GET", f"/v1.56/containers/{name}/json")[1]["NetworkSettings"]["Networks"][net]
        assert mac["MacAddress"] == "02:42:ac:11:00:09"
    finally:
        daemon.cli("rm", "-f", name)
        daemon.cli("network", "rm", net)


def test_image_inspect_and_list_manifests(daemon: Daemon) -> None:
    status, img = call(daemon, "GET", "/v1.56/images/busybox/json?manifests=1")
    assert status == 200
    [m] = img["Manifests"]
    assert m["ID"] == img["Descriptor"]["digest"] and m["Kind"] == "image" and m["Available"] is True
    assert m["Descriptor"]["platform"]["os"] == "linux" and m["Descriptor"]["size"] > 0
    assert m["ImageData"]["Size"]["Unpacked"] == img["Size"]
    assert {"Parent", "Comment", "DockerVersion"}.isdisjoint(img)  # empty ones left out from 1.52
    old = call(daemon, "GET", "/v1.47/images/busybox/json?manifests=1")[1]
    assert "Manifests" not in old and "Descriptor" not in old and old["Parent"] == ""
    rows = call(daemon, "GET", "/v1.56/images/json?manifests=1")[1]
    assert all(r["Manifests"][0]["Kind"] == "image" for r in rows)
    assert all("Manifests" not in r for r in call(daemon, "GET", "/v1.46/images/json?manifests=1")[1])


def test_events_legacy_fields_and_content_types(daemon: Daemon) -> None:
    name = f"ver-{uuid.uuid4().hex[:8]}"
    since = time.time() - 1
    assert call(daemon, "POST", f"/containers/create?name={name}", {"Image": "busybox",
                                                                    "HostConfig": {"NetworkMode": "none"}})[0] == 201
    daemon.cli("rm", "-f", name)
    until = time.time() + 0.5
    query = f"since={since}&until={until}&filters=" + quote(json.dumps({"container": [name], "event": ["create"]}))

    def create_event(version: str, accept: str = "") -> tuple[str, bytes]:
        status, headers, body = request(daemon, "GET", f"/v{version}/events?{query}",
                                        headers={"Accept": accept} if accept else None)
        assert status == 200
        return headers["content-type"], body

    ct, body = create_event("1.51")
    ev = json.loads(body)
    assert ct == "application/json" and ev["status"] == "create" and ev["id"] == ev["Actor"]["ID"]
    ct, body = create_event("1.56")
    ev = json.loads(body)
    assert ct == "application/jsonl" and {"status", "id", "from"}.isdisjoint(ev) and ev["Action"] == "create"
    ct, body = create_event("1.56", "application/json-seq")
    assert ct == "application/json-seq" and body.startswith(b"\x1e") and json.loads(body[1:])["Action"] == "create"
