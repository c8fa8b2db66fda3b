"""Helpers for the security suite: the docker CLI against a test daemon, /proc status fields."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from tests.conftest import Daemon

DOCKER = "/usr/bin/docker"
DOCKER_DEFAULT_CAPS = 0xA80425FB  # Docker's 14 default capabilities as CapEff


def docker(d: Daemon, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    if not os.path.exists(DOCKER):
        pytest.skip("needs the docker CLI at /usr/bin/docker")
    return subprocess.run([DOCKER, "-H", d.host, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def ok(d: Daemon, *args: str) -> str:
    r = docker(d, *args)
    assert r.returncode == 0, f"docker {' '.join(args)}: {r.stderr}"
    return r.stdout


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def status_fields(text: str) -> dict[str, str]:
    """``/proc/<pid>/status`` as a dict (``CapEff`` -> ``"00000000a80425fb"``)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key] = value.strip()
    return out


def host_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return status_fields(f.read())


def every_capability(daemon_pid: int) -> int:
    """What ``--privileged`` grants: every capability the kernel knows that the daemon may hand out."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    return ((1 << (last + 1)) - 1) & int(host_status(daemon_pid)["CapBnd"], 16)
