"""A kill right after a start reaches the program once it catches the signal (issue 14, session 7):
the kernel drops a signal PID 1 leaves at its default action, and moby's
TestKillWithStopSignalAndRestartPolicies kills ``top`` before it has installed its handler
(the shim, shim/sigsettle.py, holds such a signal for up to 100 ms after the start)."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.conftest import Daemon
from tests.httpcall import call

pytestmark = pytest.mark.root

_LATE_TRAP = 'sleep 0.03; trap "exit 7" TERM; while :; do sleep 0.01; done'


def _state_after(d: Daemon, id: str, timeout: float = 5) -> dict:
    deadline = time.monotonic() + timeout
    state = call(d, "GET", f"/v1.51/containers/{id}/json")[1]["State"]
    while state["Running"] and time.monotonic() < deadline:
        time.sleep(0.05)
        state = call(d, "GET", f"/v1.51/containers/{id}/json")[1]["State"]
    return dict(state)


def test_term_right_after_start_reaches_a_late_handler(daemon: Daemon) -> None:
    status, made = call(daemon, "POST", f"/v1.51/containers/create?name=late-{uuid.uuid4().hex[:8]}",
                        {"Image": "busybox", "Cmd": ["sh", "-c", _LATE_TRAP]})
    assert status == 201, made
    try:
        assert call(daemon, "POST", f"/v1.51/containers/{made['Id']}/start")[0] == 204
        assert call(daemon, "POST", f"/v1.51/containers/{made['Id']}/kill?signal=TERM")[0] == 204
        state = _state_after(daemon, made["Id"])
        assert not state["Running"] and state["ExitCode"] == 7, state
    finally:
        call(daemon, "DELETE", f"/v1.51/containers/{made['Id']}?force=1")
