"""moby's integration suite's lifecycle and container checks, on a daemon (issue 14, session 6): what
dockerd does that Dockyard did not, each the root of a failing moby test."""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.httpcall import call, request

pytestmark = pytest.mark.root


def run(d: Daemon, made: list[str], **config: Any) -> str:
    name = f"moby-{uuid.uuid4().hex[:8]}"
    made.append(name)
    status, out = call(d, "POST", f"/containers/create?name={name}",
                       {"Image": "busybox", "Cmd": ["sleep", "300"], **config})
    assert status == 201, out
    assert call(d, "POST", f"/containers/{name}/start")[0] == 204
    return name


def state(d: Daemon, name: str) -> str:
    status, out = call(d, "GET", f"/containers/{name}/json")
    return "removed" if status == 404 else str(out["State"]["Status"])


def wait_for(d: Daemon, name: str, wanted: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while state(d, name) != wanted:
        assert time.monotonic() < deadline, f"{name} never became {wanted} (is {state(d, name)})"
        time.sleep(0.1)


def test_restart_keeps_an_autoremove_container_and_kill_with_the_stop_signal_ends_it(
        daemon: Daemon, made: list[str]) -> None:
    rm = run(daemon, made, HostConfig={"AutoRemove": True, "NetworkMode": "none"})
    assert call(daemon, "POST", f"/containers/{rm}/restart?t=0")[0] == 204
    assert state(daemon, rm) == "running"  # dockerd: the restart's exit does not remove it
    assert call(daemon, "POST", f"/containers/{rm}/kill")[0] == 204
    wait_for(daemon, rm, "removed")
    always = run(daemon, made, StopSignal="SIGTERM", Cmd=["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"],
                 HostConfig={"RestartPolicy": {"Name": "always"}, "NetworkMode": "none"})
    assert call(daemon, "POST", f"/containers/{always}/kill?signal=TERM")[0] == 204
    wait_for(daemon, always, "exited")  # the stop signal: dockerd's ExitOnNext, no restart
    time.sleep(1)
    assert state(daemon, always) == "exited"


def test_exec_user_is_looked_up_at_create(daemon: Daemon, made: list[str]) -> None:
    name = run(daemon, made, HostConfig={"NetworkMode": "none"})
    status, out = call(daemon, "POST", f"/containers/{name}/exec", {"Cmd": ["id"], "User": "no-such-user"})
    assert (status, out["message"]) == (400, "unable to find user no-such-user: no matching entries in passwd file")
    assert call(daemon, "POST", f"/containers/{name}/exec", {"Cmd": ["id"], "User": "root"})[0] == 201


def test_put_archive_checks_the_destination_and_takes_an_empty_body(daemon: Daemon, made: list[str]) -> None:
    name = run(daemon, made, HostConfig={"NetworkMode": "none"})
    assert call(daemon, "PUT", f"/containers/{name}/archive?path=/tmp", raw=b"")[0] == 200
    status, out = call(daemon, "PUT", f"/containers/{name}/archive?path=/dne", raw=b"")
    assert (status, out["message"]) == (404, f"Could not find the file /dne in container {name}")
    status, out = call(daemon, "PUT", f"/containers/{name}/archive?path=/bin/busybox", raw=b"")
    assert status == 400 and "not a directory" in out["message"]


def test_update_pids_limit_zero_lifts_it(daemon: Daemon, made: list[str]) -> None:
    name = run(daemon, made, HostConfig={"PidsLimit": 32, "NetworkMode": "none"})
    assert call(daemon, "POST", f"/containers/{name}/update", {"PidsLimit": 0})[0] == 200
    assert call(daemon, "GET", f"/containers/{name}/json")[1]["HostConfig"]["PidsLimit"] == 0


def test_volume_create_is_an_event(daemon: Daemon, made: list[str]) -> None:
    vol = f"moby-{uuid.uuid4().hex[:8]}"
    made.append(f"volume:{vol}")
    since = int(time.time()) - 1
    assert call(daemon, "POST", "/volumes/create", {"Name": vol})[0] == 201
    lines = request(daemon, "GET", f"/events?since={since}&until={int(time.time()) + 1}&filters="
                    + json.dumps({"type": ["volume"], "volume": [vol]}).replace(" ", ""))[2].decode().splitlines()
    assert [json.loads(line)["Action"] for line in lines if line.strip()] == ["create"]


def test_legacy_links_as_dockerd_records_and_lists_them(daemon: Daemon, made: list[str]) -> None:
    target = run(daemon, made)
    linker = run(daemon, made, HostConfig={"Links": [f"{target}:db"], "NetworkMode": ""})  # "" as the Go client
    assert call(daemon, "GET", f"/containers/{linker}/json")[1]["HostConfig"]["Links"] == [f"/{target}:/{linker}/db"]
    rows = call(daemon, "GET", "/containers/json?filters=" + json.dumps({"name": [target]}).replace(" ", ""))[1]
    assert [r["Names"] for r in rows if r["Names"][0] == f"/{target}"] == [[f"/{target}", f"/{linker}/db"]]
    status, out = call(daemon, "GET", f"/containers/{linker}/db/json")
    assert status == 200 and out["Name"] == f"/{target}"


def test_a_tmpfs_replaces_an_anonymous_volume_and_is_not_listed(daemon: Daemon, made: list[str]) -> None:
    name = f"moby-{uuid.uuid4().hex[:8]}"
    made.append(name)
    status, out = call(daemon, "POST", f"/containers/create?name={name}", {
        "Image": "busybox", "Cmd": ["true"], "Volumes": {"/foo": {}},
        "HostConfig": {"Tmpfs": {"/foo": ""}, "Mounts": [{"Type": "tmpfs", "Target": "/bar"}], "NetworkMode": "none"}})
    assert status == 201, out
    mounts = call(daemon, "GET", f"/containers/{name}/json")[1]["Mounts"]
    assert [(m["Type"], m["Destination"]) for m in mounts] == [("tmpfs", "/bar")]  # --tmpfs is not in Mounts



def test_endpoint_networks_are_resolved_at_start(daemon: Daemon, made: list[str]) -> None:
    net, name = f"moby-net-{uuid.uuid4().hex[:6]}", f"moby-{uuid.uuid4().hex[:8]}"
    status, out = call(daemon, "POST", "/networks/create", {"Name": net, "Internal": True})
    assert status == 201, out
    try:
        made.append(name)
        status, out = call(daemon, "POST", f"/containers/create?name={name}", {
            "Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": net},
            "NetworkingConfig": {"EndpointsConfig": {net: {}, "no-such-net-1": {}, "no-such-net-2": {}}}})
        assert status == 201, out  # dockerd (API >= 1.44) creates it; the start finds the networks missing
        status, out = call(daemon, "POST", f"/containers/{name}/start")
        assert status >= 400 and "no-such-net" in out["message"], out
    finally:
        call(daemon, "DELETE", f"/containers/{name}?force=1")
        call(daemon, "DELETE", f"/networks/{net}")


