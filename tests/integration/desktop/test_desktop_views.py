"""The dashboard's build, compose, volumes and pods routes, over HTTP against a private daemon
(and, for pods, a stand-in CRI that answers with the real protobuf messages)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from tests.conftest import Daemon
from tests.integration.desktop.conftest import Desktop, start_desktop, stop_desktop
from tests.integration.desktop.test_desktop import sse_until
from tests.integration.images.conftest import REGISTRY_BIN, Registry

pytestmark = pytest.mark.root


def streamed(desk: Desktop, path: str, body: object) -> tuple[list[str], int | None]:
    """A command's NDJSON answer: its output lines and exit status."""
    status, headers, data = desk.request("POST", path, body, headers={"Origin": desk.origin})
    assert status == 200 and headers["content-type"].startswith("application/x-ndjson"), (status, data)
    messages = [json.loads(line) for line in data.splitlines()]
    return [m["line"] for m in messages if "line" in m], next((m["exit"] for m in messages if "exit" in m), None)


def test_build_from_a_directory_streams_its_steps(daemon: Daemon, desktop: Desktop, tmp_path: Path) -> None:
    tag = f"desk-build-{uuid.uuid4().hex[:6]}:v1"
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY note /note\nRUN echo built-$((6*7)) && cat /note\n")
    (tmp_path / "note").write_text("from-the-context\n")
    try:
        lines, code = streamed(desktop, "/api/build", {"path": str(tmp_path), "tag": tag})
        assert code == 0, lines
        text = "\n".join(lines)
        assert "Step 1/3 : FROM busybox" in text and "built-42" in text and "from-the-context" in text, text
        assert tag in [t for i in desktop.json("GET", "/api/images")["images"] for t in i["tags"]]
        lines, code = streamed(desktop, "/api/build", {"path": str(tmp_path), "tag": tag})
        assert code == 0 and "Using cache" in "\n".join(lines), lines
        (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
        lines, code = streamed(desktop, "/api/build", {"path": str(tmp_path), "tag": tag})
        assert code == 1 and "exit 3" in "\n".join(lines), lines
    finally:
        daemon.cli("rmi", tag)
    for body in ({"path": "relative"}, {"path": str(tmp_path / "none")}, {"path": str(tmp_path), "tag": "-rm"}):
        status, _, data = desktop.request("POST", "/api/build", body, headers={"Origin": desktop.origin})
        assert status == 400 and json.loads(data)["message"], (body, status, data)


@pytest.fixture
def compose_project(daemon: Daemon, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    project = f"deskproj{uuid.uuid4().hex[:6]}"
    file = tmp_path / "compose.yaml"
    file.write_text("services:\n  web:\n    image: busybox\n"
                    "    command: [\"sh\", \"-c\", \"echo hello-$$((6*7)); exec sleep 1000\"]\n")
    try:
        yield project, file
    finally:
        daemon.cli("compose", "-f", str(file), "-p", project, "down", "-t", "0", timeout=120)


def test_compose_up_logs_down(daemon: Daemon, desktop: Desktop, compose_project: tuple[str, Path]) -> None:
    project, file = compose_project
    lines, code = streamed(desktop, "/api/compose/up", {"file": str(file), "project": project})
    assert code == 0, lines
    listed = {p["name"]: p for p in desktop.json("GET", "/api/compose")["projects"]}
    assert listed[project]["services"] == ["web"] and listed[project]["running"] == 1, listed.get(project)
    assert listed[project]["files"] == [str(file)]
    seen = sse_until(desktop, f"/api/compose/{project}/logs", "hello-42", lambda: None)
    assert any("hello-42" in m["text"] for m in seen)
    lines, code = streamed(desktop, "/api/compose/up", {"project": project})  # again, from the labels' file
    assert code == 0, lines
    lines, code = streamed(desktop, f"/api/compose/{project}/down", {})
    assert code == 0, lines
    assert project not in {p["name"] for p in desktop.json("GET", "/api/compose")["projects"]}
    r = daemon.cli("ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}")
    assert r.stdout.strip() == b""
    status, _, _ = desktop.request("POST", f"/api/compose/{project}/down", {}, headers={"Origin": desktop.origin})
    assert status == 404
    status, _, _ = desktop.request("POST", "/api/compose/up", {"file": str(file), "project": "-x"},
                                   headers={"Origin": desktop.origin})
    assert status == 400


@pytest.fixture
def volume(daemon: Daemon) -> Iterator[str]:
    name = f"deskvol{uuid.uuid4().hex[:6]}"
    user = f"{name}-user"
    try:
        r = daemon.cli("run", "--rm", "-v", f"{name}:/data", "busybox", "sh", "-c",
                       "mkdir -p /data/sub && printf 12345 > /data/sub/five && ln -s sub /data/link")
        assert r.returncode == 0, r.stderr.decode()
        r = daemon.cli("run", "-d", "--name", user, "-v", f"{name}:/data", "busybox", "sleep", "1000")
        assert r.returncode == 0, r.stderr.decode()
        yield name
    finally:
        daemon.cli("rm", "-f", user)
        daemon.cli("volume", "rm", name)


def test_volumes_show_size_users_and_files(daemon: Daemon, desktop: Desktop, volume: str) -> None:
    rows = {v["name"]: v for v in desktop.json("GET", "/api/volumes")["volumes"]}
    assert rows[volume]["containers"] == [f"{volume}-user"]
    assert rows[volume]["size"] >= 5, rows[volume]
    root = desktop.json("GET", f"/api/volumes/{volume}/files?path=/")
    kinds = {e["name"]: e["type"] for e in root["entries"]}
    assert kinds == {"sub": "dir", "link": "link"}, root
    sub = desktop.json("GET", f"/api/volumes/{volume}/files?path=/sub")
    assert [(e["name"], e["size"]) for e in sub["entries"]] == [("five", 5)]
    status, headers, data = desktop.request("GET", f"/api/volumes/{volume}/file?path=/sub/five")
    assert (status, data, headers["content-disposition"]) == (200, b"12345", 'attachment; filename="five"')
    assert desktop.request("GET", f"/api/volumes/{volume}/file?path=/sub")[0] == 400
    helpers = daemon.cli("ps", "-a", "-q", "--filter", "label=dockyard.desktop.helper")
    assert helpers.returncode == 0 and helpers.stdout.strip() == b"", helpers  # the helper is gone
    assert rows[volume]["containers"] == [f"{volume}-user"]
    assert desktop.request("GET", "/api/volumes/no-such-volume/files?path=/")[0] == 404
    assert desktop.request("GET", f"/api/volumes/{volume}/files?path=/sub/five")[0] == 400
    assert desktop.request("GET", f"/api/volumes/{volume}/files?path=rel")[0] == 400


class FakeCri:
    """ListPodSandbox and ListContainers of runtime.v1, answered from fixed messages."""

    def __init__(self, sock: Path) -> None:
        from dockyard.cri.api import api_pb2 as cri

        now = time.time_ns()
        pod = cri.PodSandbox(id="pod1", state=cri.SANDBOX_READY, created_at=now, labels={"app": "web"},
                             metadata=cri.PodSandboxMetadata(name="web-0", uid="u1", namespace="shop", attempt=1))
        ctr = cri.Container(id="c1", pod_sandbox_id="pod1", state=cri.CONTAINER_RUNNING, created_at=now,
                            metadata=cri.ContainerMetadata(name="nginx"), image=cri.ImageSpec(image="nginx:1"))
        answers = {"ListPodSandbox": cri.ListPodSandboxResponse(items=[pod]),
                   "ListContainers": cri.ListContainersResponse(containers=[ctr])}
        handlers = {name: grpc.unary_unary_rpc_method_handler(
            lambda req, ctx, a=answer: a, request_deserializer=bytes,
            response_serializer=lambda m: m.SerializeToString()) for name, answer in answers.items()}
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("runtime.v1.RuntimeService",
                                                                                   handlers)])
        self.server.add_insecure_port(f"unix://{sock}")
        self.server.start()

    def stop(self) -> None:
        self.server.stop(None)


