"""Bind options as moby's integration suite checks them (issue 14, session 7): ``NonRecursive``,
read-only binds recursive from API 1.44 (``ReadOnlyNonRecursive``, ``ReadOnlyForceRecursive``),
``-v /dev:/dev:ro`` (the host's /dev replaces the default ones, no devices made in it), and a
``shared`` bind whose mounts reach the host."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.httpcall import call
from tests.submounts import dir_with_tmpfs_sub

pytestmark = pytest.mark.root


def _run(d: Daemon, host_config: dict[str, Any], cmd: list[str], version: str = "v1.51") -> tuple[int, str]:
    name = f"mb-{uuid.uuid4().hex[:8]}"
    status, made = call(d, "POST", f"/{version}/containers/create?name={name}",
                        {"Image": "busybox", "Cmd": cmd, "HostConfig": host_config})
    assert status == 201, made
    try:
        status, answer = call(d, "POST", f"/v1.51/containers/{made['Id']}/start")
        assert status == 204, answer
        code = call(d, "POST", f"/v1.51/containers/{made['Id']}/wait")[1]["StatusCode"]
        return code, d.cli("logs", made["Id"]).stdout.decode()
    finally:
        call(d, "DELETE", f"/v1.51/containers/{made['Id']}?force=1")


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture
def nested() -> Iterator[Path]:
    """A directory whose ``sub`` is a tmpfs holding ``file``."""
    with dir_with_tmpfs_sub() as top:
        (top / "sub" / "file").write_text("below a submount\n")
        (top / "sub" / "file").chmod(0o666)
        yield top


def _bind(source: Path, readonly: bool = True, **options: Any) -> dict[str, Any]:
    return {"Type": "bind", "Source": str(source), "Target": "/foo", "ReadOnly": readonly,
            **({"BindOptions": options} if options else {})}


def test_non_recursive_bind_leaves_submounts_out(daemon: Daemon, nested: Path) -> None:
    seen = ["test", "-f", "/foo/sub/file"]
    assert _run(daemon, {"Mounts": [_bind(nested)]}, seen)[0] == 0
    assert _run(daemon, {"Mounts": [_bind(nested, NonRecursive=False)]}, seen)[0] == 0
    assert _run(daemon, {"Mounts": [_bind(nested, NonRecursive=True)]}, ["test", "!", "-f", "/foo/sub/file"])[0] == 0
    # added in API 1.40: an older client's NonRecursive is ignored, as dockerd does
    assert _run(daemon, {"Mounts": [_bind(nested, NonRecursive=True)]}, seen, "v1.39")[0] == 0


def test_read_only_bind_is_recursive_from_api_1_44(daemon: Daemon, nested: Path) -> None:
    """The API-version cases; the options themselves at the current version: security/test_bind_recursive_ro.py."""
    touch = ["touch", "/foo/sub/file"]
    assert _run(daemon, {"Binds": [f"{nested}:/foo:ro"]}, touch)[0] != 0
    assert _run(daemon, {"Mounts": [_bind(nested)]}, touch, "v1.43")[0] == 0, "before 1.44: not recursive"
    assert _run(daemon, {"Binds": [f"{nested}:/foo:ro"]}, touch, "v1.43")[0] == 0
    status, answer = call(daemon, "POST", "/v1.43/containers/create",
                          {"Image": "busybox", "HostConfig": {"Mounts": [_bind(nested, ReadOnlyForceRecursive=True)]}})
    assert status == 400 and "ReadOnlyForceRecursive needs API v1.44" in answer["message"]


@pytest.mark.parametrize("version,flags", [("v1.51", " /dev/shm ro,"), ("v1.43", " /dev/shm rw,")])
def test_dev_bound_read_only(daemon: Daemon, version: str, flags: str) -> None:
    """The host's /dev replaces the default /dev mounts (its /dev/shm is seen); the runtime makes
    no device in it (it used to, and failed: read-only file system)."""
    code, out = _run(daemon, {"Binds": ["/dev:/dev:ro"]}, ["sh", "-c", "grep /dev/shm /proc/self/mountinfo"],
                     version)
    assert code == 0, out
    assert flags in out, out


def test_shared_bind_reaches_the_host(daemon: Daemon, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "mnt1").mkdir(parents=True)
    _mount("--bind", str(shared), str(shared))
    try:
        _mount("--make-private", str(shared))
        _mount("--make-shared", str(shared))
        mount = {"Type": "bind", "Source": str(shared), "Target": "/v", "BindOptions": {"Propagation": "shared"}}
        code, out = _run(daemon, {"Privileged": True, "Mounts": [mount]}, ["mount", "--bind", "/v/mnt1", "/v/mnt1"])
        assert code == 0, out
        mounted = subprocess.run(["mountpoint", "-q", str(shared / "mnt1")], check=False).returncode == 0
        assert mounted, "a mount under a shared bind made in the container is seen on the host"
    finally:
        subprocess.run(["umount", "-l", str(shared / "mnt1")], check=False, capture_output=True)
        subprocess.run(["umount", "-l", str(shared)], check=False, capture_output=True)