def test_the_image_user_is_the_containers_and_copy_uidgid_uses_it(daemon: Daemon, made: list[str]) -> None:
    base = run(daemon, made, HostConfig={"NetworkMode": "none"})
    repo = f"moby-user-{uuid.uuid4().hex[:6]}"
    status, out = call(daemon, "POST", f"/commit?container={base}&repo={repo}&tag=1", {"User": "2375:2376"})
    assert status == 201, out
    try:
        name = run(daemon, made, Image=f"{repo}:1", HostConfig={"NetworkMode": "none"})
        assert call(daemon, "GET", f"/containers/{name}/json")[1]["Config"]["User"] == "2375:2376"  # dockerd's merge
        import io
        import tarfile

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            tf.addfile(tarfile.TarInfo("empty-file.txt"))
        assert call(daemon, "PUT", f"/containers/{name}/archive?path=/tmp&copyUIDGID=1", raw=buf.getvalue())[0] == 200
        status, out = call(daemon, "POST", f"/containers/{name}/exec",
                           {"Cmd": ["stat", "-c", "%u:%g", "/tmp/empty-file.txt"], "AttachStdout": True})
        assert status == 201, out
        body = b'{"Detach": false, "Tty": true}'
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # the stream is hijacked: read it raw
            sock.connect(str(daemon.socket))
            sock.sendall(f"POST /exec/{out['Id']}/start HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        assert b"2375:2376" in data
    finally:
        call(daemon, "DELETE", f"/containers/{name}?force=1")
        call(daemon, "DELETE", f"/images/{repo}:1?force=1")
