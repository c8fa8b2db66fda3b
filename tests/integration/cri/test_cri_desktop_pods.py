"""The dashboard's pods view (``dockyard desktop --cri``) against a real dockyard-cri: a pod run
through the CRI's gRPC API shows with its containers and their states, over HTTP and in headless
Chromium, and a stopped pod shows as not ready."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from dockyard.cri.api import api_pb2 as cri
from tests.integration.cri.conftest import BUSYBOX, Cri, container_config, pod_config
from tests.integration.desktop import webdriver
from tests.integration.desktop.conftest import Desktop, start_desktop, stop_desktop

pytestmark = pytest.mark.root


def _container(c: Cri, pod: str, name: str, cmd: list[str], log_dir: Path) -> str:
    cid = c.runtime.CreateContainer(cri.CreateContainerRequest(
        pod_sandbox_id=pod, config=container_config(name, cmd), sandbox_config=pod_config("deskpod", log_dir)),
        timeout=60).container_id
    c.runtime.StartContainer(cri.StartContainerRequest(container_id=cid), timeout=60)
    return str(cid)


def _wait_exited(c: Cri, cid: str) -> None:
    deadline = time.monotonic() + 20
    while c.runtime.ContainerStatus(cri.ContainerStatusRequest(container_id=cid),
                                    timeout=10).status.state != cri.CONTAINER_EXITED:
        assert time.monotonic() < deadline, f"{cid} did not exit"
        time.sleep(0.1)


def _pods(desk: Desktop) -> dict[str, Any]:
    answer: dict[str, Any] = desk.json("GET", "/api/pods", headers={"X-Dockyard-Token": desk.token})
    assert answer["available"] is True, answer
    return {p["id"]: p for p in answer["pods"]}


def _show_in_browser(desk: Desktop) -> None:
    b = webdriver.Browser()
    try:
        b.get(f"{desk.origin}/?token={desk.token}")
        b.wait_js("return !document.querySelector('#nav a[data-view=\"pods\"]').hidden")
        b.click('#nav a[data-view="pods"]')
        b.wait_js("const r = document.querySelector('tr[data-pod=\"deskpod\"]');"
                  "return r && r.textContent.includes('ready')"
                  f" && r.textContent.includes('app ({BUSYBOX}) running')"
                  f" && r.textContent.includes('done ({BUSYBOX}) exited')")
    finally:
        b.close()


def test_the_desktop_lists_a_real_cri_pod(cri_env: Cri, tmp_path: Path) -> None:
    c = cri_env
    c.images.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=BUSYBOX)), timeout=120)
    pod = str(c.runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=pod_config("deskpod", tmp_path)),
                                      timeout=120).pod_sandbox_id)
    netns = c.base / "state" / "netns" / pod
    desk = None
    try:
        app = _container(c, pod, "app", ["sleep", "1000"], tmp_path)
        done = _container(c, pod, "done", ["true"], tmp_path)
        _wait_exited(c, done)
        desk = start_desktop(c.daemon, "--addr", "127.0.0.1:0", "--cri", f"unix://{c.socket}")
        shown = _pods(desk)[pod]
        assert (shown["name"], shown["namespace"], shown["state"], shown["labels"]) == \
            ("deskpod", "default", "ready", {"app": "deskpod"})
        assert {(x["id"], x["name"], x["image"], x["state"]) for x in shown["containers"]} == \
            {(app, "app", BUSYBOX, "running"), (done, "done", BUSYBOX, "exited")}
        if webdriver.available():
            _show_in_browser(desk)
        c.runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        shown = _pods(desk)[pod]
        assert shown["state"] == "notready"
        assert {x["name"]: x["state"] for x in shown["containers"]} == {"app": "exited", "done": "exited"}
    finally:
        if desk is not None:
            stop_desktop(desk)
        c.runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        c.runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    assert not netns.exists()
