"""``dockyard kube``: a running compose project generated as Kubernetes YAML, that YAML accepted by
Debian's kubectl (client-side dry run), then played on the engine after ``compose down``: the same
services answer on the same host ports, with their config, secret, environment and named volume,
and find each other by their Service names. ``kube down`` removes the pods.

Everything runs on a private daemon; the project and the play network each get a free subnet."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.conftest import BIN, REPO, Daemon, free_subnet
from tests.integration.kube.conftest import _get, _ok, free_port

pytestmark = pytest.mark.root

PROJECT = """
services:
  web:
    image: busybox
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["127.0.0.1:${WEB_PORT}:80"]
    configs:
      - source: page
        target: /www/index.html
    volumes: ["data:/data"]
  echo:
    image: busybox
    command: ["sh", "-c", "mkdir -p /srv && echo \\"$$WORD $$(cat /run/secrets/token)\\" > /srv/index.html && exec httpd -f -p 81 -h /srv"]
    ports: ["127.0.0.1:${ECHO_PORT}:81"]
    environment:
      WORD: bonjour
    secrets: [token]
configs:
  page:
    content: "hello from web"
secrets:
  token:
    file: ./token.txt
networks:
  default:
    ipam:
      config: [{subnet: "${SUBNET}"}]
volumes:
  data: {}
"""


def kubectl() -> str | None:
    """Debian's kubectl (kubernetes-client): unpacked by `make deps`, else installed."""
    unpacked = REPO / ".venv" / "libexec" / "kubernetes-client" / "usr" / "bin" / "kubectl"
    if unpacked.exists():
        return str(unpacked)
    found = shutil.which("kubectl")
    return found if found and "google-cloud-sdk" not in os.path.realpath(found) else None


def _resources(group_version: str, kinds: dict[str, str]) -> dict[str, object]:
    return {"kind": "APIResourceList", "groupVersion": group_version,
            "resources": [{"name": plural, "singularName": kind.lower(), "namespaced": True, "kind": kind,
                           "verbs": ["create", "get", "list", "delete"]} for plural, kind in kinds.items()]}


# What kubectl asks an API server before a client-side dry run: which kinds exist (discovery).
DISCOVERY = {
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]},
    "/api/v1": _resources("v1", {"pods": "Pod", "services": "Service", "configmaps": "ConfigMap",
                                 "secrets": "Secret", "persistentvolumeclaims": "PersistentVolumeClaim"}),
    "/apis/apps/v1": _resources("apps/v1", {"deployments": "Deployment"}),
}


