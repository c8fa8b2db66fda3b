"""The container's State: its transitions as methods of the typed record (engine/container.py)."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.engine.container import ZERO_TIME, Container, Live, parse_signal, restart_delay, start_failure_code


def _record(policy: str = "no") -> Container:
    return Container({"HostConfig": {"RestartPolicy": {"Name": policy}}, "RestartCount": 0})


def test_a_life_created_running_paused_exited_removing() -> None:
    c = _record()
    s = c.state
    assert (s.status, s.running, s.ever_started, s.text()) == ("created", False, False, "Created")
    s.started(42)
    assert (s.status, s.running, s.pid) == ("running", True, 42)
    assert s.started_at != ZERO_TIME and s.text().startswith("Up ")
    s.paused_now()
    assert (s.status, s.paused, s.text().endswith("(Paused)")) == ("paused", True, True)
    with pytest.raises(errors.Conflict):
        s.paused_now()
    s.resumed()
    s.exited(137, oom_killed=True)
    assert (s.status, s.running, s.pid, s.exit_code, c.state.oom_killed) == ("exited", False, 0, 137, True)
    assert s.text().startswith("Exited (137) ")
    s.removing()
    assert s.status == "removing"


def test_a_running_container_cannot_start_again() -> None:
    s = _record().state
    s.started(1)
    with pytest.raises(errors.Conflict):
        s.started(2)
    with pytest.raises(errors.Conflict):
        s.restarting_now()


def test_a_failed_start_is_created_until_it_ever_ran() -> None:
    c = _record()
    c.state.start_failed(127, "exec: not found")
    assert (c.state.status, c.state.exit_code, c.state.error) == ("created", 127, "exec: not found")
    c.state.started(5)
    c.state.exited(0)
    c.state.start_failed(126, "permission denied")
    assert c.state.status == "exited"


def test_restarting_and_its_cancellation() -> None:
    c = _record("always")
    s = c.state
    s.started(3)
    s.exited(1)
    s.restarting_now()
    assert (s.status, s.restarting, s.text().startswith("Restarting (1) ")) == ("restarting", True, True)
    s.restart_dropped()
    assert (s.status, s.restarting) == ("exited", False)


def test_restart_policy_and_backoff() -> None:
    live = Live()
    assert restart_delay(_record("no"), live, 1) is None
    assert restart_delay(_record("on-failure"), live, 0) is None
    first = restart_delay(_record("on-failure"), live, 1)
    second = restart_delay(_record("always"), live, 0)
    assert first is not None and second is not None and second == min(60.0, first * 2)
    stopped = _record("always")
    stopped.has_been_manually_stopped = True
    assert restart_delay(stopped, live, 0) is None


def test_signals_by_name_or_number() -> None:
    assert parse_signal("KILL") == parse_signal("SIGKILL") == parse_signal(9) == 9
    with pytest.raises(errors.InvalidArgument):
        parse_signal("NOPE")


def test_a_failed_start_exits_by_the_kind_of_its_error_not_its_words() -> None:
    assert start_failure_code(errors.NotFound("exec: \"x\": executable file not found in $PATH")) == 127
    assert start_failure_code(errors.PermissionDenied("exec: \"/x\": permission denied")) == 126
    # the words alone decide nothing: a message that says "not found" of another kind is 128
    assert start_failure_code(errors.InvalidArgument("mount source not found")) == 128


def test_the_runtime_names_the_kind_of_a_missing_or_unexecutable_program() -> None:
    import errno

    from dockyard.runtime.lifecycle.create import CreateError
    from dockyard.runtime.process.init import ExecNotFound

    assert ExecNotFound(errno.ENOENT, "x").kind == "not_found"
    assert ExecNotFound(errno.EACCES, "x").kind == "permission_denied"
    assert CreateError("m", "not_found").kind == "not_found"
    assert CreateError("m", "internal").kind == "invalid_argument"
