"""The shim's wire protocol, its exit bookkeeping and its tasks (one, or a pod's), without any process (shim/)."""

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
from dockyard.shim.shim import Shim, ShimError, Task

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


@pytest.fixture
def task(shim: Shim) -> Task:
    return shim.tasks["c1"]


def running(t: Task, pid: int = PID) -> Task:
    t.pid = pid
    t.status = "running"
    return t


def exit_json(t: Task) -> dict[str, Any]:
    with open(os.path.join(t.bundle, "exit.json")) as f:
        return json.load(f)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("waitstatus_code", "exit_status"),
                         [(0, 0), (3, 3), (255, 255), (-signal.SIGKILL, 137), (-signal.SIGTERM, 143),
                          (-signal.SIGINT, 130)])
def test_exit_status_is_the_code_or_128_plus_the_signal(shim: Shim, task: Task, waitstatus_code: int,
                                                        exit_status: int) -> None:
    running(task)
    shim.reaped[PID] = waitstatus_code
    shim.check_reaped()
    assert task.status == "stopped"
    assert task.exit_status == exit_status
    assert task.exited_at > 0
    assert exit_json(task) == {"exit_status": exit_status, "exited_at": task.exited_at, "oom_killed": False}
    assert not os.path.exists(os.path.join(task.bundle, "exit.json.tmp"))
    assert shim.reaped == {}
    assert task.state() == {"pid": PID, "status": "stopped", "exit_status": exit_status,
                            "exited_at": task.exited_at, "oom_killed": False}


def test_other_reaped_children_do_not_end_the_task(shim: Shim, task: Task) -> None:
    running(task)
    shim.reaped[PID + 1] = 0
    shim.check_reaped()
    assert task.status == "running"
    assert task.exit_status is None
    assert not os.path.exists(os.path.join(task.bundle, "exit.json"))


def test_nothing_happens_before_the_init_pid_is_known(shim: Shim, task: Task) -> None:
    shim.reaped[PID] = 1
    shim.check_reaped()
    assert task.status == "unknown"
    assert shim.reaped == {PID: 1}


def test_an_exit_is_recorded_once(shim: Shim, task: Task) -> None:
    running(task)
    shim.reaped[PID] = 1
    shim.check_reaped()
    first = exit_json(task)
    shim.reaped[PID] = 2  # a recycled pid must not rewrite the first exit
    shim.check_reaped()
    assert task.exit_status == 1
    assert exit_json(task) == first


def test_the_exit_closes_the_held_fifo_ends(shim: Shim, task: Task) -> None:
    r, w = os.pipe()
    running(task).held_fds.append(w)
    shim.reaped[PID] = 0
    shim.check_reaped()
    assert task.held_fds == []
    assert os.read(r, 10) == b""  # the only write end is closed: EOF
    os.close(r)


def test_waiters_get_the_exit_then_their_connection_closes(shim: Shim, task: Task) -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        shim.sel.register(ours, selectors.EVENT_READ, "conn")
        running(task)
        shim.handle(ours, protocol.encode({"method": "wait"}).strip())
        assert task.waiters == [ours]
        shim.reaped[PID] = -signal.SIGKILL
        shim.check_reaped()
        reply = protocol.decode(theirs.recv(4096))
        assert reply == {"result": {"exit_status": 137, "exited_at": task.exited_at, "oom_killed": False}}
        assert theirs.recv(10) == b""
        assert task.waiters == []


def call(shim: Shim, request: dict[str, Any]) -> dict[str, Any]:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        shim.handle(ours, protocol.encode(request).strip())
        return protocol.decode(theirs.recv(65536))


def test_wait_after_the_exit_answers_at_once(shim: Shim, task: Task) -> None:
    running(task)
    shim.reaped[PID] = 5
    shim.check_reaped()
    assert call(shim, {"method": "wait"}) == {"result": {"exit_status": 5, "exited_at": task.exited_at, "oom_killed": False}}


def test_state_over_the_socket(shim: Shim, task: Task) -> None:
    running(task)
    assert call(shim, {"method": "state"}) == {
        "result": {"pid": PID, "status": "running", "exit_status": 0, "exited_at": 0, "oom_killed": False}}


