"""What the dashboard costs while nobody touches it: 20 running containers, the containers page
open (its events stream held), 10 s of the desktop process's CPU time from /proc/<pid>/stat."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import Daemon
from tests.integration.desktop.conftest import Desktop

pytestmark = pytest.mark.root

CONTAINERS = int(os.environ.get("DESKTOP_IDLE_CONTAINERS", "20"))
WINDOW = 10.0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.fixture
def many(daemon: Daemon) -> Iterator[list[str]]:
    names = [f"desk-idle-{uuid.uuid4().hex[:6]}-{n}" for n in range(CONTAINERS)]
    try:
        for name in names:
            r = daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "1000")
            assert r.returncode == 0, r.stderr.decode()
        yield names
    finally:
        daemon.cli("rm", "-f", *names)


def test_idle_cpu_with_many_containers(desktop: Desktop, many: list[str]) -> None:
    rows = [c for g in desktop.json("GET", "/api/containers")["projects"] for c in g["containers"]]
    assert set(many) <= {r["name"] for r in rows}
    conn = desktop.conn(timeout=WINDOW + 30)
    conn.request("GET", "/api/events", headers={"Host": f"{desktop.host}:{desktop.port}", "Cookie": desktop.cookie})
    assert conn.getresponse().status == 200
    try:
        time.sleep(1)  # what the list's first load cost is not idle
        before, t0 = cpu_seconds(desktop.proc.pid), time.monotonic()
        time.sleep(WINDOW)
        used, elapsed = cpu_seconds(desktop.proc.pid) - before, time.monotonic() - t0
    finally:
        conn.close()
    share = used / elapsed * 100
    print(json.dumps({"containers": CONTAINERS, "seconds": round(elapsed, 2), "cpu_seconds": used,
                      "percent_of_a_core": round(share, 3)}))
    assert share < 2.0, f"the idle dashboard used {share:.2f} % of a core"
