"""A ``[r]shared`` bind from a mount that is not shared, or a ``[r]slave`` one from a mount neither shared
nor slave, is refused at start as dockerd refuses it (ensureShared/ensureSharedOrSlave): a 500 with its
message, the container left created with the error and exit code 128 (issue 14, session 8)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.httpcall import call

pytestmark = pytest.mark.root


def _mount(*args: str | Path) -> None:
    subprocess.run(["mount", *map(str, args)], check=True, capture_output=True)


@pytest.fixture
def mounts(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """``private``: a private mount; ``master``: a shared one; ``slave``: a slave of ``master``."""
    made: list[Path] = []
    try:
        for name in ("private", "master", "slave"):
            (tmp_path / name).mkdir()
        for name in ("private", "master"):
            _mount("--bind", tmp_path / name, tmp_path / name)
            made.append(tmp_path / name)
            _mount("--make-private", tmp_path / name)
        _mount("--make-shared", tmp_path / "master")
        _mount("--bind", tmp_path / "master", tmp_path / "slave")
        made.append(tmp_path / "slave")
        _mount("--make-slave", tmp_path / "slave")
        yield {name: tmp_path / name for name in ("private", "master", "slave")}
    finally:
        for path in reversed(made):
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def _start(d: Daemon, host_config: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Create and start: the start's status and answer, and the container's inspect after it."""
    status, made = call(d, "POST", f"/v1.51/containers/create?name=prop-{uuid.uuid4().hex[:8]}",
                        {"Image": "busybox", "Cmd": ["true"], "HostConfig": host_config})
    assert status == 201, made
    try:
        status, answer = call(d, "POST", f"/v1.51/containers/{made['Id']}/start")
        if status == 204:
            call(d, "POST", f"/v1.51/containers/{made['Id']}/wait")
        return status, answer, call(d, "GET", f"/v1.51/containers/{made['Id']}/json")[1]
    finally:
        call(d, "DELETE", f"/v1.51/containers/{made['Id']}?force=1")


@pytest.mark.parametrize("mode,kind", [("shared", "a shared"), ("rshared", "a shared"),
                                       ("slave", "a shared or slave"), ("rslave", "a shared or slave")])
def test_propagation_from_a_private_mount_is_refused_at_start(daemon: Daemon, mounts: dict[str, Path],
                                                              mode: str, kind: str) -> None:
    src = mounts["private"]
    status, answer, inspect = _start(daemon, {"Binds": [f"{src}:/v:{mode}"]})
    assert status == 500, answer
    assert answer["message"] == f"path {src} is mounted on {src} but it is not {kind} mount"
    assert inspect["State"]["Status"] == "created" and inspect["State"]["ExitCode"] == 128
    assert inspect["State"]["Error"] == answer["message"]


def test_slave_mount_takes_slave_binds_only(daemon: Daemon, mounts: dict[str, Path]) -> None:
    sub = mounts["slave"] / "sub"
    sub.mkdir()
    bind = {"Type": "bind", "Source": str(sub), "Target": "/v", "BindOptions": {"Propagation": "rslave"}}
    status, answer, inspect = _start(daemon, {"Mounts": [bind]})
    assert status == 204 and inspect["State"]["ExitCode"] == 0, (answer, inspect["State"])
    status, answer, _ = _start(daemon, {"Binds": [f"{sub}:/v:rshared"]})
    assert status == 500 and answer["message"] == (f"path {sub} is mounted on {mounts['slave']} "
                                                   "but it is not a shared mount"), answer


def test_shared_mount_takes_both(daemon: Daemon, mounts: dict[str, Path]) -> None:
    for mode in ("shared", "rslave"):
        status, answer, inspect = _start(daemon, {"Binds": [f"{mounts['master']}:/v:{mode}"]})
        assert status == 204 and inspect["State"]["ExitCode"] == 0, (mode, answer, inspect["State"])
