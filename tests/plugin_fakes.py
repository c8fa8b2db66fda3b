"""Legacy plugins written from Docker's protocol documentation, for the tests: an HTTP server on a
UNIX socket in a thread, one handler per ``Service.Method``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socketserver
import tempfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.conftest import Daemon

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


def _ip(*args: str) -> None:
    import subprocess

    subprocess.run(["ip", *args], check=True, capture_output=True)


class NetworkPluginLinks:
    """The host links a fake network driver made, deleted by ``cleanup`` whatever the daemon did."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def add(self, *args: str, name: str) -> None:
        _ip("link", "add", name, *args)
        self.made.append(name)

    def cleanup(self) -> None:
        import subprocess

        for name in reversed(self.made):
            subprocess.run(["ip", "link", "del", name], capture_output=True)
        self.made.clear()


def bridge_network_driver(sock: Path, links: NetworkPluginLinks, routes: list[dict[str, Any]] | None = None,
                          overrides: dict[str, Handler] | None = None) -> FakePlugin:
    """A remote network driver (libnetwork's docs/remote.md): a bridge per network holding the gateway
    address, a veth pair per endpoint (the container end is the Join's SrcName); it picks a MAC address
    when none is sent, and answers the gateway and ``routes`` at Join."""
    gateways: dict[str, str] = {}

    def create_network(a: dict[str, Any]) -> dict[str, Any]:
        br = "tpbr" + a["NetworkID"][:8]
        links.add("type", "bridge", name=br)
        gw = a["IPv4Data"][0]["Gateway"]
        _ip("addr", "add", gw, "dev", br)
        _ip("link", "set", br, "up")
        gateways[a["NetworkID"]] = gw.split("/")[0]
        return {}

    def create_endpoint(a: dict[str, Any]) -> dict[str, Any]:
        eid = a["EndpointID"]
        links.add("type", "veth", "peer", "name", "tpc" + eid[:8], name="tph" + eid[:8])
        _ip("link", "set", "tph" + eid[:8], "master", "tpbr" + a["NetworkID"][:8], "up")
        if a["Interface"].get("MacAddress"):
            return {}
        return {"Interface": {"MacAddress": "0e:" + ":".join(eid[i:i + 2] for i in range(0, 10, 2))}}

    def join(a: dict[str, Any]) -> dict[str, Any]:
        gw = gateways[a["NetworkID"]]
        return {"InterfaceName": {"SrcName": "tpc" + a["EndpointID"][:8], "DstPrefix": "eth"}, "Gateway": gw,
                "StaticRoutes": [{**r, "NextHop": gw} if r.get("RouteType", 0) == 0 else r for r in routes or []]}

    def delete_endpoint(a: dict[str, Any]) -> dict[str, Any]:
        import subprocess

        subprocess.run(["ip", "link", "del", "tph" + a["EndpointID"][:8]], capture_output=True)
        return {}

    def delete_network(a: dict[str, Any]) -> dict[str, Any]:
        import subprocess

        subprocess.run(["ip", "link", "del", "tpbr" + a["NetworkID"][:8]], capture_output=True)
        return {}

    return FakePlugin(sock, ["NetworkDriver"], {
        "NetworkDriver.GetCapabilities": lambda a: {"Scope": "local", "ConnectivityScope": "local"},
        "NetworkDriver.CreateNetwork": create_network, "NetworkDriver.DeleteNetwork": delete_network,
        "NetworkDriver.CreateEndpoint": create_endpoint, "NetworkDriver.DeleteEndpoint": delete_endpoint,
        "NetworkDriver.EndpointOperInfo": lambda a: {"Value": {}}, "NetworkDriver.Join": join,
        "NetworkDriver.Leave": lambda a: {}, "NetworkDriver.ProgramExternalConnectivity": lambda a: {},
        "NetworkDriver.RevokeExternalConnectivity": lambda a: {}, **(overrides or {})})


def pool_ipam_driver(sock: Path, default_pool: str, first_host: int = 100,
                     overrides: dict[str, Handler] | None = None) -> FakePlugin:
    """A remote IPAM driver (libnetwork's docs/ipam.md): the pool asked for, else ``default_pool``; the
    gateway is the first address, endpoints get addresses from ``first_host`` on."""
    import ipaddress

    used: dict[str, set[str]] = {}

    def request_pool(a: dict[str, Any]) -> dict[str, Any]:
        pool = a["Pool"] or default_pool
        used.setdefault("pool/" + pool, set())
        return {"PoolID": "pool/" + pool, "Pool": pool, "Data": {}}

    def request_address(a: dict[str, Any]) -> dict[str, Any]:
        net = ipaddress.ip_network(a["PoolID"].removeprefix("pool/"))
        taken = used[a["PoolID"]]
        if a["Address"]:
            addr = a["Address"]
        elif (a.get("Options") or {}).get("RequestAddressType") == "com.docker.network.gateway":
            addr = str(net.network_address + 1)
        else:
            addr = next(str(net.network_address + i) for i in range(first_host, net.num_addresses)
                        if str(net.network_address + i) not in taken)
        if addr in taken:
            return {"Err": f"address {addr} is in use"}
        taken.add(addr)
        return {"Address": f"{addr}/{net.prefixlen}", "Data": {}}

    def release_address(a: dict[str, Any]) -> dict[str, Any]:
        used.get(a["PoolID"], set()).discard(a["Address"])
        return {}

    return FakePlugin(sock, ["IpamDriver"], {
        "IpamDriver.GetCapabilities": lambda a: {"RequiresMACAddress": False},
        "IpamDriver.GetDefaultAddressSpaces": lambda a: {"LocalDefaultAddressSpace": "fake-local",
                                                         "GlobalDefaultAddressSpace": "fake-global"},
        "IpamDriver.RequestPool": request_pool, "IpamDriver.ReleasePool": lambda a: {},
        "IpamDriver.RequestAddress": request_address, "IpamDriver.ReleaseAddress": release_address,
        **(overrides or {})})


@contextlib.contextmanager
def plugin_daemon(busybox_tar: Path, prefix: str) -> Iterator[tuple[Daemon, Path]]:
    """A daemon (no default bridge, busybox imported) that finds legacy plugins' sockets in a temporary
    directory, yielded with it; 3 s plugin timeout. Stopped and the directory removed afterwards."""
    from tests.conftest import started_daemon

    plugins = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        with started_daemon(busybox_tar, extra_args=("--plugin-dir", str(plugins), "--plugin-timeout", "3")) as d:
            yield d, plugins
    finally:
        for sock in plugins.glob("*.sock"):
            sock.unlink()
        plugins.rmdir()
