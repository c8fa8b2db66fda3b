"""Volume answers moby's integration suite checks (issue 14, session 6): a ``Subpath`` through a
symlink that stays inside the volume mounts its target, an empty subpath directory is filled with the
image's content, and ``POST /volumes/prune`` below API 1.42 removes named volumes too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import Daemon
from tests.httpcall import call

pytestmark = pytest.mark.root


@pytest.fixture
def volume(daemon: Daemon) -> Iterator[str]:
    name = f"mv-{uuid.uuid4().hex[:8]}"
    status, answer = call(daemon, "POST", "/v1.51/volumes/create", {"Name": name})
    assert status == 201, answer
    yield name
    call(daemon, "DELETE", f"/v1.51/volumes/{name}?force=1")


def _output(d: Daemon, volume: str, cmd: list[str], target: str, subpath: str = "") -> tuple[int, str]:
    name = f"mv-{uuid.uuid4().hex[:8]}"
    mount = {"Type": "volume", "Source": volume, "Target": target,
             **({"VolumeOptions": {"Subpath": subpath}} if subpath else {})}
    status, made = call(d, "POST", f"/v1.51/containers/create?name={name}",
                        {"Image": "busybox", "Cmd": cmd, "HostConfig": {"Mounts": [mount]}})
    assert status == 201, made
    try:
        status, answer = call(d, "POST", f"/v1.51/containers/{made['Id']}/start")
        assert status == 204, answer
        code = call(d, "POST", f"/v1.51/containers/{made['Id']}/wait")[1]["StatusCode"]
        logs = d.cli("logs", made["Id"])
        return code, logs.stdout.decode()
    finally:
        call(d, "DELETE", f"/v1.51/containers/{made['Id']}?force=1")


def test_subpath_symlink_inside_the_volume_and_copy_into_an_empty_subpath(daemon: Daemon, volume: str) -> None:
    code, out = _output(daemon, volume, ["sh", "-c", "mkdir -p /v/sub /v/hack /v/bin && echo world > /v/sub/hello "
                                         "&& ln -s ../sub /v/hack/good"], "/v")
    assert code == 0, out
    assert _output(daemon, volume, ["cat", "/m/hello"], "/m", "hack/good") == (0, "world\n")
    code, out = _output(daemon, volume, ["ls", "/bin/busybox"], "/bin", "bin")
    assert (code, out) == (0, "/bin/busybox\n"), "the empty subpath gets the image's /bin"


def test_prune_below_api_1_42_removes_named_volumes(daemon: Daemon) -> None:
    name = f"mv-{uuid.uuid4().hex[:8]}"
    assert call(daemon, "POST", "/v1.51/volumes/create", {"Name": name})[0] == 201
    try:
        status, report = call(daemon, "POST", "/v1.51/volumes/prune")
        assert status == 200 and name not in (report["VolumesDeleted"] or []), report
        status, report = call(daemon, "POST", "/v1.41/volumes/prune")
        assert status == 200 and name in (report["VolumesDeleted"] or []), report
    finally:
        call(daemon, "DELETE", f"/v1.51/volumes/{name}?force=1")
