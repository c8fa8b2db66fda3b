"""A container's exit is reported only once its output is in the log, as dockerd reports it.

Whoever learns of the exit (``wait``, inspect's ``State``, the ``die`` event) and then reads
``logs`` gets every byte the container wrote to stdout and stderr: docker-py's and
testcontainers' tests read the logs of a short command right after it ended.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from dockyard.client.http import Client
from tests.conftest import Daemon

pytestmark = pytest.mark.root

# 64 lines on stderr, then busybox's binary as base64 (~1.4 MB in one burst: the container exits
# with its last FIFO buffer not yet read), then one short line
SCRIPT = ('i=0; while [ $i -lt 64 ]; do echo "err $i" >&2; i=$((i+1)); done; base64 /bin/busybox; echo last')
ERR_LINES = 64


def _frames(body: bytes) -> dict[int, bytes]:
    out: dict[int, list[bytes]] = {1: [], 2: []}
    at = 0
    while len(body) - at >= 8:
        size = int.from_bytes(body[at + 4:at + 8], "big")
        out[body[at]].append(body[at + 8:at + 8 + size])
        at += 8 + size
    assert at == len(body), "a truncated frame"
    return {k: b"".join(v) for k, v in out.items()}


def _logs(api: Client, id: str) -> dict[int, bytes]:
    return _frames(api.request("GET", f"/containers/{id}/logs", {"stdout": 1, "stderr": 1}).read())


def _check(out: dict[int, bytes], want_lines: int) -> str:
    lines, errs = out[1].splitlines(), out[2].splitlines()
    if len(lines) != want_lines or lines[-1] != b"last" or len(errs) != ERR_LINES:
        return f"{len(lines)} stdout lines (last {lines[-1:]!r}), {len(errs)} stderr lines"
    return ""


def _create(api: Client, cmd: list[str]) -> str:
    return str(api.json("POST", "/containers/create", body={"Image": "busybox", "Cmd": cmd})["Id"])


def _stdout_lines(d: Daemon) -> int:
    """How many stdout lines SCRIPT writes, counted inside a container (one short line of output)."""
    r = d.cli("run", "--rm", "busybox", "sh", "-c", "base64 /bin/busybox | wc -l")
    assert r.returncode == 0, r.stderr
    return int(r.stdout) + 1


def test_logs_after_wait_hold_all_the_output_every_time(daemon: Daemon) -> None:
    api = Client(daemon.host)
    want = _stdout_lines(daemon)
    short: list[int] = []
    full: list[tuple[int, str]] = []
    for n in range(25):
        id = _create(api, ["ls", "-a", "/"])
        try:
            api.request("POST", f"/containers/{id}/start").read()
            assert api.json("POST", f"/containers/{id}/wait")["StatusCode"] == 0
            if b"proc" not in _logs(api, id)[1].split():
                short.append(n)
        finally:
            api.request("DELETE", f"/containers/{id}", {"force": 1}).read()
    for n in range(6):
        id = _create(api, ["sh", "-c", SCRIPT])
        try:
            api.request("POST", f"/containers/{id}/start").read()
            assert api.json("POST", f"/containers/{id}/wait")["StatusCode"] == 0
            problem = _check(_logs(api, id), want)
            if problem:
                full.append((n, problem))
        finally:
            api.request("DELETE", f"/containers/{id}", {"force": 1}).read()
    assert short == [] and full == [], f"logs read after wait were short: ls runs {short}, long runs {full}"


def test_inspect_exited_and_the_die_event_come_after_the_output(daemon: Daemon) -> None:
    api = Client(daemon.host)
    want = _stdout_lines(daemon)
    ids: list[str] = [_create(api, ["sh", "-c", SCRIPT]) for _ in range(5)]
    at_die: dict[str, str] = {}
    at_exited: dict[str, str] = {}
    events = api.request("GET", "/events", {"filters": json.dumps({"type": ["container"], "event": ["die"]})})

    def on_die() -> None:  # reads the logs the moment each die event arrives
        for line in events:
            ev: dict[str, Any] = json.loads(line)
            id = ev["Actor"]["ID"]
            if id in ids:
                at_die[id] = _check(_logs(api, id), want)
            if len(at_die) == len(ids):
                return

    reader = threading.Thread(target=on_die, daemon=True)
    reader.start()
    try:
        for id in ids:
            api.request("POST", f"/containers/{id}/start").read()
            while api.json("GET", f"/containers/{id}/json")["State"]["Status"] == "running":
                pass  # no sleep: the first inspect that says exited
            at_exited[id] = _check(_logs(api, id), want)
        reader.join(30)
    finally:
        events.close()
        for id in ids:
            api.request("DELETE", f"/containers/{id}", {"force": 1}).read()
    assert at_exited == {id: "" for id in ids}
    assert at_die == {id: "" for id in ids}