class _Discovery(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = DISCOVERY.get(self.path.split("?")[0])
        data = json.dumps(body).encode() if body else b"{}"
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def kubectl_accepts(tool: str, path: Path, base: Path) -> str:
    """``kubectl create --dry-run=client --validate=false -o yaml -f path`` against a discovery-only
    API server (nothing is created: a client dry run sends no object)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discovery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        r = subprocess.run([tool, "--server", f"http://127.0.0.1:{server.server_address[1]}",
                            "--cache-dir", str(base / "kube-cache"), "create", "--dry-run=client",
                            "--validate=false", "-o", "yaml", "-f", str(path)],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "KUBECONFIG": str(base / "no-kubeconfig")})
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_generate_play_down(kdaemon: Daemon, tmp_path: Path) -> None:
    name = f"k{uuid.uuid4().hex[:8]}"
    web, echo = free_port(), free_port()
    env = {**os.environ, "DOCKER_HOST": kdaemon.host, "SUBNET": free_subnet("10.216"),
           "WEB_PORT": str(web), "ECHO_PORT": str(echo)}
    env.pop("DOCKYARD_HOST", None)
    (tmp_path / "compose.yaml").write_text(PROJECT)
    (tmp_path / "token.txt").write_text("s3cret\n")
    net = f"{name}-net"

    def dy(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "dockyard"), *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    try:
        _ok(dy("compose", "-p", name, "up", "-d"))
        before = {web: _get(web), echo: _get(echo)}
        assert before == {web: "hello from web", echo: "bonjour s3cret\n"}

        _ok(dy("kube", "generate", "--project", name, "-f", "kube.yaml"))
        objects = list(yaml.safe_load_all((tmp_path / "kube.yaml").read_text()))
        kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)
        assert kinds == sorted(["Deployment/echo", "Service/echo", "Deployment/web", "Service/web",
                                "PersistentVolumeClaim/" + f"{name}-data", "ConfigMap/" + f"{name}-page",
                                "Secret/" + f"{name}-token"])
        tool = kubectl()
        if tool:
            accepted = kubectl_accepts(tool, tmp_path / "kube.yaml", tmp_path)
            assert accepted.count("kind: Deployment") == 2 and "kind: PersistentVolumeClaim" in accepted

        dy("exec", f"{name}-web-1", "sh", "-c", "echo kept > /data/mark")
        _ok(dy("compose", "-p", name, "down"))
        _ok(dy("network", "create", "--subnet", free_subnet("10.216"), net))
        out = _ok(dy("kube", "play", "--network", net, "kube.yaml"))
        assert "web-pod" in out and "echo-pod" in out
        assert {web: _get(web), echo: _get(echo)} == before
        r = dy("exec", "web-pod-web", "wget", "-qO-", "http://echo:81/")
        assert r.stdout == "bonjour s3cret\n", r.stderr
        assert _ok(dy("exec", "web-pod-web", "cat", "/data/mark")) == "kept\n"  # the compose volume, mounted again

        assert "web-pod" in _ok(dy("kube", "down", "kube.yaml"))
        assert _ok(dy("ps", "-aq", "--filter", "label=io.dockyard.kube.pod")).strip() == ""
    finally:
        dy("kube", "down", "kube.yaml")
        dy("compose", "-p", name, "down", "-v")
        dy("network", "rm", net)
        dy("volume", "rm", f"{name}_data")


def test_generate_containers_as_one_pod(kdaemon: Daemon, tmp_path: Path) -> None:
    """``kube generate CONTAINER CONTAINER`` → one Pod of both; played, they share the pod's
    network (one answers the other on localhost) and the published port answers again."""
    name = f"k{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {**os.environ, "DOCKER_HOST": kdaemon.host}
    env.pop("DOCKYARD_HOST", None)
    net = f"{name}-net"

    def dy(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "dockyard"), *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    try:
        _ok(dy("network", "create", "--subnet", free_subnet("10.216"), net))
        _ok(dy("run", "-d", "--name", f"{name}-web", "--network", net, "-p", f"127.0.0.1:{port}:80", "-e", "WHO=web",
               "busybox", "sh", "-c", "echo $WHO > /index.html && exec httpd -f -p 80 -h /"))
        _ok(dy("run", "-d", "--name", f"{name}-side", "--network", net, "busybox", "sleep", "1000"))
        assert _get(port) == "web\n"
        _ok(dy("kube", "generate", "--name", name, "-f", "pod.yaml", f"{name}-web", f"{name}-side"))
        [pod] = [o for o in yaml.safe_load_all((tmp_path / "pod.yaml").read_text()) if o["kind"] == "Pod"]
        assert [c["name"] for c in pod["spec"]["containers"]] == [f"{name}-web", f"{name}-side"]
        _ok(dy("rm", "-f", f"{name}-web", f"{name}-side"))

        _ok(dy("kube", "play", "--network", net, "pod.yaml"))
        assert _get(port) == "web\n"
        r = dy("exec", f"{name}-{name}-side", "wget", "-qO-", "http://127.0.0.1:80/index.html")
        assert r.stdout == "web\n", r.stderr  # the side container is in the web one's network namespace
        ipc = {_ok(dy("exec", f"{name}-{c}", "readlink", "/proc/self/ns/ipc")) for c in (f"{name}-web", f"{name}-side")}
        assert len(ipc) == 1  # and in its IPC namespace
        again = dy("kube", "play", "--network", net, "pod.yaml")
        assert again.returncode == 1 and "exists already" in again.stderr
    finally:
        dy("kube", "down", "pod.yaml")
        dy("rm", "-f", f"{name}-web", f"{name}-side")
        dy("network", "rm", net)
