"""Volumes of legacy volume plugins (``VolumeDriver.*``), and the engine's record of them.

The plugin owns the data; the engine remembers which driver holds which name (as dockerd's volume
store does), in ``<data-root>/volumes/_plugins.json``: name → driver, labels, options, creation
time, scope. Every answer of the plugin is checked before it is used (a ``Mountpoint`` must be an
absolute path); a plugin's ``Err`` reaches the user with the plugin's name.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.plugins.discovery import Plugin, PluginRegistry

log = logging.getLogger("dockyard.volumes.plugin")
IMPLEMENTS = "VolumeDriver"


def _mountpoint(plugin: Plugin, method: str, answer: dict[str, Any]) -> str:
    mp = answer.get("Mountpoint")
    if not isinstance(mp, str) or not os.path.isabs(mp):
        raise errors.Internal(f"plugin {plugin.name}: {method}: malformed answer (Mountpoint {mp!r} is not an "
                              "absolute path)")
    if plugin.root:  # a managed plugin answers paths in its own root, as dockerd joins them
        host = os.path.join(plugin.root, mp.lstrip("/"))
        root = os.path.realpath(plugin.root)
        if os.path.commonpath([root, os.path.realpath(host)]) != root:  # "..", or a symlink out of it
            raise errors.Internal(f"plugin {plugin.name}: {method}: Mountpoint {mp!r} leaves the plugin's root")
        return host
    return mp


class PluginVolumes:
    def __init__(self, path: Path, registry: PluginRegistry) -> None:
        self.file = path  # the records (not ``path``: that is VolumeDriver.Path, below)
        self.registry = registry
        self._lock = threading.Lock()

    # -- the record ----------------------------------------------------------------

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self.file.read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return {}

    def _save(self, records: dict[str, dict[str, Any]]) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(records))
        os.chmod(tmp, 0o600)
        tmp.rename(self.file)

    def record(self, name: str) -> dict[str, Any]:
        """What the engine keeps of plugin volume ``name``; {} if no plugin holds it."""
        with self._lock:
            return dict(self._load().get(name, {}))

    def driver_of(self, name: str) -> str:
        """The plugin holding volume ``name``; "" if none does."""
        return str(self.record(name).get("Driver", ""))

    def _plugin(self, driver: str) -> Plugin:
        try:
            return self.registry.get(driver, IMPLEMENTS)
        except errors.NotFound:
            raise errors.NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found') from None

    # -- the volume API ------------------------------------------------------------

    def create(self, name: str, driver: str, labels: dict[str, str], opts: dict[str, str]) -> dict[str, Any]:
        name = name or secrets.token_hex(32)
        existing = self.driver_of(name)
        if existing and existing != driver:
            raise errors.Conflict(f"create {name}: volume already exists with driver {existing}")
        if existing:
            return self.get(name)
        plugin = self._plugin(driver)
        plugin.call("VolumeDriver.Create", {"Name": name, "Opts": opts or {}})
        scope = self._scope(plugin)
        rec = {"Driver": driver, "Labels": labels or {}, "Options": opts or {}, "Scope": scope,
               "CreatedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        with self._lock:
            records = self._load()
            records[name] = rec
            self._save(records)
        return self.get(name)

    def _scope(self, plugin: Plugin) -> str:
        """``VolumeDriver.Capabilities`` (optional in the protocol: a plugin without it is ``local``)."""
        try:
            caps = plugin.call("VolumeDriver.Capabilities").get("Capabilities") or {}
        except errors.Internal:
            return "local"
        return "global" if isinstance(caps, dict) and caps.get("Scope") == "global" else "local"

    def _view(self, name: str, rec: dict[str, Any], vol: dict[str, Any]) -> dict[str, Any]:
        out = {"CreatedAt": vol.get("CreatedAt") or rec["CreatedAt"], "Driver": rec["Driver"],
               "Labels": rec["Labels"], "Mountpoint": vol.get("Mountpoint") or "", "Name": name,
               "Options": rec["Options"], "Scope": rec["Scope"]}
        if isinstance(vol.get("Status"), dict):
            out["Status"] = vol["Status"]
        return out

    def get(self, name: str) -> dict[str, Any]:
        with self._lock:
            rec = self._load().get(name)
        if rec is None:
            raise errors.NotFound(f"get {name}: no such volume")
        vol = self._plugin(rec["Driver"]).call("VolumeDriver.Get", {"Name": name}).get("Volume")
        if not isinstance(vol, dict):
            raise errors.Internal(f"plugin {rec['Driver']}: VolumeDriver.Get: malformed answer (no Volume object)")
        return self._view(name, rec, vol)

    def list(self) -> list[dict[str, Any]]:
        """The recorded volumes, with what each driver's ``VolumeDriver.List`` says of them. A driver
        that fails is left out of the list and logged (dockerd lists the others with a warning)."""
        with self._lock:
            records = self._load()
        out = []
        for driver in sorted({r["Driver"] for r in records.values()}):
            try:
                listed = self._plugin(driver).call("VolumeDriver.List").get("Volumes") or []
                if not isinstance(listed, list):
                    raise errors.Internal(f"plugin {driver}: VolumeDriver.List: malformed answer (Volumes is "
                                          "not a list)")
            except errors.DockyardError as err:
                log.warning("volume plugin %s left out of the list: %s", driver, err)
                continue
            seen = {v["Name"]: v for v in listed if isinstance(v, dict) and isinstance(v.get("Name"), str)}
            out += [self._view(n, r, seen.get(n, {})) for n, r in sorted(records.items()) if r["Driver"] == driver]
        return out

    def remove(self, name: str) -> None:
        driver = self.driver_of(name)
        if not driver:
            raise errors.NotFound(f"get {name}: no such volume")
        self._plugin(driver).call("VolumeDriver.Remove", {"Name": name})
        with self._lock:
            records = self._load()
            records.pop(name, None)
            self._save(records)

    # -- containers ----------------------------------------------------------------

    def mount(self, name: str, container_id: str) -> str:
        plugin = self._plugin(self.driver_of(name))
        return _mountpoint(plugin, "VolumeDriver.Mount",
                           plugin.call("VolumeDriver.Mount", {"Name": name, "ID": container_id}))

    def unmount(self, name: str, container_id: str) -> None:
        self._plugin(self.driver_of(name)).call("VolumeDriver.Unmount", {"Name": name, "ID": container_id})

    def path(self, name: str) -> str:
        plugin = self._plugin(self.driver_of(name))
        return _mountpoint(plugin, "VolumeDriver.Path", plugin.call("VolumeDriver.Path", {"Name": name}))
