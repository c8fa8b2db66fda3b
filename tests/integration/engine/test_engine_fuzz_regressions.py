"""What Schemathesis found (scripts/run-schemathesis, docs/conformance.md): bad input must be a 4xx with a
message in Docker's shape, never a 500 from a TypeError deep in the engine."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.httpcall import call

pytestmark = pytest.mark.root


def _post(d: Daemon, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    return call(d, "POST", path, body, headers=headers, timeout=30)


@pytest.mark.parametrize("path,body", [
    ("/v1.47/containers/create?name=fuzz-reg", {"Image": [None, None]}),  # was 500: list into images.get
    ("/v1.47/containers/create", {"Image": "busybox", "HostConfig": {"Memory": "lots"}}),
    ("/v1.47/networks/create", {"Name": [None, None], "Driver": "bridge"}),  # was 500: sqlite bind of a list
    ("/v1.47/networks/x/connect", {"Container": [None, None]}),  # was 500: unhashable list
    ("/v1.47/networks/x/disconnect", {"Container": {"Id": 5}}),  # was 500 (a number: int has no lstrip)
    ("/v1.47/auth", {"username": "u", "password": "p", "serveraddress": {}}),  # was 500: protobuf field type
    ("/v1.47/volumes/create", {"Name": 1}),
    ("/v1.47/volumes/create", {"Name": "fz", "DriverOpts": {"type": "tmpfs", "device": "tmpfs"}}),  # was 501
    ("/v1.47/auth", {"username": "u", "password": "p", "serveraddress": "\u00d5\u0093"}),  # was 503: DNS of junk
    ("/v1.47/auth", {"username": "u", "password": "p", "serveraddress": 0}),  # was 503: "0" no canonical IPv4
    ("/v1.47/containers/create", ["not", "an", "object"]),
])
def test_wrong_json_types_are_400_with_a_message(daemon: Daemon, path: str, body: Any) -> None:
    status, answer = _post(daemon, path, body)
    assert status == 400, answer
    assert isinstance(answer, dict) and answer.get("message"), answer


def test_registry_auth_header_with_wrong_types_is_400(daemon: Daemon) -> None:
    header = base64.urlsafe_b64encode(json.dumps({"username": ["x"], "password": 1}).encode()).decode()
    status, answer = _post(daemon, "/v1.47/images/create?fromImage=busybox&tag=latest", None,
                           {"X-Registry-Auth": header})
    assert status == 400, answer
    assert "cannot unmarshal" in answer["message"]


def test_well_typed_create_still_works(daemon: Daemon) -> None:
    status, answer = _post(daemon, "/v1.47/containers/create?name=fuzz-reg-ok",
                           {"Image": "busybox", "Cmd": "true", "Env": None, "HostConfig": {"Memory": 67108864.0}})
    try:
        assert status == 201, answer
    finally:
        daemon.cli("rm", "-f", "fuzz-reg-ok")
