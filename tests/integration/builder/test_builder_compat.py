"""The build scenarios of the public Docker CLI smoke battery, with both clients.

Issue 7 asks that `build` and `build_cache` pass with the real docker CLI (classic
builder protocol, POST /build) and with `dockyard` itself: the same script, the
same daemon, only DOCKER_BIN differs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BIN, REPO, Daemon

pytestmark = pytest.mark.root

# ../shared beside the checkout, as the workplace lays it out (and CI copies it).
BATTERY = Path(os.environ.get("COMPAT_BATTERY", REPO.parent / "shared" / "compat" / "docker-cli-smoke.sh"))
SCENARIOS = ("build", "build_cache")
CLIENTS = {"docker": "/usr/local/bin/docker", "dockyard": str(BIN / "dockyard")}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_builder_compat_battery(daemon: Daemon, tmp_path: Path, client: str) -> None:
    binary = CLIENTS[client]
    assert BATTERY.exists(), f"the compat battery is missing: {BATTERY}"
    assert os.access(binary, os.X_OK), f"{client} client missing: {binary}"
    env = {**os.environ, "DOCKER_HOST": daemon.host, "DOCKER_BIN": binary, "COMPAT_ONLY": " ".join(SCENARIOS),
           "COMPAT_TIMEOUT": "60", "COMPAT_SCN_TIMEOUT": "120", "COMPAT_VERBOSE": "1",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    r = subprocess.run(["bash", str(BATTERY), "busybox:latest"], env=env, capture_output=True, timeout=400,
                       cwd=tmp_path)
    out = r.stdout.decode(errors="replace")
    lines = out.strip().splitlines()
    assert lines, r.stderr.decode(errors="replace")
    assert lines[-1] == f"{len(SCENARIOS)} passed, 0 failed", out[-6000:] + r.stderr.decode(errors="replace")[-2000:]
    assert r.returncode == 0
