"""Finding legacy plugins where Docker looks, and activating them.

A plugin named ``NAME`` is, in this order: a UNIX socket ``NAME.sock`` or ``NAME/NAME.sock`` in a
socket directory (``/run/docker/plugins``), or a ``NAME.spec`` (one line: ``unix:///path`` or
``tcp://host:port``) or ``NAME.json`` (``{"Name", "Addr"}``) file in a spec directory
(``/etc/docker/plugins``, ``/usr/lib/docker/plugins``). Activation is ``Plugin.Activate``, whose
``Implements`` lists the protocols the plugin serves; it is done once per plugin and remembered
(a plugin that failed to activate is asked again next time).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.plugins.client import REQUEST_TIMEOUT, RETRY_WINDOW, PluginClient

SOCKET_DIRS = ("/run/docker/plugins",)
SPEC_DIRS = ("/etc/docker/plugins", "/usr/lib/docker/plugins")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class Plugin:
    name: str
    addr: str
    client: PluginClient
    implements: list[str] = field(default_factory=list)
    root: str = ""  # a managed plugin's rootfs on the host: the paths it answers are under it

    def call(self, method: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.client.call(method, args)


def _spec_addr(path: Path) -> str:
    if path.suffix == ".json":
        try:
            addr = json.loads(path.read_text()).get("Addr") or ""
        except (ValueError, AttributeError):
            raise errors.InvalidArgument(f"plugin spec {path}: not a JSON object with an Addr") from None
    else:
        addr = path.read_text().strip()
    if not addr.startswith(("unix://", "tcp://")):
        raise errors.InvalidArgument(f"plugin spec {path}: address must be unix:// or tcp://, not {addr!r}")
    return str(addr)


class PluginRegistry:
    def __init__(self, socket_dirs: list[str] | tuple[str, ...] = SOCKET_DIRS,
                 spec_dirs: list[str] | tuple[str, ...] = SPEC_DIRS, retry_window: float = RETRY_WINDOW,
                 request_timeout: float = REQUEST_TIMEOUT) -> None:
        self.socket_dirs = [Path(d) for d in socket_dirs]
        self.spec_dirs = [Path(d) for d in spec_dirs]
        self.retry_window = retry_window
        self.request_timeout = request_timeout
        self._active: dict[str, Plugin] = {}
        # an enabled managed plugin's socket and rootfs on the host, by name; ("", "") if none
        self.managed: Callable[[str], tuple[str, str]] = lambda name: ("", "")
        self._lock = threading.Lock()

    def locate(self, name: str) -> str:
        """The plugin's address, or NotFound as Docker words it. Managed plugins first."""
        addr, _ = self.managed(name)
        if addr:
            return addr
        if NAME.match(name):
            for d in self.socket_dirs:
                for sock in (d / f"{name}.sock", d / name / f"{name}.sock"):
                    if sock.is_socket():
                        return f"unix://{sock}"
            for d in self.spec_dirs:
                for ext in (".spec", ".json"):
                    if (d / f"{name}{ext}").is_file():
                        return _spec_addr(d / f"{name}{ext}")
        raise errors.NotFound(f'plugin "{name}" not found')

    def get(self, name: str, implements: str) -> Plugin:
        """The activated plugin ``name``, which must implement ``implements`` (``VolumeDriver``, ``authz``;
        "" asks for none)."""
        with self._lock:
            plugin = self._active.get(name)
        if plugin is None:
            addr = self.locate(name)
            client = PluginClient(name, addr, self.retry_window, self.request_timeout)
            answer = client.call("Plugin.Activate")
            impl = answer.get("Implements")
            if not isinstance(impl, list) or not all(isinstance(i, str) for i in impl):
                raise errors.Internal(f"plugin {name}: Plugin.Activate: malformed answer (no Implements list)")
            plugin = Plugin(name, addr, client, impl, self.managed(name)[1])
            with self._lock:
                self._active[name] = plugin
        if implements and implements not in plugin.implements:
            raise errors.InvalidArgument(f"plugin {name} does not implement {implements} "
                                         f"(it implements {', '.join(plugin.implements) or 'nothing'})")
        return plugin

    def forget(self, name: str) -> None:
        """Drop a plugin that stopped answering: the next use locates and activates it again."""
        with self._lock:
            self._active.pop(name, None)

    def forget_address(self, addr: str) -> None:
        """Drop every name the plugin at ``addr`` was found by (a managed plugin disabled or re-enabled)."""
        with self._lock:
            for name in [n for n, p in self._active.items() if p.addr == addr]:
                del self._active[name]

    def active(self) -> list[Plugin]:
        with self._lock:
            return list(self._active.values())
