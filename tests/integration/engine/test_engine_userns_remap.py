"""``dockyardd --userns-remap``: root in the container is a host id of the remap range.

The daemon gets an explicit numeric range (no account has that uid: no user is made on the
host). Asserted from the host: the container process's uids in /proc/<pid>/status, the owner
of a file the container wrote into its rootfs, and that the host's device nodes are untouched.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, started_daemon
from tests.integration.runtime.rtkit import host_device_stats

pytestmark = pytest.mark.root

HOST_ID = 231072  # no account on the host has it: the "UID:GID" shorthand, a 65536-id range


@pytest.fixture(scope="module")
def remapped(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar, extra_args=("--userns-remap", f"{HOST_ID}:{HOST_ID}")) as d:
        yield d


def _ok(r: object) -> str:
    assert r.returncode == 0, r.stderr.decode()  # type: ignore[attr-defined]
    return r.stdout.decode()  # type: ignore[attr-defined]


def _status_uids(pid: int) -> list[int]:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("Uid:"))
    return [int(v) for v in line.split()[1:]]


def test_info_lists_userns(remapped: Daemon) -> None:
    info = json.loads(_ok(remapped.cli("info", "--format", "{{json .SecurityOptions}}")))
    assert "name=userns" in info


def test_root_inside_is_the_remapped_id_outside(remapped: Daemon) -> None:
    before = host_device_stats()
    assert _ok(remapped.cli("run", "--rm", "busybox", "id", "-u")).strip() == "0"
    cid = _ok(remapped.cli("run", "-d", "busybox", "sh", "-c", "echo x > /made-inside; sleep 100")).strip()
    try:
        state = json.loads(_ok(remapped.cli("inspect", cid)))[0]["State"]
        assert _status_uids(state["Pid"]) == [HOST_ID] * 4
        made = Path(f"/proc/{state['Pid']}/root/made-inside")
        for _ in range(50):
            if made.exists():
                break
            time.sleep(0.1)
        assert made.stat().st_uid == HOST_ID
        assert made.stat().st_gid == HOST_ID
        assert _ok(remapped.cli("exec", cid, "sh", "-c", "id -u; touch /by-exec")).strip() == "0"
        assert Path(f"/proc/{state['Pid']}/root/by-exec").stat().st_uid == HOST_ID
    finally:
        remapped.cli("rm", "-f", cid)
    assert host_device_stats() == before


def test_userns_host_opts_out(remapped: Daemon) -> None:
    out = _ok(remapped.cli("run", "--rm", "--userns", "host", "busybox", "cat", "/proc/self/uid_map"))
    assert out.split() == ["0", "0", "4294967295"]


def test_privileged_needs_userns_host(remapped: Daemon) -> None:
    r = remapped.cli("run", "--rm", "--privileged", "busybox", "true")
    assert r.returncode != 0
    assert b"privileged mode is incompatible with user namespaces" in r.stderr


def test_named_volume_and_etc_files_belong_to_the_remapped_root(remapped: Daemon) -> None:
    _ok(remapped.cli("volume", "create", "remapvol"))
    try:
        out = _ok(remapped.cli("run", "--rm", "-v", "remapvol:/data", "busybox", "sh", "-c",
                               "touch /data/f && echo 10.9.9.9 extra >> /etc/hosts && stat -c %u /data/f"))
        assert out.strip() == "0"
        mountpoint = json.loads(_ok(remapped.cli("volume", "inspect", "remapvol")))[0]["Mountpoint"]
        assert os.stat(mountpoint).st_uid == HOST_ID
        assert os.stat(Path(mountpoint) / "f").st_uid == HOST_ID
    finally:
        remapped.cli("volume", "rm", "-f", "remapvol")


def test_image_files_are_shifted_and_tty_works(remapped: Daemon) -> None:
    out = _ok(remapped.cli("run", "--rm", "busybox", "stat", "-c", "%u %g %a", "/bin", "/etc/passwd", "/tmp"))
    assert out.split("\n")[:3] == ["0 0 755", "0 0 644", "0 0 1777"]
    assert _ok(remapped.cli("run", "--rm", "-t", "busybox", "id", "-u")).strip() == "0"
