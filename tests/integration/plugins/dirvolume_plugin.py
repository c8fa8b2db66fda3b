"""A managed volume plugin's entrypoint (run by /usr/bin/python3 inside the plugin's container, stdlib
only): Docker's VolumeDriver protocol on /run/docker/plugins/dirvol.sock, volumes as directories of
/volumes in the plugin's root. The Mountpoints it answers are paths in its own root."""

import json
import os
import shutil
import socketserver
from http.server import BaseHTTPRequestHandler

ROOT = "/volumes"
PREFIX = os.environ.get("VOLUME_PREFIX", "")


def answer(method, a):
    path = os.path.join(ROOT, PREFIX + a.get("Name", ""))
    if method == "Plugin.Activate":
        return {"Implements": ["VolumeDriver"]}
    if method == "VolumeDriver.Create":
        os.makedirs(path, exist_ok=True)
        return {"Err": ""}
    if method == "VolumeDriver.Remove":
        shutil.rmtree(path, ignore_errors=True)
        return {"Err": ""}
    if method in ("VolumeDriver.Mount", "VolumeDriver.Path"):
        return {"Mountpoint": path, "Err": ""}
    if method == "VolumeDriver.Unmount":
        return {"Err": ""}
    if method == "VolumeDriver.Get":
        return {"Volume": {"Name": a["Name"], "Mountpoint": path}, "Err": ""} if os.path.isdir(path) else \
            {"Err": "no such volume"}
    if method == "VolumeDriver.List":
        return {"Volumes": [{"Name": n} for n in os.listdir(ROOT)], "Err": ""}
    if method == "VolumeDriver.Capabilities":
        return {"Capabilities": {"Scope": "local"}}
    return {"Err": f"unknown {method}"}


class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = json.dumps(answer(self.path.lstrip("/"), json.loads(body or b"{}"))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        return


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if __name__ == "__main__":
    os.makedirs(ROOT, exist_ok=True)
    Server("/run/docker/plugins/dirvol.sock", H).serve_forever()
