"""Legacy plugins written from Docker's protocol documentation, for the tests: an HTTP server on a
UNIX socket in a thread, one handler per ``Service.Method``."""

from __future__ import annotations

import json
import os
import shutil
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any]], Any]


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class FakePlugin:
    """Serves ``methods`` (name → handler of the decoded body, returning the JSON answer) on ``sock``;
    every call is recorded in ``calls`` as (method, body)."""

    def __init__(self, sock: Path, implements: list[str], methods: dict[str, Handler]) -> None:
        self.sock = sock
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.methods = {"Plugin.Activate": lambda _: {"Implements": implements}, **methods}
        plugin = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                method = self.path.lstrip("/")
                args = json.loads(body) if body.strip() else {}
                plugin.calls.append((method, args))
                fn = plugin.methods.get(method)
                if fn is None:
                    self._send(404, {"Err": f"unknown method {method}"})
                    return
                self._send(200, fn(args))

            def _send(self, status: int, answer: Any) -> None:
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.docker.plugins.v1.2+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.handler = H
        self.server: _Server | None = None

    def start(self) -> None:
        self.sock.parent.mkdir(parents=True, exist_ok=True)
        self.server = _Server(str(self.sock), self.handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """The plugin dies: its socket goes away with it."""
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.server = None
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass

    def __enter__(self) -> FakePlugin:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def methods_called(self) -> list[str]:
        return [m for m, _ in self.calls]


def directory_volume_driver(sock: Path, root: Path) -> FakePlugin:
    """A volume driver whose volumes are the directories of ``root``."""
    mounted: dict[str, set[str]] = {}

    def create(a: dict[str, Any]) -> dict[str, Any]:
        (root / a["Name"]).mkdir(parents=True, exist_ok=True)
        return {"Err": ""}

    def remove(a: dict[str, Any]) -> dict[str, Any]:
        if mounted.get(a["Name"]):
            return {"Err": f"volume {a['Name']} is mounted"}
        shutil.rmtree(root / a["Name"], ignore_errors=True)
        return {"Err": ""}

    def mount(a: dict[str, Any]) -> dict[str, Any]:
        mounted.setdefault(a["Name"], set()).add(a["ID"])
        return {"Mountpoint": str(root / a["Name"]), "Err": ""}

    def unmount(a: dict[str, Any]) -> dict[str, Any]:
        mounted.get(a["Name"], set()).discard(a["ID"])
        return {"Err": ""}

    def get(a: dict[str, Any]) -> dict[str, Any]:
        if not (root / a["Name"]).is_dir():
            return {"Err": f"no such volume {a['Name']}"}
        return {"Volume": {"Name": a["Name"], "Mountpoint": str(root / a["Name"]), "Status": {"served": "yes"}},
                "Err": ""}

    return FakePlugin(sock, ["VolumeDriver"], {
        "VolumeDriver.Create": create, "VolumeDriver.Remove": remove, "VolumeDriver.Mount": mount,
        "VolumeDriver.Unmount": unmount, "VolumeDriver.Get": get,
        "VolumeDriver.Path": lambda a: {"Mountpoint": str(root / a["Name"]), "Err": ""},
        "VolumeDriver.List": lambda a: {"Volumes": [{"Name": d.name, "Mountpoint": str(d)} for d in root.iterdir()],
                                        "Err": ""},
        "VolumeDriver.Capabilities": lambda a: {"Capabilities": {"Scope": "local"}},
    })
