"""Screenshots of the main views, light and dark, for docs/desktop/: run with
``DOCKYARD_SCREENSHOTS=docs/desktop`` (skipped otherwise). Each view must render before its shot."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.desktop import webdriver
from tests.integration.desktop.conftest import Desktop

OUT = os.environ.get("DOCKYARD_SCREENSHOTS", "")
pytestmark = [pytest.mark.root, pytest.mark.skipif(not OUT or not webdriver.available(),
                                                   reason="DOCKYARD_SCREENSHOTS unset, or no chromium")]

VIEWS = {"containers": "tr[data-name]", "images": "tbody tr", "events": "h2", "disk": "tbody tr"}


def test_screenshots(daemon: Daemon, desktop: Desktop) -> None:
    project = f"shop{uuid.uuid4().hex[:4]}"
    names = [f"{project}-{svc}-1" for svc in ("web", "db")] + [f"scratch-{uuid.uuid4().hex[:4]}"]
    b = webdriver.Browser()
    try:
        for name in names:
            labels = ["--label", f"com.docker.compose.project={project}"] if name.startswith(project) else []
            assert daemon.cli("run", "-d", "--name", name, *labels, "busybox", "sh", "-c",
                              "while true; do echo tick $(date); sleep 2; done").returncode == 0
        b.cmd("POST", "/window/rect", {"width": 1280, "height": 760})
        b.get(f"{desktop.origin}/?token={desktop.token}")
        Path(OUT).mkdir(parents=True, exist_ok=True)
        for theme in ("light", "dark"):
            b.js("setTheme(arguments[0])", theme)
            for view, ready in VIEWS.items():
                b.get(f"{desktop.origin}/#/{view}")
                b.wait_js("return document.querySelector(arguments[0])", ready)
                _shot(b, Path(OUT) / f"{view}-{theme}.png")
            cid = daemon.cli("inspect", "-f", "{{.Id}}", names[0]).stdout.decode().strip()
            b.get(f"{desktop.origin}/#/container/{cid}")
            b.wait_js("return document.querySelector('pre.log').textContent.includes('tick')")
            _shot(b, Path(OUT) / f"container-{theme}.png")
    finally:
        b.close()
        daemon.cli("rm", "-f", *names)


def _shot(b: webdriver.Browser, path: Path) -> None:
    path.write_bytes(base64.b64decode(b.cmd("GET", "/screenshot")))
