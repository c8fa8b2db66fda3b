"""The dashboard by keyboard only, in headless Chromium: the skip link, Tab to a running
container's Stop with a visible focus on every stop of the way, Enter stops it (the engine
agrees), the focus stays in the redrawn row, a removal's dialog has the focus on its first
button, Escape cancels it (the container stays), Enter confirms it (the container is gone);
an image tagged through the dialog's text field; the terminal takes keys and Shift+Tab leaves it."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.conftest import Daemon
from tests.integration.desktop import webdriver
from tests.integration.desktop.conftest import Desktop

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not webdriver.available(), reason="needs Debian's chromium and chromium-driver")]

FOCUSED = "const e = document.activeElement; return e && e !== document.body ? e.outerHTML.slice(0, 120) : null"
FOCUS_SHOWN = ("const e = document.activeElement, s = getComputedStyle(e);"
               "return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0")


def _running(daemon: Daemon, name: str) -> bool | None:
    """The engine's word: True/False, None once the container is gone."""
    r = daemon.cli("inspect", "-f", "{{.State.Running}}", name)
    return None if r.returncode else r.stdout.strip() == b"true"


def _wait(check: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _tab_to(browser: webdriver.Browser, css: str, limit: int = 200) -> None:
    """Tab until ``css`` has the focus; every element passed on the way shows that it has it."""
    for _ in range(limit):
        browser.keys(webdriver.TAB)
        assert browser.js(FOCUS_SHOWN), f"no visible focus on {browser.js(FOCUSED)}"
        if browser.js("return document.activeElement.matches(arguments[0])", css):
            return
    raise AssertionError(f"{css} not reached by Tab")


def test_stop_and_remove_by_keyboard(daemon: Daemon, desktop: Desktop, browser: webdriver.Browser) -> None:
    name = f"deskkbd{uuid.uuid4().hex[:6]}"
    r = daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "1000")
    assert r.returncode == 0, r.stderr.decode()
    row = f'tr[data-name="{name}"]'
    try:
        browser.get(f"{desktop.origin}/#/containers")
        browser.wait_js(f"return document.querySelector('{row} button[data-action=\"stop\"]')")
        browser.keys(webdriver.TAB)  # the first stop: the skip link, shown while it has the focus
        assert browser.js("const e = document.activeElement; return e.id === 'skip'"
                          " && e.getBoundingClientRect().left >= 0")
        browser.keys(webdriver.ENTER)
        assert browser.js("return document.activeElement.id") == "view"

        _tab_to(browser, f'{row} button[data-action="stop"]')
        browser.keys(webdriver.ENTER)
        _wait(lambda: _running(daemon, name) is False, "the container did not stop")
        # redrawn without Stop: the focus stays in the row, on its first action (Start)
        browser.wait_js(f"const e = document.activeElement; return e.closest('{row}') && e.dataset.action === 'start'"
                        f" && document.querySelector('{row}').textContent.includes('Exited')")
        browser.keys(webdriver.TAB)
        assert browser.js("return document.activeElement.dataset.action") == "remove"

        browser.keys(webdriver.ENTER)  # the dialog opens on its first button
        browser.wait_js("return document.activeElement.matches('dialog.ask[open] button[data-answer=\"yes\"]')")
        browser.keys(webdriver.ESCAPE)
        browser.wait_js("return !document.querySelector('dialog.ask')")
        assert browser.js(f"return document.activeElement.matches('{row} button[data-action=\"remove\"]')")
        time.sleep(0.5)
        assert _running(daemon, name) is False  # cancelled: still there

        browser.keys(webdriver.ENTER)
        browser.wait_js("return document.activeElement.matches('dialog.ask[open] button[data-answer=\"yes\"]')")
        browser.keys(webdriver.ENTER)
        _wait(lambda: _running(daemon, name) is None, "the container was not removed")
        browser.wait_js(f"return !document.querySelector('{row}')")
    finally:
        daemon.cli("rm", "-f", name)


def test_tag_and_terminal_by_keyboard(daemon: Daemon, desktop: Desktop, browser: webdriver.Browser) -> None:
    name, tag = f"deskkbd{uuid.uuid4().hex[:6]}", f"deskkbd-{uuid.uuid4().hex[:6]}:v1"
    image = daemon.cli("inspect", "-f", "{{.Id}}", "busybox").stdout.decode().strip()
    r = daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "1000")
    assert r.returncode == 0, r.stderr.decode()
    try:
        browser.get(f"{desktop.origin}/#/images")
        browser.wait_js(f"return document.querySelector('tr[data-id=\"{image}\"] button[data-action=\"tag\"]')")
        _tab_to(browser, f'tr[data-id="{image}"] button[data-action="tag"]')
        browser.keys(webdriver.ENTER)  # the dialog opens on its text field
        browser.wait_js("return document.activeElement.matches('dialog.ask[open] input')")
        browser.keys(*tag, webdriver.ENTER)
        _wait(lambda: daemon.cli("inspect", tag).returncode == 0, "the image was not tagged")
        browser.wait_js(f"return document.querySelector('tr[data-id=\"{image}\"]').textContent.includes({tag!r})")
        assert browser.js(f"return document.activeElement.matches('tr[data-id=\"{image}\"] [data-action=\"tag\"]')")

        browser.get(f"{desktop.origin}/#/container/{name}")
        browser.wait_js("return document.querySelectorAll('div.tabs button').length === 5")
        _tab_to(browser, "div.tabs button:nth-child(4)")  # Terminal
        browser.keys(webdriver.ENTER)
        browser.wait_js("return document.activeElement.matches('div.term textarea')"
                        " && document.querySelector('div.term .xterm-rows').textContent.includes('#')")  # the prompt
        browser.keys(*"echo kbd-$((6*7))", webdriver.ENTER)
        browser.wait_js("return document.querySelector('div.term .xterm-rows').textContent.includes('kbd-42')")
        browser.keys(webdriver.TAB, hold=webdriver.SHIFT)  # out of the terminal, back to the last tab (Files)
        assert browser.js("return document.activeElement.matches('div.tabs button:last-child')"), browser.js(FOCUSED)
        assert browser.js(FOCUS_SHOWN)
    finally:
        daemon.cli("rm", "-f", name)
        daemon.cli("rmi", tag)
