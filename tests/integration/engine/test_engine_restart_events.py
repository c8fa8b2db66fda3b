"""The events around stops and restarts, in dockerd's order (moby's daemon/stop.go, restart.go, kill.go,
monitor.go; issue 14, session 7): ``stop`` is ``kill`` (``signal``) for each signal sent, the task's
``die``, then ``stop``; ``restart`` is that, ``start``, then ``restart``; a restart policy's restart is
``die`` then ``start`` with no ``restart`` event."""

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



def traps(signal: str) -> list[str]:
    return ["sh", "-c", f"trap 'exit 0' {signal}; while true; do sleep 0.1; done"]


def create(d: Daemon, made: list[str], **config: Any) -> str:
    name = f"ev-{uuid.uuid4().hex[:8]}"
    made.append(name)
    status, out = call(d, "POST", f"/containers/create?name={name}", {"Image": "busybox", **config})
    assert status == 201, out
    return str(out["Id"])


def events_of(d: Daemon, id: str, since: float) -> list[dict[str, Any]]:
    filters = quote(json.dumps({"container": [id]}))
    status, _, body = request(d, "GET", f"/events?since={since:.3f}&until={time.time() + 0.3:.3f}&filters={filters}")
    assert status == 200
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


def actions(events: list[dict[str, Any]]) -> list[str]:
    """Each action, a kill with its signal (``kill:15``)."""
    return [f"kill:{e['Actor']['Attributes']['signal']}" if e["Action"] == "kill" else e["Action"] for e in events]


def test_restart_of_a_container_that_exits_on_sigterm(daemon: Daemon, made: list[str]) -> None:
    id = create(daemon, made, Cmd=traps("TERM"))
    assert call(daemon, "POST", f"/containers/{id}/start")[0] == 204
    time.sleep(0.3)  # the trap is set
    t0 = time.time()
    assert call(daemon, "POST", f"/containers/{id}/restart?t=10")[0] == 204
    assert actions(events_of(daemon, id, t0)) == ["kill:15", "die", "stop", "start", "restart"]


def test_restart_that_needs_sigkill(daemon: Daemon, made: list[str]) -> None:
    """PID 1 without a handler ignores SIGTERM: after the timeout a second kill, signal 9."""
    id = create(daemon, made, Cmd=["sleep", "300"])
    assert call(daemon, "POST", f"/containers/{id}/start")[0] == 204
    t0 = time.time()
    assert call(daemon, "POST", f"/containers/{id}/restart?t=1")[0] == 204
    events = events_of(daemon, id, t0)
    assert actions(events) == ["kill:15", "kill:9", "die", "stop", "start", "restart"]
    assert events[2]["Actor"]["Attributes"]["exitCode"] == "137"


def test_stop_with_its_stop_signal_and_a_stopped_container(daemon: Daemon, made: list[str]) -> None:
    id = create(daemon, made, Cmd=traps("USR1"), StopSignal="SIGUSR1")
    assert call(daemon, "POST", f"/containers/{id}/start")[0] == 204
    time.sleep(0.3)  # the trap is set
    t0 = time.time()
    assert call(daemon, "POST", f"/containers/{id}/stop?t=1")[0] == 204
    assert call(daemon, "POST", f"/containers/{id}/stop")[0] == 304  # not running: no events
    assert actions(events_of(daemon, id, t0)) == ["kill:10", "die", "stop"]


def test_restart_of_a_stopped_container_and_a_policy_restart(daemon: Daemon, made: list[str]) -> None:
    id = create(daemon, made, Cmd=["sh", "-c", "exit 3"],
                HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 1}})
    t0 = time.time()
    assert call(daemon, "POST", f"/containers/{id}/start")[0] == 204
    deadline = time.time() + 20
    while True:
        state = call(daemon, "GET", f"/containers/{id}/json")[1]
        if state["RestartCount"] == 1 and not state["State"]["Running"] and not state["State"]["Restarting"]:
            break
        assert time.time() < deadline, state["State"]
        time.sleep(0.2)
    assert actions(events_of(daemon, id, t0)) == ["start", "die", "start", "die"]
    t1 = time.time()
    assert call(daemon, "POST", f"/containers/{id}/restart")[0] == 204
    assert actions(events_of(daemon, id, t1))[:2] == ["start", "restart"]
