"""The shim's wire protocol and its exit bookkeeping, without any process (shim/)."""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.shim import protocol
from dockyard.shim.shim import Shim, ShimError

PID = 4242


# -- protocol -------------------------------------------------------------------------------


def test_encode_is_one_compact_json_line() -> None:
    assert protocol.encode({"method": "kill", "params": {"signal": 9}}) == \
        b'{"method":"kill","params":{"signal":9}}\n'


def test_decode_round_trips() -> None:
    msg: dict[str, Any] = {"result": {"pid": 1, "status": "running", "exit_status": 0, "exited_at": 0}}
    assert protocol.decode(protocol.encode(msg)) == msg
    assert protocol.decode(b'{"a": "\\u00e4"}') == {"a": "\u00e4"}


@pytest.mark.parametrize("line", [b"[1, 2]", b'"text"', b"3", b"null"])
def test_decode_refuses_anything_but_an_object(line: bytes) -> None:
    with pytest.raises(ValueError, match="not a JSON object"):
        protocol.decode(line)


def test_decode_of_broken_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        protocol.decode(b'{"method": ')


# -- exit bookkeeping ----------------------------------------------------------------------------


@pytest.fixture
def shim(tmp_path: Path) -> Iterator[Shim]:
    args = argparse.Namespace(id="c1", bundle=str(tmp_path), runtime="/nonexistent/runtime",
                              runtime_root=str(tmp_path / "root"), socket=str(tmp_path / "shim.sock"))
    s = Shim(args)
    yield s
    s.sel.close()


def running(s: Shim) -> Shim:
    s.pid = PID
    s.status = "running"
    return s


def exit_json(s: Shim) -> dict[str, Any]:
    with open(os.path.join(s.bundle, "exit.json")) as f:
        return json.load(f)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("waitstatus_code", "exit_status"),
                         [(0, 0), (3, 3), (255, 255), (-signal.SIGKILL, 137), (-signal.SIGTERM, 143),
                          (-signal.SIGINT, 130)])
def test_exit_status_is_the_code_or_128_plus_the_signal(shim: Shim, waitstatus_code: int, exit_status: int) -> None:
    running(shim).reaped[PID] = waitstatus_code
    shim._check_reaped()
    assert shim.status == "stopped"
    assert shim.exit_status == exit_status
    assert shim.exited_at > 0
    assert exit_json(shim) == {"exit_status": exit_status, "exited_at": shim.exited_at, "oom_killed": False}
    assert not os.path.exists(os.path.join(shim.bundle, "exit.json.tmp"))
    assert shim.reaped == {}
    assert shim.state() == {"pid": PID, "status": "stopped", "exit_status": exit_status,
                            "exited_at": shim.exited_at, "oom_killed": False}


def test_other_reaped_children_do_not_end_the_task(shim: Shim) -> None:
    running(shim).reaped[PID + 1] = 0
    shim._check_reaped()
    assert shim.status == "running"
    assert shim.exit_status is None
    assert not os.path.exists(os.path.join(shim.bundle, "exit.json"))


def test_nothing_happens_before_the_init_pid_is_known(shim: Shim) -> None:
    shim.reaped[PID] = 1
    shim._check_reaped()
    assert shim.status == "unknown"
    assert shim.reaped == {PID: 1}


def test_an_exit_is_recorded_once(shim: Shim) -> None:
    running(shim).reaped[PID] = 1
    shim._check_reaped()
    first = exit_json(shim)
    shim.reaped[PID] = 2  # a recycled pid must not rewrite the first exit
    shim._check_reaped()
    assert shim.exit_status == 1
    assert exit_json(shim) == first


def test_the_exit_closes_the_held_fifo_ends(shim: Shim) -> None:
    r, w = os.pipe()
    running(shim).held_fds.append(w)
    shim.reaped[PID] = 0
    shim._check_reaped()
    assert shim.held_fds == []
    assert os.read(r, 10) == b""  # the only write end is closed: EOF
    os.close(r)


def test_waiters_get_the_exit_then_their_connection_closes(shim: Shim) -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        shim.sel.register(ours, selectors.EVENT_READ, "conn")
        running(shim).handle(ours, protocol.encode({"method": "wait"}).strip())
        assert shim.waiters == [ours]
        shim.reaped[PID] = -signal.SIGKILL
        shim._check_reaped()
        reply = protocol.decode(theirs.recv(4096))
        assert reply == {"result": {"exit_status": 137, "exited_at": shim.exited_at, "oom_killed": False}}
        assert theirs.recv(10) == b""
        assert shim.waiters == []


def call(shim: Shim, request: dict[str, Any]) -> dict[str, Any]:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        shim.handle(ours, protocol.encode(request).strip())
        return protocol.decode(theirs.recv(65536))


def test_wait_after_the_exit_answers_at_once(shim: Shim) -> None:
    running(shim).reaped[PID] = 5
    shim._check_reaped()
    assert call(shim, {"method": "wait"}) == {"result": {"exit_status": 5, "exited_at": shim.exited_at, "oom_killed": False}}


def test_state_over_the_socket(shim: Shim) -> None:
    assert call(running(shim), {"method": "state"}) == {
        "result": {"pid": PID, "status": "running", "exit_status": 0, "exited_at": 0, "oom_killed": False}}


def test_unknown_methods_bad_params_and_bad_json_are_invalid_arguments(shim: Shim) -> None:
    assert call(shim, {"method": "exec"})["error"]["kind"] == "invalid_argument"
    assert call(shim, {"method": "state", "params": {"bogus": 1}})["error"]["kind"] == "invalid_argument"
    ours, theirs = socket.socketpair()
    with ours, theirs:
        shim.handle(ours, b"{nope")
        assert protocol.decode(theirs.recv(4096))["error"]["kind"] == "invalid_argument"


def test_state_rules_without_the_runtime(shim: Shim) -> None:
    assert call(shim, {"method": "start"})["error"] == {
        "kind": "failed_precondition", "message": "task c1 is unknown, not created"}
    assert call(running(shim), {"method": "delete"})["error"]["kind"] == "failed_precondition"
    assert call(shim, {"method": "shutdown"})["error"] == {
        "kind": "failed_precondition", "message": "task is still alive"}
    shim.reaped[PID] = 0
    shim._check_reaped()
    with pytest.raises(ShimError) as info:
        shim.kill(9)
    assert info.value.kind == "not_found"
    assert call(shim, {"method": "shutdown"}) == {"result": {}}
    assert shim.running is False


def test_delete_of_a_never_created_task_needs_no_runtime(shim: Shim) -> None:
    assert shim.delete() == {"exit_status": 0, "exited_at": 0, "oom_killed": False}
    assert shim.running is False
