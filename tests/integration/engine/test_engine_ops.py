"""Engine operations beyond run: exec, stdin, pause, stats, top, events, archive, restart policies.

Driven through the Engine API (the project's own HTTP client) against a private dockyardd.
"""

from __future__ import annotations

import io
import socket
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dockyard.client.http import Client, demux
from tests.conftest import Daemon

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def api(daemon: Daemon) -> Iterator[Client]:
    yield Client(daemon.host)


@pytest.fixture
def sleeper(api: Client) -> Iterator[str]:
    id = api.json("POST", "/containers/create", body={"Image": "busybox", "Cmd": ["sleep", "300"]})["Id"]
    api.request("POST", f"/containers/{id}/start").read()
    yield id
    api.request("DELETE", f"/containers/{id}", {"force": True}).read()


def run_exec(api: Client, id: str, cmd: list[str], **extra: Any) -> tuple[bytes, bytes, int]:
    eid = api.json("POST", f"/containers/{id}/exec",
                   body={"Cmd": cmd, "AttachStdout": True, "AttachStderr": True, **extra})["Id"]
    sock = api.hijack(f"/exec/{eid}/start", {})
    # the hijack helper posts an empty body; start with defaults (attached, no tty)
    out, err = b"", b""
    for stream, data in demux(sock):
        if stream == 1:
            out += data
        else:
            err += data
    sock.close()
    return out, err, api.json("GET", f"/exec/{eid}/json")["ExitCode"]


def test_exec_output_exit_code_env_workdir_user(api: Client, sleeper: str) -> None:
    assert run_exec(api, sleeper, ["sh", "-c", "echo out; echo err >&2; exit 5"]) == (b"out\n", b"err\n", 5)
    out, _, code = run_exec(api, sleeper, ["sh", "-c", "echo $V:$(pwd):$(id -u):$(id -g)"], Env=["V=x"],
                            WorkingDir="/tmp", User="4321:99")
    assert (out, code) == (b"x:/tmp:4321:99\n", 0)


def test_exec_of_a_missing_binary_fails_and_the_container_keeps_running(api: Client, sleeper: str) -> None:
    # as dockerd: the attached start has hijacked already, so the error comes in-stream; 127 in inspect
    eid = api.json("POST", f"/containers/{sleeper}/exec", body={"Cmd": ["/no/such"], "AttachStdout": True})["Id"]
    sock = api.hijack(f"/exec/{eid}/start", {})
    message = b"".join(data for _, data in demux(sock))
    sock.close()
    assert b"no/such" in message or b"not found" in message.lower()
    assert api.json("GET", f"/exec/{eid}/json")["ExitCode"] == 127
    assert api.json("GET", f"/containers/{sleeper}/json")["State"]["Running"] is True


def test_stdin_half_close_ends_input_but_output_keeps_flowing(api: Client) -> None:
    id = api.json("POST", "/containers/create", body={
        "Image": "busybox", "Cmd": ["sh", "-c", "cat; sleep 0.3; echo after-eof"], "OpenStdin": True,
        "StdinOnce": True, "AttachStdin": True, "AttachStdout": True})["Id"]
    try:
        sock = api.hijack(f"/containers/{id}/attach", {"stream": True, "stdin": True, "stdout": True,
                                                        "stderr": True})
        api.request("POST", f"/containers/{id}/start").read()
        sock.sendall(b"line-1\nline-2\n")
        sock.shutdown(socket.SHUT_WR)
        out = b"".join(data for _, data in demux(sock))
        assert out == b"line-1\nline-2\nafter-eof\n"
        assert api.json("POST", f"/containers/{id}/wait")["StatusCode"] == 0
    finally:
        api.request("DELETE", f"/containers/{id}", {"force": True}).read()