def test_pods_from_the_cri_and_none_without_one(daemon: Daemon, desktop: Desktop, tmp_path: Path) -> None:
    answer = desktop.json("GET", "/api/pods")
    assert answer["available"] is False  # the module's dashboard was given no CRI
    sock = tmp_path / "cri.sock"
    cri = FakeCri(sock)
    desk = start_desktop(daemon, "--addr", "127.0.0.1:0", "--cri", f"unix://{sock}")
    try:
        answer = desk.json("GET", "/api/pods", headers={"X-Dockyard-Token": desk.token})
        assert answer["available"] is True, answer
        [pod] = answer["pods"]
        assert (pod["name"], pod["namespace"], pod["uid"], pod["state"], pod["labels"]) == \
            ("web-0", "shop", "u1", "ready", {"app": "web"})
        assert abs(pod["created"] - time.time()) < 60
        assert [(c["name"], c["image"], c["state"]) for c in pod["containers"]] == [("nginx", "nginx:1", "running")]
    finally:
        stop_desktop(desk)
        cri.stop()


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[Registry]:
    """Debian's docker-registry on loopback, asking for user ``dy``, password ``s3cret``."""
    if not os.path.exists(REGISTRY_BIN) or not shutil.which("htpasswd"):
        pytest.skip("needs Debian's docker-registry and apache2-utils")
    base = tmp_path / "registry"
    base.mkdir()
    subprocess.run(["htpasswd", "-Bbc", str(base / "htpasswd"), "dy", "s3cret"], check=True, capture_output=True)
    registry = Registry(base, base / "htpasswd")
    try:
        yield registry
    finally:
        registry.stop()


def test_push_and_pull_use_the_stored_credentials(daemon: Daemon, desktop: Desktop, auth_registry: Registry,
                                                  tmp_path: Path) -> None:
    """The CLI's config.json (as ``dockyard login`` writes it) reaches the registry through the
    dashboard; the module's dashboard, with no credentials stored, is refused."""
    ref = f"{auth_registry.host}/desk/private:{uuid.uuid4().hex[:6]}"
    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_text(json.dumps(
        {"auths": {auth_registry.host: {"auth": base64.b64encode(b"dy:s3cret").decode()}}}))
    assert daemon.cli("tag", "busybox", ref).returncode == 0
    desk = start_desktop(daemon, "--addr", "127.0.0.1:0", "--cri", "unix:///nonexistent/cri.sock",
                         env={"DOCKER_CONFIG": str(config)})
    origin = {"Origin": desk.origin, "X-Dockyard-Token": desk.token}
    try:
        status, _, body = desktop.request("POST", "/api/push", {"ref": ref}, headers={"Origin": desktop.origin})
        assert status == 200 and b'"error"' in body, body  # anonymous: refused by the registry
        status, _, body = desk.request("POST", "/api/push", {"ref": ref}, headers=origin)
        assert status == 200 and b'"error"' not in body and b"digest: sha256:" in body, body
        assert daemon.cli("rmi", ref).returncode == 0
        status, _, body = desk.request("POST", "/api/pull", {"ref": ref}, headers=origin)
        assert status == 200 and b"Status: Downloaded newer image" in body, body
    finally:
        stop_desktop(desk)
        daemon.cli("rmi", ref)
