"""The dashboard in headless Chromium (Debian's chromium + chromedriver, driven over WebDriver):
the list shows a running container with its port, stop from the UI stops it, logs stream a line
printed after the page opened, the terminal (xterm.js) answers an ``echo`` and follows a resize, the files tab opens /etc, a pull shows its progress."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, free_subnet, inspect
from tests.integration.desktop import webdriver
from tests.integration.desktop.conftest import Desktop

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not webdriver.available(), reason="needs Debian's chromium and chromium-driver")]


@pytest.fixture
def web_container(daemon: Daemon) -> Iterator[tuple[str, int]]:
    """A busybox httpd on a user network, its port 80 published on a free loopback port."""
    net = f"desknet-{uuid.uuid4().hex[:6]}"
    name = f"desk-web-{uuid.uuid4().hex[:6]}"
    r = daemon.cli("network", "create", "--subnet", free_subnet("10.223"), net)
    assert r.returncode == 0, r.stderr.decode()
    try:
        r = daemon.cli("run", "-d", "--name", name, "--network", net, "-p", "127.0.0.1::80", "busybox", "sh", "-c",
                       "echo hello > /tmp/index.html; httpd -f -p 80 -h /tmp & "
                       "while [ ! -e /tmp/go ]; do sleep 0.1; done; echo after-$((6*7)); wait")
        assert r.returncode == 0, r.stderr.decode()
        port = int(daemon.cli("port", name, "80").stdout.decode().split(":")[-1])
        yield name, port
    finally:
        daemon.cli("rm", "-f", name)
        daemon.cli("network", "rm", net)


def test_the_list_shows_the_container_and_its_port_and_stop_stops_it(
        daemon: Daemon, desktop: Desktop, browser: webdriver.Browser, web_container: tuple[str, int]) -> None:
    name, port = web_container
    row = f'tr[data-name="{name}"]'
    # the page may have opened before the container started: the events stream brings it up to date
    browser.wait_js(f"""const r = document.querySelector('{row} td.state-running');
        return r && r.textContent.startsWith('Up');""")
    links = browser.js(f"return [...document.querySelectorAll('{row} a')].map(a => a.href + ' ' + a.textContent)")
    assert f"http://127.0.0.1:{port}/ {port}:80/tcp" in links
    browser.click("#live-usage")
    browser.wait_js(f"return document.querySelector('{row} td.usage').textContent.includes('%')")
    browser.click(f'{row} button[data-action="stop"]')
    browser.wait_js(f"""const r = document.querySelector('{row}');
        return r && r.querySelector('button[data-action="start"]');""")
    assert inspect(daemon, name)["State"]["Running"] is False


def test_logs_stream_and_the_terminal_answers(daemon: Daemon, desktop: Desktop, browser: webdriver.Browser,
                                              web_container: tuple[str, int]) -> None:
    name, _ = web_container
    cid = inspect(daemon, name)["Id"]
    browser.get(f"{desktop.origin}/#/container/{cid}")
    browser.wait_js("return document.querySelector('pre.log')")
    assert daemon.cli("exec", name, "touch", "/tmp/go").returncode == 0  # after the page opened
    browser.wait_js("return document.querySelector('pre.log').textContent.includes('after-42')")

    browser.click('.tabs button:nth-child(4)')  # Terminal: xterm.js, rendering into .xterm-rows
    screen = "document.querySelector('div.term .xterm-rows').textContent"
    browser.wait_js(f"return document.querySelector('div.term .xterm-rows') && {screen}.includes('#')")  # the prompt
    browser.type("div.term textarea.xterm-helper-textarea", "echo hi-$((6*7)); stty size" + webdriver.ENTER)
    browser.wait_js(f"return {screen}.includes('hi-42')")
    cols, rows = browser.js("return document.querySelector('div.term').dataset.size").split("x")
    browser.wait_js(f"return {screen}.includes('{rows} {cols}')")  # the exec's TTY has the fitted size
    browser.cmd("POST", "/window/rect", {"width": 900, "height": 700})  # the terminal refits; the TTY follows
    browser.wait_js("return document.querySelector('div.term').dataset.size !== arguments[0]", f"{cols}x{rows}")
    cols, rows = browser.js("return document.querySelector('div.term').dataset.size").split("x")
    browser.type("div.term textarea.xterm-helper-textarea", "clear; stty size" + webdriver.ENTER)
    browser.wait_js(f"return {screen}.includes('{rows} {cols}')")

    browser.click('.tabs button:nth-child(5)')  # Files
    browser.wait_js("return [...document.querySelectorAll('table.files a')].some(a => a.textContent === 'etc/')")
    browser.js("[...document.querySelectorAll('table.files a')].find(a => a.textContent === 'etc/').click()")
    browser.wait_js("return [...document.querySelectorAll('table.files a')].some(a => a.textContent === 'passwd')")


@pytest.fixture
def pushed(daemon: Daemon) -> Iterator[str]:
    """busybox pushed to a Debian docker-registry on loopback, and no longer in the engine's image list."""
    from tests.integration.images.conftest import REGISTRY_BIN, Registry

    if not os.path.exists(REGISTRY_BIN):
        pytest.skip("needs Debian's docker-registry")
    base = Path(tempfile.mkdtemp(prefix="dy-reg-"))
    registry = Registry(base)
    ref = f"{registry.host}/desk/busybox:{uuid.uuid4().hex[:6]}"
    try:
        for args in (("tag", "busybox", ref), ("push", ref), ("rmi", ref)):
            r = daemon.cli(*args)
            assert r.returncode == 0, (args, r.stderr.decode())
        yield ref
    finally:
        daemon.cli("rmi", ref)
        registry.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_a_pull_shows_progress_and_ends_in_the_list(desktop: Desktop, browser: webdriver.Browser,
                                                   pushed: str) -> None:
    browser.get(f"{desktop.origin}/#/images")
    browser.wait_js("return document.querySelector('input[aria-label=\"image to pull\"]')")
    assert pushed not in browser.js("return document.getElementById('view').textContent")
    browser.type('input[aria-label="image to pull"]', pushed)
    browser.click('button[data-action="pull"]')
    progress = browser.wait_js("""const t = document.querySelector('.progress').textContent;
        return t.includes('Status:') && t;""", timeout=60)
    assert "Pull complete" in progress or "Already exists" in progress, progress
    browser.wait_js(f"return document.querySelector('tbody').textContent.includes({pushed!r})")