def test_unknown_methods_bad_params_and_bad_json_are_invalid_arguments(shim: Shim) -> None:
    assert call(shim, {"method": "exec"})["error"]["kind"] == "invalid_argument"
    assert call(shim, {"method": "state", "params": {"bogus": 1}})["error"]["kind"] == "invalid_argument"
    ours, theirs = socket.socketpair()
    with ours, theirs:
        shim.handle(ours, b"{nope")
        assert protocol.decode(theirs.recv(4096))["error"]["kind"] == "invalid_argument"


def test_state_rules_without_the_runtime(shim: Shim, task: Task) -> None:
    assert call(shim, {"method": "start"})["error"] == {
        "kind": "failed_precondition", "message": "task c1 is unknown, not created"}
    running(task)
    assert call(shim, {"method": "delete"})["error"]["kind"] == "failed_precondition"
    assert call(shim, {"method": "shutdown"})["error"] == {
        "kind": "failed_precondition", "message": "task is still alive"}
    shim.reaped[PID] = 0
    shim.check_reaped()
    with pytest.raises(ShimError) as info:
        task.kill(9)
    assert info.value.kind == "not_found"
    assert call(shim, {"method": "shutdown"}) == {"result": {}}
    assert shim.running is False


def test_delete_of_a_never_created_task_needs_no_runtime(shim: Shim) -> None:
    assert call(shim, {"method": "delete"}) == {"result": {"exit_status": 0, "exited_at": 0, "oom_killed": False}}
    assert shim.tasks == {}
    assert shim.running is False


# -- a pod's shim: several tasks -------------------------------------------------------------------


def _add(shim: Shim, tmp_path: Path, id: str) -> Task:
    bundle = tmp_path / id
    bundle.mkdir()
    reply = call(shim, {"method": "add", "params": {"id": id, "bundle": str(bundle), "runtime": "/nonexistent/runtime",
                                                     "runtime_root": str(tmp_path / "root")}})
    assert reply == {"result": {}}
    assert (bundle / "shim.pid").read_text() == str(os.getpid())
    return shim.tasks[id]


def test_each_task_gets_its_own_exit(shim: Shim, task: Task, tmp_path: Path) -> None:
    other = running(_add(shim, tmp_path, "c2"), PID + 1)
    running(task)
    assert call(shim, {"method": "state", "id": "c2"})["result"]["pid"] == PID + 1
    ours, theirs = socket.socketpair()
    with ours, theirs:
        shim.sel.register(ours, selectors.EVENT_READ, "conn")
        shim.handle(ours, protocol.encode({"method": "wait", "id": "c2"}).strip())
        shim.reaped[PID + 1] = 7
        shim.check_reaped()
        assert protocol.decode(theirs.recv(4096))["result"]["exit_status"] == 7
    assert (other.status, other.exit_status) == ("stopped", 7)
    assert exit_json(other)["exit_status"] == 7
    assert task.status == "running"  # the pod's other task runs on
    assert not os.path.exists(os.path.join(task.bundle, "exit.json"))


def test_the_shim_lives_until_its_last_task_leaves(shim: Shim, task: Task, tmp_path: Path) -> None:
    _add(shim, tmp_path, "c2")
    assert call(shim, {"method": "add", "params": {"id": "c2", "bundle": str(tmp_path / "c2"),
                                                   "runtime_root": "r"}})["error"]["kind"] == "already_exists"
    assert call(shim, {"method": "delete"}) == {"result": {"exit_status": 0, "exited_at": 0, "oom_killed": False}}
    assert list(shim.tasks) == ["c2"] and shim.running is True
    assert call(shim, {"method": "state"})["error"]["kind"] == "unavailable"  # c1 left
    assert call(shim, {"method": "shutdown", "id": "c2"}) == {"result": {}}
    assert shim.running is False
    # a shim on its way out takes no task: the caller starts a new shim for the pod
    assert call(shim, {"method": "add", "params": {"id": "c3", "bundle": str(tmp_path),
                                                   "runtime_root": "r"}})["error"]["kind"] == "unavailable"


def test_a_request_for_a_task_this_shim_does_not_hold_is_unavailable(shim: Shim) -> None:
    """As from a dead shim: the task's shim died and a new one of the pod took the socket over."""
    assert call(shim, {"method": "kill", "id": "elsewhere", "params": {"signal": 9}})["error"] == {
        "kind": "unavailable", "message": "task elsewhere: not in this shim"}
