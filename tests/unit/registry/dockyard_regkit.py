"""Test kit for the registry: run ``dockyard registry serve`` as a child process, talk HTTP to it.

Shared by tests/unit/registry, tests/integration/registry and
tests/conformance/test_registry_*.py (they put this directory on sys.path).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Resp:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def codes(self) -> list[str]:
        return [e["code"] for e in self.json()["errors"]]


@dataclass
class Server:
    root: Path
    args: list[str] = field(default_factory=list)
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Server:
        self.port = self.port or free_port()
        cmd = [str(BIN / "dockyard"), "registry", "serve", "--addr", self.addr, "--root", str(self.root), *self.args]
        self.log = open(self.root.parent / f"registry-{self.port}.log", "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"registry exited {self.proc.returncode}: {self.logs()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("registry did not start: " + self.logs())

    def logs(self) -> str:
        return (self.root.parent / f"registry-{self.port}.log").read_text(errors="replace")[-3000:]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def req(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
            auth: str | None = None) -> Resp:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            h = dict(headers or {})
            if auth:
                h["Authorization"] = auth
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return Resp(r.status, r.headers, r.read())
        finally:
            conn.close()

    # -- push helpers --------------------------------------------------------------
    def push_blob(self, repo: str, data: bytes, auth: str | None = None) -> str:
        d = sha(data)
        r = self.req("POST", f"/v2/{repo}/blobs/uploads/?digest={d}", data,
                     {"Content-Type": "application/octet-stream"}, auth)
        assert r.status == 201, (r.status, r.body)
        return d

    def push_manifest(self, repo: str, ref: str, manifest: dict[str, Any], auth: str | None = None) -> Resp:
        body = json.dumps(manifest).encode()
        return self.req("PUT", f"/v2/{repo}/manifests/{ref}", body, {"Content-Type": manifest["mediaType"]}, auth)

    def push_image(self, repo: str, tag: str, layers: list[bytes], config: bytes = b"{}",
                   auth: str | None = None, subject: dict | None = None, artifact_type: str | None = None,
                   config_type: str = "application/vnd.oci.image.config.v1+json") -> tuple[str, dict]:
        cd = self.push_blob(repo, config, auth)
        descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": self.push_blob(repo, lyr, auth),
                  "size": len(lyr)} for lyr in layers]
        m: dict[str, Any] = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "config": {"mediaType": config_type, "digest": cd, "size": len(config)},
                             "layers": descs}
        if subject:
            m["subject"] = subject
        if artifact_type:
            m["artifactType"] = artifact_type
        r = self.push_manifest(repo, tag, m, auth)
        assert r.status == 201, (r.status, r.body)
        return r.headers["Docker-Content-Digest"], m
