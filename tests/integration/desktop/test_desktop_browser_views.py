"""The dashboard's build, compose, volumes and pods views in headless Chromium: a build's steps
appear as they run, a compose project comes up, shows its logs and goes down from the page, a
volume's files open, and the Pods entry stays hidden with no CRI answering, shown with one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.desktop import webdriver
from tests.integration.desktop.conftest import Desktop, start_desktop, stop_desktop

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not webdriver.available(), reason="needs Debian's chromium and chromium-driver")]


def test_a_build_shows_its_steps_while_it_runs(daemon: Daemon, desktop: Desktop, browser: webdriver.Browser,
                                               tmp_path: Path) -> None:
    tag = f"desk-uibuild-{uuid.uuid4().hex[:6]}:v1"
    # the second step takes 4 s: the first one's output must be on the page before the build ends
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo first-step-$((6*7))\nRUN sleep 4; echo second-step\n")
    try:
        browser.get(f"{desktop.origin}/#/images")
        browser.wait_js("return document.querySelector('input[aria-label=\"build directory\"]')")
        browser.type('input[aria-label="build directory"]', str(tmp_path))
        browser.type('input[aria-label="build tag"]', tag)
        browser.click('button[data-action="build"]')
        out = "document.querySelector('pre.build-output')"
        browser.wait_js(f"return {out}.textContent.includes('first-step-42')", timeout=60)
        assert browser.js(f"return {out}.dataset.exit") is None  # still running: the output came live
        browser.wait_js(f"return {out}.dataset.exit === '0'", timeout=90)
        assert "Step 3/3" in browser.js(f"return {out}.textContent")
        browser.wait_js(f"return document.querySelector('#view tbody').textContent.includes({tag!r})")
    finally:
        daemon.cli("rmi", tag)


@pytest.fixture
def compose_file(daemon: Daemon, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    project = f"deskui{uuid.uuid4().hex[:6]}"
    file = tmp_path / "compose.yaml"
    file.write_text("services:\n  app:\n    image: busybox\n"
                    "    command: [\"sh\", \"-c\", \"echo from-compose-$$((6*7)); exec sleep 1000\"]\n")
    try:
        yield project, file
    finally:
        daemon.cli("compose", "-f", str(file), "-p", project, "down", "-t", "0", timeout=120)


def test_compose_up_logs_down_from_the_page(daemon: Daemon, desktop: Desktop, browser: webdriver.Browser,
                                            compose_file: tuple[str, Path]) -> None:
    project, file = compose_file
    browser.get(f"{desktop.origin}/#/compose")
    browser.wait_js("return document.querySelector('input[aria-label=\"compose file\"]')")
    browser.type('input[aria-label="compose file"]', str(file))
    browser.type('input[aria-label="project name"]', project)
    browser.click('button[data-action="up-file"]')
    row = f'tr[data-project="{project}"]'
    browser.wait_js(f"const r = document.querySelector('{row}'); return r && r.textContent.includes('1 of 1')",
                    timeout=90)
    # the list redraws on every container event: clicked by script, not through a found element
    browser.js("document.querySelector(arguments[0]).click()", f'{row} button[data-action="logs"]')
    browser.wait_js("return document.querySelector('pre.compose-output').textContent.includes('from-compose-42')")
    browser.js("document.querySelector(arguments[0]).click()", f'{row} button[data-action="down"]')
    browser.click('dialog.ask button[data-answer="yes"]')
    browser.wait_js(f"return !document.querySelector('{row}')", timeout=90)
    r = daemon.cli("ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}")
    assert r.returncode == 0 and r.stdout.strip() == b""


def test_a_volume_opens_on_its_files(daemon: Daemon, desktop: Desktop, browser: webdriver.Browser) -> None:
    name = f"deskuivol{uuid.uuid4().hex[:6]}"
    r = daemon.cli("run", "--rm", "-v", f"{name}:/v", "busybox", "sh", "-c", "mkdir /v/inside && echo x > /v/inside/f")
    assert r.returncode == 0, r.stderr.decode()
    try:
        browser.get(f"{desktop.origin}/#/volumes")
        browser.wait_js(f"return document.querySelector('a[data-volume=\"{name}\"]')")
        browser.click(f'a[data-volume="{name}"]')
        browser.wait_js("return [...document.querySelectorAll('table.files a')].some(a => a.textContent === 'inside/')")
        browser.js("[...document.querySelectorAll('table.files a')].find(a => a.textContent === 'inside/').click()")
        browser.wait_js("return [...document.querySelectorAll('table.files td')].some(td => td.textContent === 'f')")
        # with no CRI answering, the Pods entry of the menu stays hidden
        assert browser.js("return document.querySelector('#nav a[data-view=\"pods\"]').hidden") is True
    finally:
        daemon.cli("volume", "rm", name)


def test_the_pods_view_when_a_cri_answers(daemon: Daemon, tmp_path: Path) -> None:
    from tests.integration.desktop.test_desktop_views import FakeCri

    cri = FakeCri(tmp_path / "cri.sock")
    desk = start_desktop(daemon, "--addr", "127.0.0.1:0", "--cri", f"unix://{tmp_path}/cri.sock")
    b = webdriver.Browser()
    try:
        b.get(f"{desk.origin}/?token={desk.token}")
        b.wait_js("return !document.querySelector('#nav a[data-view=\"pods\"]').hidden")
        b.click('#nav a[data-view="pods"]')
        b.wait_js("const r = document.querySelector('tr[data-pod=\"web-0\"]');"
                  "return r && r.textContent.includes('nginx (nginx:1) running')")
    finally:
        b.close()
        stop_desktop(desk)
        cri.stop()
