"""A shareable IPC's /dev/shm tmpfs on the host is unmounted when its container exits, as dockerd's
Cleanup unmounts it at every exit (``UnmountIpcMount``), and a new one is mounted when it starts again
(``setupIPCDirs``): its files do not outlive a stop. A container that exits while the daemons are down
loses it when they are back (issue 14, session 8)."""

from __future__ import annotations

import os
import signal
import uuid

import pytest

from tests.conftest import Daemon
from tests.httpcall import call

pytestmark = pytest.mark.root


def _host_shm_mounts(id: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].endswith(f"/shm/moby/{id}")]  # containerd's


def _shareable(d: Daemon, made: list[str]) -> str:
    status, answer = call(d, "POST", f"/v1.51/containers/create?name=shm-{uuid.uuid4().hex[:8]}",
                          {"Image": "busybox", "Cmd": ["sleep", "60"], "HostConfig": {"IpcMode": "shareable"}})
    assert status == 201, answer
    made.append(answer["Id"])
    return str(answer["Id"])


def _start(d: Daemon, id: str) -> None:
    status, answer = call(d, "POST", f"/v1.51/containers/{id}/start")
    assert status == 204, answer
    assert len(_host_shm_mounts(id)) == 1, "mounted at start"


def _exec(d: Daemon, id: str, script: str) -> str:
    r = d.cli("exec", id, "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def test_shm_unmounted_at_stop_and_kill_and_new_at_restart(daemon: Daemon, made: list[str]) -> None:
    id = _shareable(daemon, made)
    _start(daemon, id)
    _exec(daemon, id, "printf kept > /dev/shm/f")
    assert call(daemon, "POST", f"/v1.51/containers/{id}/stop?t=1")[0] == 204
    assert _host_shm_mounts(id) == [], "unmounted when the container stopped"
    _start(daemon, id)
    assert _exec(daemon, id, "ls -A /dev/shm") == "", "a new tmpfs at each start, as dockerd's"
    assert call(daemon, "POST", f"/v1.51/containers/{id}/kill")[0] == 204
    call(daemon, "POST", f"/v1.51/containers/{id}/wait")
    assert _host_shm_mounts(id) == [], "unmounted when the container was killed"
    assert call(daemon, "POST", f"/v1.51/containers/{id}/restart?t=1")[0] == 204
    assert len(_host_shm_mounts(id)) == 1
    assert call(daemon, "DELETE", f"/v1.51/containers/{id}?force=1")[0] == 204
    assert _host_shm_mounts(id) == []


def test_joiner_keeps_the_files_of_a_stopped_donor(daemon: Daemon, made: list[str]) -> None:
    """The host's tmpfs goes with the donor's exit; the joiner's bind of it stays (dockerd's too)."""
    donor = _shareable(daemon, made)
    _start(daemon, donor)
    status, joiner = call(daemon, "POST", f"/v1.51/containers/create?name=shm-{uuid.uuid4().hex[:8]}",
                          {"Image": "busybox", "Cmd": ["sleep", "60"], "HostConfig": {"IpcMode": f"container:{donor}"}})
    assert status == 201, joiner
    made.append(joiner["Id"])
    assert call(daemon, "POST", f"/v1.51/containers/{joiner['Id']}/start")[0] == 204
    _exec(daemon, donor, "printf covfefe > /dev/shm/bar")
    assert call(daemon, "POST", f"/v1.51/containers/{donor}/stop?t=1")[0] == 204
    assert _host_shm_mounts(donor) == []
    assert _exec(daemon, joiner["Id"], "cat /dev/shm/bar") == "covfefe"


def test_exit_while_the_daemons_are_down(fresh_daemon: Daemon) -> None:
    made: list[str] = []
    id = _shareable(fresh_daemon, made)
    _start(fresh_daemon, id)
    pid = call(fresh_daemon, "GET", f"/v1.51/containers/{id}/json")[1]["State"]["Pid"]
    fresh_daemon.stop()
    assert len(_host_shm_mounts(id)) == 1, "kept while the container runs (live-restore)"
    os.kill(pid, signal.SIGKILL)
    fresh_daemon.start()
    call(fresh_daemon, "POST", f"/v1.51/containers/{id}/wait")
    inspect = call(fresh_daemon, "GET", f"/v1.51/containers/{id}/json")[1]
    assert inspect["State"]["Running"] is False
    assert _host_shm_mounts(id) == [], "unmounted once the daemons saw the exit"
    _start(fresh_daemon, id)
