"""What docker-py's own integration suite showed missing (docs/conformance.md): detach keys, a SIGKILL
that returns once the container is down, `docker cp` into and out of volumes, `docker diff` without
the engine's /etc files, log-driver and runtime validation, numeric group_add, link environment."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dockyard import errors
from dockyard.client.http import Client
from tests.conftest import Daemon

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def api(daemon: Daemon) -> Iterator[Client]:
    yield Client(daemon.host)


@pytest.fixture
def made(api: Client) -> Iterator[list[str]]:
    ids: list[str] = []
    yield ids
    for id in ids:
        api.request("DELETE", f"/containers/{id}", {"force": True, "v": True}).read()


def create(api: Client, made: list[str], **body: Any) -> str:
    id = api.json("POST", "/containers/create", body={"Image": "busybox", **body})["Id"]
    made.append(id)
    return str(id)


def logs(api: Client, id: str) -> bytes:
    raw, out = api.request("GET", f"/containers/{id}/logs", {"stdout": 1}).read(), b""
    while len(raw) >= 8:  # multiplexed frames: 8-byte header, then the payload
        size = int.from_bytes(raw[4:8], "big")
        out, raw = out + raw[8:8 + size], raw[8 + size:]
    return out


def state(api: Client, id: str) -> dict[str, Any]:
    return api.json("GET", f"/containers/{id}/json")["State"]  # type: ignore[no-any-return]


def test_detach_keys_end_a_tty_attach_and_the_container_keeps_running(api: Client, made: list[str]) -> None:
    id = create(api, made, Cmd=["cat"], Tty=True, OpenStdin=True)
    api.request("POST", f"/containers/{id}/start").read()
    sock = api.hijack(f"/containers/{id}/attach", {"stream": 1, "stdin": 1, "stdout": 1, "detachKeys": "ctrl-x"})
    sock.settimeout(10)
    sock.sendall(b"before-keys\n\x18")
    while sock.recv(4096):  # the engine closes the connection: EOF, not a hang
        pass
    sock.close()
    assert state(api, id)["Running"] is True
    deadline = time.monotonic() + 10  # what came before the keys reached cat (a TTY: in the json log)
    while b"before-keys" not in api.request("GET", f"/containers/{id}/logs", {"stdout": 1}).read():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_sigkill_returns_once_the_container_is_down(api: Client, made: list[str]) -> None:
    id = create(api, made, Cmd=["sleep", "300"])
    api.request("POST", f"/containers/{id}/start").read()
    api.request("POST", f"/containers/{id}/kill").read()
    s = state(api, id)
    assert (s["Running"], s["ExitCode"]) == (False, 137)


def test_cp_into_and_out_of_an_anonymous_volume_of_a_stopped_container(api: Client, made: list[str]) -> None:
    id = create(api, made, Cmd=["sh", "-c", "cat /vol1/in.txt; echo made > /vol1/out.txt"], Volumes={"/vol1": {}})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("in.txt")
        info.size = 5
        tf.addfile(info, io.BytesIO(b"hello"))
    api.request("PUT", f"/containers/{id}/archive", {"path": "/vol1"}, body=buf.getvalue()).read()
    api.request("POST", f"/containers/{id}/start").read()
    assert api.json("POST", f"/containers/{id}/wait")["StatusCode"] == 0
    assert logs(api, id) == b"hello"
    with tarfile.open(fileobj=io.BytesIO(api.request("GET", f"/containers/{id}/archive",
                                                     {"path": "/vol1"}).read())) as tf:
        assert sorted(tf.getnames()) == ["vol1", "vol1/in.txt", "vol1/out.txt"]
        f = tf.extractfile("vol1/out.txt")
        assert f is not None and f.read() == b"made\n"


def test_diff_leaves_out_the_files_the_engine_writes(api: Client, made: list[str]) -> None:
    id = create(api, made, Cmd=["touch", "/test"])
    api.request("POST", f"/containers/{id}/start").read()
    api.json("POST", f"/containers/{id}/wait")
    assert api.json("GET", f"/containers/{id}/changes") == [{"Path": "/test", "Kind": 1}]


def test_create_validates_log_driver_and_runtime(api: Client, made: list[str]) -> None:
    with pytest.raises(errors.InvalidArgument, match="no log driver named 'asdf'"):
        create(api, made, HostConfig={"LogConfig": {"Type": "asdf", "Config": {}}})
    with pytest.raises(errors.InvalidArgument, match="unknown or invalid runtime name"):
        create(api, made, HostConfig={"Runtime": "nosuch"})
    id = create(api, made, HostConfig={"LogConfig": {"Type": "", "Config": {"max-file": "2"}}})
    host = api.json("GET", f"/containers/{id}/json")["HostConfig"]
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "2"}}
    assert host["Runtime"] == "runc"


def test_group_add_links_env_and_remove_of_a_restarting_container(api: Client, made: list[str]) -> None:
    target = create(api, made, Cmd=["sleep", "300"], Env=["FOO=1"])
    api.request("POST", f"/containers/{target}/start").read()
    name = api.json("GET", f"/containers/{target}/json")["Name"].lstrip("/")
    id = create(api, made, Cmd=["sh", "-c", "id -G; env"], HostConfig={"GroupAdd": ["1000", 1001],
                                                                      "Links": [f"{name}:db"]})
    api.request("POST", f"/containers/{id}/start").read()
    api.json("POST", f"/containers/{id}/wait")
    out = logs(api, id).decode()
    assert {"1000", "1001"} <= set(out.splitlines()[0].split())
    assert "DB_ENV_FOO=1" in out and "DB_NAME=/" in out
    assert "DB_" not in "".join(api.json("GET", f"/containers/{id}/json")["Config"]["Env"])
    api.request("DELETE", f"/containers/{id[:12]}/db", {"link": 1}).read()  # docker rm --link
    assert api.json("GET", f"/containers/{id}/json")["HostConfig"]["Links"] is None
    flappy = create(api, made, Cmd=["false"], HostConfig={"RestartPolicy": {"Name": "always"}})
    api.request("POST", f"/containers/{flappy}/start").read()
    deadline = time.monotonic() + 10
    while not state(api, flappy).get("Restarting") and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(errors.Conflict, match="stop the container before removing"):
        api.request("DELETE", f"/containers/{flappy}").read()
