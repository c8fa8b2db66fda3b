"""``--ipc shareable`` and ``--ipc container:<id>`` as moby's TestIpcModeShareable and
TestAPIIpcModeShareableAndContainer check them (issue 14, session 7): a shareable container's
/dev/shm is a tmpfs containerd mounts on the host (the same device inside), a joiner sees the donor's files,
a private donor is refused when the joiner starts (not at create), and the mount goes with the
container."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.conftest import Daemon
from tests.httpcall import call

pytestmark = pytest.mark.root


def _create(d: Daemon, made: list[str], ipc: str) -> str:
    status, answer = call(d, "POST", f"/v1.51/containers/create?name=ipc-{uuid.uuid4().hex[:8]}",
                          {"Image": "busybox", "Cmd": ["sleep", "60"], "HostConfig": {"IpcMode": ipc}})
    assert status == 201, answer
    made.append(answer["Id"])
    return str(answer["Id"])


def _start(d: Daemon, made: list[str], ipc: str) -> str:
    id = _create(d, made, ipc)
    status, answer = call(d, "POST", f"/v1.51/containers/{id}/start")
    assert status == 204, answer
    return id


def _exec(d: Daemon, id: str, script: str) -> str:
    r = d.cli("exec", id, "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def _host_devices() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[2] for line in f}


def _host_shm_mounts(id: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].endswith(f"/shm/moby/{id}")]  # containerd's


def test_shareable_shm_is_a_host_mount_gone_with_the_container(daemon: Daemon, made: list[str]) -> None:
    id = _start(daemon, made, "shareable")
    device = _exec(daemon, id, "awk '($5 == \"/dev/shm\") {printf $3}' /proc/self/mountinfo")
    assert device and device in _host_devices(), device
    assert len(_host_shm_mounts(id)) == 1
    private = _start(daemon, made, "private")
    assert _exec(daemon, private, "awk '($5 == \"/dev/shm\") {printf $3}' /proc/self/mountinfo") not in _host_devices()
    assert call(daemon, "DELETE", f"/v1.51/containers/{id}?force=1")[0] == 204
    assert _host_shm_mounts(id) == [], "the shm tmpfs is unmounted at removal"


def test_joiner_shares_the_donors_shm(daemon: Daemon, made: list[str]) -> None:
    donor = _start(daemon, made, "shareable")
    joiner = _start(daemon, made, f"container:{donor}")
    _exec(daemon, donor, "printf covfefe > /dev/shm/bar")
    assert _exec(daemon, joiner, "cat /dev/shm/bar") == "covfefe"
    ns = [os.readlink(f"/proc/{call(daemon, 'GET', f'/v1.51/containers/{c}/json')[1]['State']['Pid']}/ns/ipc")
          for c in (donor, joiner)]
    assert ns[0] == ns[1]


def test_private_donor_refused_at_start(daemon: Daemon, made: list[str]) -> None:
    donor = _start(daemon, made, "private")
    joiner = _create(daemon, made, f"container:{donor}")  # created: dockerd checks at start
    status, answer = call(daemon, "POST", f"/v1.51/containers/{joiner}/start")
    assert status == 400 and "non-shareable IPC" in answer["message"], answer