def test_pause_unpause_stats_and_top(api: Client, sleeper: str) -> None:
    api.request("POST", f"/containers/{sleeper}/pause").read()
    state = api.json("GET", f"/containers/{sleeper}/json")["State"]
    assert (state["Status"], state["Paused"]) == ("paused", True)
    api.request("POST", f"/containers/{sleeper}/unpause").read()
    assert api.json("GET", f"/containers/{sleeper}/json")["State"]["Status"] == "running"
    stats = api.json("GET", f"/containers/{sleeper}/stats", {"stream": False})
    assert stats["pids_stats"]["current"] >= 1
    assert stats["memory_stats"]["usage"] > 0
    assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    top = api.json("GET", f"/containers/{sleeper}/top")
    assert "PID" in top["Titles"]
    assert any("sleep 300" in " ".join(row) for row in top["Processes"])


def test_events_since_with_filters(api: Client) -> None:
    t0 = time.time()
    id = api.json("POST", "/containers/create", body={"Image": "busybox", "Cmd": ["true"]})["Id"]
    api.request("POST", f"/containers/{id}/start").read()
    api.json("POST", f"/containers/{id}/wait")
    api.request("DELETE", f"/containers/{id}").read()
    import json

    events = list(api.json_stream("GET", "/events", {"since": f"{t0:.3f}", "until": f"{time.time() + 0.5:.3f}",
                                                     "filters": json.dumps({"container": [id]})}))
    assert [e["Action"] for e in events] == ["create", "start", "die", "destroy"]
    assert events[2]["Actor"]["Attributes"]["exitCode"] == "0"


def test_archive_put_get_and_changes(api: Client, sleeper: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("copied.txt")
        info.size = 5
        tf.addfile(info, io.BytesIO(b"hello"))
    api.request("PUT", f"/containers/{sleeper}/archive", {"path": "/tmp"}, body=buf.getvalue()).read()
    resp = api.request("GET", f"/containers/{sleeper}/archive", {"path": "/tmp/copied.txt"})
    assert "X-Docker-Container-Path-Stat" in {k.title(): v for k, v in resp.headers.items()} or \
        "x-docker-container-path-stat" in resp.headers
    with tarfile.open(fileobj=io.BytesIO(resp.read())) as tf:
        f = tf.extractfile("copied.txt")
        assert f is not None and f.read() == b"hello"
    changes = {(c["Kind"], c["Path"]) for c in api.json("GET", f"/containers/{sleeper}/changes")}
    assert (1, "/tmp/copied.txt") in changes


def test_on_failure_restarts_with_backoff_up_to_the_limit(api: Client) -> None:
    id = api.json("POST", "/containers/create", body={
        "Image": "busybox", "Cmd": ["sh", "-c", "exit 3"],
        "HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}})["Id"]
    try:
        api.request("POST", f"/containers/{id}/start").read()
        deadline = time.monotonic() + 20
        while True:
            c = api.json("GET", f"/containers/{id}/json")
            if (c["RestartCount"], c["State"]["Status"]) == (2, "exited") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert (c["RestartCount"], c["State"]["Status"], c["State"]["ExitCode"]) == (2, "exited", 3)
    finally:
        api.request("DELETE", f"/containers/{id}", {"force": True}).read()


def test_always_restarts_after_a_daemon_restart_unless_stopped(fresh_daemon: Daemon) -> None:
    api = Client(fresh_daemon.host)
    always = api.json("POST", "/containers/create", body={
        "Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {"RestartPolicy": {"Name": "always"}}})["Id"]
    stopped = api.json("POST", "/containers/create", body={
        "Image": "busybox", "Cmd": ["sleep", "300"],
        "HostConfig": {"RestartPolicy": {"Name": "unless-stopped"}}})["Id"]
    for id in (always, stopped):
        api.request("POST", f"/containers/{id}/start").read()
    api.request("POST", f"/containers/{stopped}/stop", {"t": 0}).read()
    # the task dies while the daemon is down: kill it through the runtime's pid
    pid = api.json("GET", f"/containers/{always}/json")["State"]["Pid"]
    assert fresh_daemon.stop() == 0
    import os
    import signal

    os.kill(pid, signal.SIGKILL)
    fresh_daemon.start()
    api = Client(fresh_daemon.host)
    deadline = time.monotonic() + 20
    while not api.json("GET", f"/containers/{always}/json")["State"]["Running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert api.json("GET", f"/containers/{always}/json")["State"]["Running"] is True
    assert api.json("GET", f"/containers/{stopped}/json")["State"]["Running"] is False
