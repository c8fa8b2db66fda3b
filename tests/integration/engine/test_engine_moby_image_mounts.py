"""``--mount type=image`` (API 1.48, moby's TestRunMountImage*): an image's filesystem read-only at a
path, whole or one ``Subpath`` of it resolved across its layers (symlinks followed inside the image; a
missing path or one leaving the image fails the start, as dockerd's safepath), the same image mounted
twice, and the image's delete refused while a container mounts it."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.httpcall import call

pytestmark = pytest.mark.root

V = "/v1.51"


def _context() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY foo /\nCOPY subdir /subdir\nCOPY hack /hack\n"),
                           ("foo", b"bar"), ("subdir/hello", b"world")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (("hack/good", "../subdir"), ("hack/bad", "../../../../../")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


@pytest.fixture
def image(daemon: Daemon) -> Iterator[str]:
    name = f"mim-{uuid.uuid4().hex[:8]}"
    status, answer = call(daemon, "POST", f"{V}/build?t={name}", raw=_context())
    assert status == 200 and b"Successfully tagged" in answer, answer
    yield name
    call(daemon, "DELETE", f"{V}/images/{name}?force=1")


def _create(d: Daemon, cmd: list[str], mounts: list[dict[str, Any]]) -> str:
    status, made = call(d, "POST", f"{V}/containers/create",
                        {"Image": "busybox", "Cmd": cmd, "HostConfig": {"Mounts": mounts}})
    assert status == 201, made
    return str(made["Id"])


def _run(d: Daemon, cmd: list[str], mounts: list[dict[str, Any]]) -> tuple[int, Any, str]:
    cid = _create(d, cmd, mounts)
    try:
        status, answer = call(d, "POST", f"{V}/containers/{cid}/start")
        if status != 204:
            return status, answer, ""
        call(d, "POST", f"{V}/containers/{cid}/wait")
        return status, answer, d.cli("logs", cid).stdout.decode()
    finally:
        call(d, "DELETE", f"{V}/containers/{cid}?force=1")


def _mount(image: str, target: str = "/image", subpath: str = "") -> dict[str, Any]:
    return {"Type": "image", "Source": image, "Target": target,
            **({"ImageOptions": {"Subpath": subpath}} if subpath else {})}


def test_image_mount_whole_and_subpaths(daemon: Daemon, image: str) -> None:
    assert _run(daemon, ["cat", "/image/foo"], [_mount(image)])[2] == "bar"
    assert _run(daemon, ["ls", "/image"], [_mount(image, subpath="hack/good")])[2] == "hello\n"
    assert _run(daemon, ["cat", "/image"], [_mount(image, subpath="subdir/hello")])[2] == "world"
    out = _run(daemon, ["sh", "-c", "cat /etc/foo/foo /etc/bar/foo"], [_mount(image, "/etc/foo"),
                                                                       _mount(image, "/etc/bar")])
    assert out[2] == "barbar"
    for subpath, message in (("hack/bad", "escapes the base directory"), ("nothere", "cannot access path")):
        status, answer, _ = _run(daemon, ["true"], [_mount(image, subpath=subpath)])
        assert status == 400 and message in answer["message"], (subpath, answer)
    status, answer = call(daemon, "POST", f"{V}/containers/create", {"Image": "busybox", "HostConfig": {
        "Mounts": [_mount(image, subpath="../../etc/passwd")]}})
    assert status == 400 and "subpath must be a relative path" in answer["message"], answer


def test_a_mounted_image_is_not_deleted_without_force(daemon: Daemon, image: str) -> None:
    cid = _create(daemon, ["true"], [_mount(image)])
    try:
        status, answer = call(daemon, "DELETE", f"{V}/images/{image}")
        assert status == 409 and f"container {cid[:12]} is using its referenced image" in answer["message"], answer
        assert call(daemon, "DELETE", f"{V}/images/{image}?force=1")[0] == 200
        status, answer = call(daemon, "POST", f"{V}/containers/{cid}/start")  # the view keeps the layers
        assert status == 204, answer
        assert call(daemon, "POST", f"{V}/containers/{cid}/wait")[1]["StatusCode"] == 0
    finally:
        call(daemon, "DELETE", f"{V}/containers/{cid}?force=1")


def test_a_subpath_deleted_in_a_later_layer_is_missing(daemon: Daemon) -> None:
    # the overlay snapshotter keeps the deletion as a 0/0 device: the path is gone, not a device to bind
    name = f"mim-{uuid.uuid4().hex[:8]}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"FROM busybox\nRUN mkdir /d && echo x > /d/f && echo y > /d/g\nRUN rm /d/f\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    status, answer = call(daemon, "POST", f"{V}/build?t={name}", raw=buf.getvalue())
    assert status == 200 and b"Successfully tagged" in answer, answer
    try:
        status, answer, _ = _run(daemon, ["true"], [_mount(name, subpath="d/f")])
        assert status == 400 and "cannot access path" in answer["message"], answer
        assert _run(daemon, ["ls", "/image"], [_mount(name, subpath="d")])[2] == "g\n"
    finally:
        call(daemon, "DELETE", f"{V}/images/{name}?force=1")
