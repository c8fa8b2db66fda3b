"""Screenshots of the main views, light and dark, for docs/desktop/: run with
``DOCKYARD_SCREENSHOTS=docs/desktop`` (skipped otherwise). Each view must render before its shot;
the pods view reads a stand-in CRI (tests/integration/desktop/test_desktop_views.py)."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.desktop import webdriver
from tests.integration.desktop.conftest import start_desktop, stop_desktop
from tests.integration.desktop.test_desktop_views import FakeCri

OUT = os.environ.get("DOCKYARD_SCREENSHOTS", "")
pytestmark = [pytest.mark.root, pytest.mark.skipif(not OUT or not webdriver.available(),
                                                   reason="DOCKYARD_SCREENSHOTS unset, or no chromium")]

VIEWS = {"containers": "tr[data-name]", "compose": "tr[data-project]", "images": "tbody tr",
         "volumes": "a[data-volume]", "pods": "tr[data-pod]", "events": "h2", "disk": "tbody tr"}


def _run_all(daemon: Daemon, project: str, volume: str) -> list[str]:
    compose = ["--label", f"com.docker.compose.project={project}",
               "--label", f"com.docker.compose.project.config_files=/srv/{project}/compose.yaml"]
    made = []
    for service in ("web", "db", ""):
        name = f"{project}-{service}-1" if service else f"scratch-{uuid.uuid4().hex[:4]}"
        labels = [*compose, "--label", f"com.docker.compose.service={service}"] if service else []
        mount = ["-v", f"{volume}:/data"] if service == "db" else []
        assert daemon.cli("run", "-d", "--name", name, *labels, *mount, "busybox", "sh", "-c",
                          "while true; do echo tick $(date); sleep 2; done").returncode == 0
        made.append(name)
    return made


def test_screenshots(daemon: Daemon, tmp_path: Path) -> None:
    project, volume = f"shop{uuid.uuid4().hex[:4]}", f"shopdata{uuid.uuid4().hex[:4]}"
    cri = FakeCri(tmp_path / "cri.sock")
    desk = start_desktop(daemon, "--addr", "127.0.0.1:0", "--cri", f"unix://{tmp_path}/cri.sock")
    b = webdriver.Browser()
    names: list[str] = []
    try:
        names = _run_all(daemon, project, volume)
        b.cmd("POST", "/window/rect", {"width": 1280, "height": 760})
        b.get(f"{desk.origin}/?token={desk.token}")
        Path(OUT).mkdir(parents=True, exist_ok=True)
        cid = daemon.cli("inspect", "-f", "{{.Id}}", names[0]).stdout.decode().strip()
        for theme in ("light", "dark"):
            b.js("setTheme(arguments[0])", theme)
            for view, ready in VIEWS.items():
                b.get(f"{desk.origin}/#/{view}")
                b.wait_js("return document.querySelector(arguments[0])", ready)
                _shot(b, Path(OUT) / f"{view}-{theme}.png")
            b.get(f"{desk.origin}/#/container/{cid}")
            b.wait_js("return document.querySelector('pre.log').textContent.includes('tick')")
            _shot(b, Path(OUT) / f"container-{theme}.png")
            b.js("[...document.querySelectorAll('.tabs button')].find(t => t.textContent === 'Terminal').click()")
            rows = "document.querySelector('div.term .xterm-rows')"
            b.wait_js(f"return {rows} && {rows}.textContent.includes('#')")
            b.type("div.term textarea.xterm-helper-textarea", "ls -l /; printf '\\033[32mgreen\\033[0m\\n'"
                   + webdriver.ENTER)
            b.wait_js(f"return {rows}.textContent.includes('green')")
            _shot(b, Path(OUT) / f"terminal-{theme}.png")
    finally:
        b.close()
        stop_desktop(desk)
        cri.stop()
        if names:
            daemon.cli("rm", "-f", *names)
        daemon.cli("volume", "rm", volume)


def _shot(b: webdriver.Browser, path: Path) -> None:
    path.write_bytes(base64.b64decode(b.cmd("GET", "/screenshot")))
