"""What the dashboard costs: 20 running containers (DESKTOP_IDLE_CONTAINERS), the containers page
open (its events stream held; or the page itself in headless chromium), 10 s of the desktop
process's CPU time from /proc/<pid>/stat; idle, and with the list's live CPU/memory on (a stats
sample of each container a second)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import Daemon
from tests.integration.desktop import webdriver
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


def _measure(desktop: Desktop, path: str, daemon: Daemon) -> float:
    """Percent of a core the desktop process used over WINDOW seconds while ``path`` streamed to us."""
    conn = desktop.conn(timeout=WINDOW + 30)
    conn.request("GET", path, headers={"Host": f"{desktop.host}:{desktop.port}", "Cookie": desktop.cookie})
    resp = conn.getresponse()
    assert resp.status == 200
    try:
        time.sleep(1)  # what opening the streams cost is not the steady state
        assert daemon.proc is not None
        before, engine_before, t0 = cpu_seconds(desktop.proc.pid), cpu_seconds(daemon.proc.pid), time.monotonic()
        time.sleep(WINDOW)
        used, elapsed = cpu_seconds(desktop.proc.pid) - before, time.monotonic() - t0
        engine_used = cpu_seconds(daemon.proc.pid) - engine_before
        if path.startswith("/api/stats"):
            assert resp.fp.readline(), "no stats came"
    finally:
        conn.close()
    share = used / elapsed * 100
    print(json.dumps({"stream": path.split("?")[0], "containers": CONTAINERS, "seconds": round(elapsed, 2),
                      "cpu_seconds": round(used, 3), "percent_of_a_core": round(share, 3),
                      "dockyardd_percent_of_a_core": round(engine_used / elapsed * 100, 3)}))
    return share


def test_idle_cpu_with_many_containers(daemon: Daemon, desktop: Desktop, many: list[str]) -> None:
    rows = [c for g in desktop.json("GET", "/api/containers")["projects"] for c in g["containers"]]
    assert set(many) <= {r["name"] for r in rows}
    share = _measure(desktop, "/api/events", daemon)
    assert share < 2.0, f"the idle dashboard used {share:.2f} % of a core"


def test_cpu_with_live_usage_of_many_containers(daemon: Daemon, desktop: Desktop, many: list[str]) -> None:
    share = _measure(desktop, "/api/stats?" + "&".join(f"id={n}" for n in many), daemon)
    assert share < 10.0, f"the list's live CPU/memory of {CONTAINERS} containers used {share:.2f} % of a core"


def _descendants(pid: int) -> list[int]:
    """``pid``'s processes below it (chromedriver's chromium: browser, renderer, GPU, utility)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (OSError, ValueError):
            pass  # a helper process that ended: its time is gone with it
    return total


@pytest.mark.skipif(not webdriver.available(), reason="needs Debian's chromium and chromium-driver")
def test_idle_cpu_with_the_page_open_in_chromium(daemon: Daemon, desktop: Desktop, many: list[str],
                                                  browser: webdriver.Browser) -> None:
    """The containers page really open (its events stream, the list drawn), nothing happening:
    the dashboard's process, and headless chromium's processes for the record."""
    browser.wait_js("return document.querySelectorAll('tr[data-name]').length >= arguments[0]", len(many))
    time.sleep(2)
    tabs = _descendants(browser.driver.pid)
    before, chromium_before, t0 = cpu_seconds(desktop.proc.pid), _tree_cpu(tabs), time.monotonic()
    time.sleep(WINDOW)
    used, elapsed = cpu_seconds(desktop.proc.pid) - before, time.monotonic() - t0
    chromium = _tree_cpu(tabs) - chromium_before
    share = used / elapsed * 100
    print(json.dumps({"page": "containers", "containers": CONTAINERS, "seconds": round(elapsed, 2),
                      "percent_of_a_core": round(share, 3),
                      "chromium_percent_of_a_core": round(chromium / elapsed * 100, 3)}))
    assert browser.js("return document.getElementById('message').hidden") is True
    assert share < 2.0, f"the idle dashboard used {share:.2f} % of a core with its page open"
