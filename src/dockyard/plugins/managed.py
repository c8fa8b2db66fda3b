"""Managed plugins (``/plugins``): a plugin is a ``config.json`` and a ``rootfs/``, kept under
``<data-root>/plugins/<id>/``; enabling it runs its entrypoint in a container of its own (containerd
namespace ``plugins``, the rootfs bound as its root) with the plugin's runtime directory
``<exec-root>/plugins/<id12>/`` mounted at ``/run/docker/plugins``, where it makes its socket.
The daemon then activates it (``Plugin.Activate``) and finds it by name, as a legacy plugin.

What Docker keeps of each: ``<data-root>/plugins/plugins.json`` (id → the API's Plugin object).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import secrets
import shutil
import stat
import tarfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.api import pb
from dockyard.oci import reference
from dockyard.oci.runtime_spec import default_spec
from dockyard.plugins import distribution, settings
from dockyard.plugins.discovery import PluginRegistry

log = logging.getLogger("dockyard.plugins")
NAMESPACE = "plugins"
PLUGIN_SOCKET_DIR = "/run/docker/plugins"
# config.json Interface.Types → what Plugin.Activate then lists in Implements
TYPES = {"docker.volumedriver/1.0": "VolumeDriver", "docker.authz/1.0": "authz",
         "docker.networkdriver/1.0": "NetworkDriver", "docker.ipamdriver/1.0": "IpamDriver",
         "docker.logdriver/1.0": "LogDriver", "docker.metricscollector/1.0": "MetricsCollector"}


def full_name(name: str) -> str:
    """A plugin's local name as dockerd keeps it: the familiar form with a tag (``sshfs`` → ``sshfs:latest``,
    ``docker.io/vieux/sshfs`` → ``vieux/sshfs:latest``); a digest is refused."""
    r = reference.parse(name)
    if r.digest:
        raise errors.InvalidArgument(f"cannot use digest in plugin tag: {name!r}")
    return r.familiar()


def remote_ref(remote: str) -> str:
    """The registry reference of a plugin image, normalised as dockerd's ParseNormalizedNamed (Docker Hub's
    ``docker.io`` when no registry host is named): ``vieux/sshfs`` → ``docker.io/vieux/sshfs:latest``."""
    r = reference.parse(remote)
    return f"{r.domain}/{r.path}@{r.digest}" if r.digest else str(r)


# config.json's field names: dockerd decodes them with Go's encoding/json, which matches keys case-insensitively
_FIELDS = {k.lower(): k for k in (
    "Args", "Description", "DockerVersion", "Documentation", "Entrypoint", "Env", "Interface", "IpcHost", "Linux",
    "Mounts", "Network", "PidHost", "PropagatedMount", "User", "WorkDir", "Name", "Settable", "Value", "Socket",
    "Types", "ProtocolScheme", "AllowAllDevices", "Capabilities", "Devices", "Path", "Destination", "Options",
    "Source", "Type", "GID", "UID")}


def _canonical(value: Any) -> Any:
    """Known keys spelled as dockerd's structs (``interface`` → ``Interface``); ``rootfs`` left as it is."""
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {(_FIELDS.get(k.lower(), k) if isinstance(k, str) else k): (v if k == "rootfs" else _canonical(v))
            for k, v in value.items()}


def _config(raw: bytes) -> dict[str, Any]:
    """A plugin's config.json, checked and with dockerd's defaults filled in."""
    try:
        cfg = _canonical(json.loads(raw))
    except ValueError as err:
        raise errors.InvalidArgument(f"plugin config.json: {err}") from None
    if not isinstance(cfg, dict):
        raise errors.InvalidArgument("plugin config.json: not a JSON object")
    iface = cfg.get("Interface")
    if not isinstance(iface, dict) or not iface.get("Socket") or not isinstance(iface.get("Types"), list):
        raise errors.InvalidArgument("plugin config.json: Interface needs Types and Socket")
    if "/" in iface["Socket"]:
        raise errors.InvalidArgument(f"plugin config.json: Interface.Socket {iface['Socket']!r} must be a file name")
    unknown = [t for t in iface["Types"] if t not in TYPES]
    if unknown:
        raise errors.InvalidArgument(f"plugin config.json: unknown interface types {unknown}")
    if not isinstance(cfg.get("Entrypoint"), list) or not cfg["Entrypoint"]:
        raise errors.InvalidArgument("plugin config.json: Entrypoint must be a non-empty list")
    defaults: dict[str, Any] = {
        "Description": "", "Documentation": "", "WorkDir": "", "User": {}, "Network": {"Type": ""},
        "Linux": {"Capabilities": None, "AllowAllDevices": False, "Devices": None}, "PropagatedMount": "",
        "IpcHost": False, "PidHost": False, "Mounts": None, "Env": None,
        "Args": {"Name": "", "Description": "", "Settable": None, "Value": None}, "DockerVersion": "",
    }
    return {**defaults, **cfg}


def _extract(tar_bytes: bytes, dest: Path) -> None:
    """The plugin's context: only members that stay inside ``dest`` (tarfile's ``tar`` filter)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tf:
            tf.extractall(dest, filter="tar")
    except (tarfile.TarError, OSError) as err:
        raise errors.InvalidArgument(f"plugin context: {err}") from None


Granted = list[dict[str, Any]] | None  # the privileges a request grants (None: not checked)


def _quiet(_msg: dict[str, Any]) -> None:
    return None


def _pulled(fetched: distribution.Fetched, progress: distribution.Progress) -> None:
    """The last messages of dockerd's plugin pull, once the plugin is kept (the layer messages came as
    they were fetched)."""
    progress({"status": f"Digest: {fetched.digest}"})
    progress({"status": f"Status: Downloaded newer image for {fetched.reference}"})


def _add_device(spec: dict[str, Any], path: str) -> None:
    """A host device node in the plugin's spec and its cgroup's allow list, as dockerd's plugin spec."""
    try:
        st = os.stat(path)
    except OSError as err:
        raise errors.InvalidArgument(f"plugin device {path!r}: {err.strerror}") from None
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise errors.InvalidArgument(f"plugin device {path!r}: not a device node")
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    linux = spec["linux"]
    linux.setdefault("devices", []).append({"path": path, "type": kind, "major": major, "minor": minor,
                                            "fileMode": stat.S_IMODE(st.st_mode), "uid": 0, "gid": 0})
    linux.setdefault("resources", {}).setdefault("devices", []).append(
        {"allow": True, "type": kind, "major": major, "minor": minor, "access": "rwm"})


class ManagedPlugins:
    def __init__(self, root: Path, run_root: Path, cgroup_parent: str, registry: PluginRegistry) -> None:
        self.root = root
        self.run_root = run_root
        self.cgroup_parent = cgroup_parent
        self.cd: Any = None  # a containerd client in NAMESPACE, set by the engine
        self.registry = registry
        registry.managed = self.locate
        self._lock = threading.Lock()

    # -- records -------------------------------------------------------------------

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            return json.loads((self.root / "plugins.json").read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return {}

    def _save(self, records: dict[str, dict[str, Any]]) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.root / "plugins.json.tmp"
        tmp.write_text(json.dumps(records))
        os.chmod(tmp, 0o600)
        tmp.rename(self.root / "plugins.json")

    def _put(self, p: dict[str, Any]) -> None:
        with self._lock:
            records = self._load()
            records[p["Id"]] = p
            self._save(records)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return sorted(self._load().values(), key=lambda p: str(p["Name"]))

    def get(self, ref: str) -> dict[str, Any]:
        """By name (with or without ``:latest``), by ID, or by a unique ID prefix."""
        plugins = self.list()
        try:
            tagged = full_name(ref)
        except errors.InvalidArgument:
            tagged = ref
        for p in plugins:
            if p["Name"] == tagged or p["Id"] == ref:
                return p
        hits = [p for p in plugins if len(ref) >= 1 and p["Id"].startswith(ref)]
        if len(hits) == 1:
            return hits[0]
        raise errors.NotFound(f'plugin "{ref}" not found')

    def locate(self, name: str) -> tuple[str, str]:
        """The socket of an enabled plugin named ``name`` and its rootfs on the host (the paths it answers
        are inside it); ("", "") if there is none."""
        try:
            p = self.get(name)
        except errors.NotFound:
            return "", ""
        if not p["Enabled"]:
            return "", ""
        return f"unix://{self._run_dir(p) / p['Config']['Interface']['Socket']}", str(self.root / p["Id"] / "rootfs")

    def _run_dir(self, p: dict[str, Any]) -> Path:
        return self.run_root / p["Id"][:12]

    # -- create, set, remove ----------------------------------------------------------

    def create(self, name: str, context: bytes) -> dict[str, Any]:
        name = full_name(name)
        if any(p["Name"] == name for p in self.list()):
            raise errors.AlreadyExists(f"plugin {name!r} already exists")
        pid = secrets.token_hex(32)
        dest = self.root / pid
        dest.mkdir(parents=True, mode=0o700)
        try:
            _extract(context, dest)
            if not (dest / "config.json").is_file():
                raise errors.InvalidArgument("plugin context: no config.json")
            if not (dest / "rootfs").is_dir():
                raise errors.InvalidArgument("plugin context: no rootfs directory")
            cfg = _config((dest / "config.json").read_bytes())
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        p = {"Id": pid, "Name": name, "Enabled": False, "Settings": settings.initial(cfg), "PluginReference": "",
             "Config": cfg}
        self._put(p)
        return p

    # -- plugins as registry images (distribution.py) ------------------------------------

    def pull(self, remote: str, name: str, granted: Granted, auth: distribution.Auth = None,
             progress: distribution.Progress = _quiet, insecure: Sequence[str] = ()) -> None:
        """``POST /plugins/pull``: the plugin image ``remote`` installed (disabled) as ``name``; ``granted``
        must be its privileges. Its progress told as it happens. Nothing is kept of a pull that fails."""
        ref, name = remote_ref(remote), full_name(name or remote.split("@", 1)[0])
        if any(p["Name"] == name for p in self.list()):
            raise errors.AlreadyExists(f"plugin {name!r} already exists")
        fetched = distribution.fetch(ref, auth, granted, progress, insecure)
        pid = secrets.token_hex(32)
        cfg = self._unpack(fetched, self.root / pid)
        p = {"Id": pid, "Name": name, "Enabled": False, "Settings": settings.initial(cfg), "PluginReference": ref,
             "Config": cfg}
        self._put(p)
        _pulled(fetched, progress)

    def upgrade(self, ref: str, remote: str, granted: Granted, auth: distribution.Auth = None,
                progress: distribution.Progress = _quiet, insecure: Sequence[str] = ()) -> None:
        """``POST /plugins/{name}/upgrade``: a disabled plugin's config and rootfs from ``remote``; the
        settings of Env entries it still has are kept."""
        p = self.get(ref)
        if p["Enabled"]:
            raise errors.FailedPrecondition(f"plugin {p['Name']} must be disabled before upgrading")
        fetched = distribution.fetch(remote_ref(remote), auth, granted, progress, insecure)
        new = self.root / f"{p['Id']}.upgrade"
        shutil.rmtree(new, ignore_errors=True)
        cfg = self._unpack(fetched, new)
        old = self.root / f"{p['Id']}.old"
        (self.root / p["Id"]).rename(old)
        new.rename(self.root / p["Id"])
        shutil.rmtree(old, ignore_errors=True)
        kept = dict(kv.split("=", 1) for kv in p["Settings"]["Env"])
        fresh = settings.initial(cfg)
        fresh["Env"] = [f"{k}={kept.get(k, v)}" for k, v in (kv.split("=", 1) for kv in fresh["Env"])]
        p.update(Config=cfg, Settings=fresh, PluginReference=fetched.reference)
        self._put(p)
        _pulled(fetched, progress)

    def _unpack(self, fetched: distribution.Fetched, dest: Path) -> dict[str, Any]:
        """config.json and rootfs/ in ``dest`` (made here, removed again on any failure); the checked config."""
        dest.mkdir(parents=True, mode=0o700)
        try:
            cfg = _config(json.dumps({k: v for k, v in fetched.config.items() if k != "rootfs"}).encode())
            distribution.unpack(fetched, dest / "rootfs")
            (dest / "config.json").write_text(json.dumps(cfg))
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        return cfg

    def push(self, ref: str, auth: distribution.Auth = None, progress: distribution.Progress = _quiet,
             insecure: Sequence[str] = ()) -> None:
        """``POST /plugins/{name}/push``: the plugin as an image named as the plugin."""
        p = self.get(ref)
        distribution.push(remote_ref(p["Name"]), self.root / p["Id"] / "rootfs", p["Config"], auth, progress,
                          insecure)

    def set(self, ref: str, args: Sequence[str]) -> None:
        """``docker plugin set``: settable Env values, mount sources, device paths and args (settings.py)."""
        p = self.get(ref)
        if p["Enabled"]:
            raise errors.FailedPrecondition("cannot set on an active plugin, disable plugin before setting")
        settings.apply(p, args)
        self._put(p)

    async def remove(self, ref: str, force: bool) -> None:
        p = self.get(ref)
        if p["Enabled"]:
            if not force:
                raise errors.FailedPrecondition(f"plugin {p['Name']} is enabled")
            await self.disable(ref, force=True)
        with self._lock:
            records = self._load()
            records.pop(p["Id"], None)
            self._save(records)
        await asyncio.to_thread(shutil.rmtree, self.root / p["Id"], True)

    # -- enable, disable ---------------------------------------------------------------

    def spec(self, p: dict[str, Any]) -> dict[str, Any]:
        cfg = p["Config"]
        spec = default_spec([*cfg["Entrypoint"], *p["Settings"]["Args"]])
        proc = spec["process"]
        proc["env"] = [*proc["env"], *p["Settings"]["Env"]]
        proc["cwd"] = cfg.get("WorkDir") or "/"
        caps = [c if c.startswith("CAP_") else f"CAP_{c.upper()}" for c in (cfg["Linux"].get("Capabilities") or [])]
        for kind in ("bounding", "effective", "permitted"):
            proc["capabilities"][kind] = sorted({*proc["capabilities"][kind], *caps})
        linux = spec["linux"]
        host_ns = {"network": (cfg.get("Network") or {}).get("Type") == "host", "pid": bool(cfg.get("PidHost")),
                   "ipc": bool(cfg.get("IpcHost"))}
        linux["namespaces"] = [ns for ns in linux["namespaces"] if not host_ns.get(ns["type"])]
        linux["cgroupsPath"] = f"/{self.cgroup_parent.strip('/')}/plugin-{p['Id']}"
        spec["mounts"].append({"destination": PLUGIN_SOCKET_DIR, "type": "bind", "source": str(self._run_dir(p)),
                               "options": ["rbind", "rw", "rprivate"]})
        for m in p["Settings"]["Mounts"] or cfg.get("Mounts") or []:
            spec["mounts"].append({"destination": m["Destination"], "type": m.get("Type") or "bind",
                                   "source": m.get("Source") or "", "options": list(m.get("Options") or [])})
        for dev in p["Settings"]["Devices"] or cfg["Linux"].get("Devices") or []:
            if dev.get("Path"):
                _add_device(spec, dev["Path"])
        if host_ns["network"]:
            spec["mounts"].append({"destination": "/etc/resolv.conf", "type": "bind", "source": "/etc/resolv.conf",
                                   "options": ["rbind", "ro", "rprivate"]})
        return spec

    async def enable(self, ref: str, timeout: float = 30.0) -> None:
        p = self.get(ref)
        if p["Enabled"]:
            raise errors.FailedPrecondition(f"plugin {p['Name']} is already enabled")
        run_dir = self._run_dir(p)
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        sock = run_dir / p["Config"]["Interface"]["Socket"]
        await self._stop(p["Id"])  # what an earlier run left in containerd
        sock.unlink(missing_ok=True)  # and its socket file: it would be taken for the new one (and block its bind)
        await self.cd.containers.Create(pb.Container(id=p["Id"], spec=json.dumps(self.spec(p)).encode(),
                                                     runtime="dockyard-runc", labels={"plugin": p["Name"]}))
        try:
            await self.cd.tasks.Create(pb.CreateTaskRequest(
                container_id=p["Id"], start=True,
                rootfs=[pb.Mount(type="bind", source=str(self.root / p["Id"] / "rootfs"), options=["rbind", "rw"])]))
            await self._wait_for_socket(p, sock, timeout)
            p["Enabled"] = True
            self._put(p)
            self.registry.forget_address(f"unix://{sock}")
            implements = TYPES[p["Config"]["Interface"]["Types"][0]] if p["Config"]["Interface"]["Types"] else ""
            await asyncio.to_thread(self.registry.get, p["Name"], implements)
        except BaseException:
            p["Enabled"] = False
            self._put(p)
            await self._stop(p["Id"])
            raise

    async def _wait_for_socket(self, p: dict[str, Any], sock: Path, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not sock.is_socket():
            state = await self.cd.tasks.State(pb.TaskRequest(container_id=p["Id"]))
            if state.status == "stopped":
                raise errors.Internal(f"plugin {p['Name']}: exited with status {state.exit_status} before "
                                      f"making its socket {p['Config']['Interface']['Socket']}")
            if loop.time() > deadline:
                raise errors.Unavailable(f"plugin {p['Name']}: no socket {sock.name} after {timeout:g}s")
            await asyncio.sleep(0.05)

    async def disable(self, ref: str, force: bool = False, grace: float = 10.0) -> None:
        p = self.get(ref)
        if not p["Enabled"]:
            raise errors.FailedPrecondition(f"plugin {p['Name']} is already disabled")
        p["Enabled"] = False
        self._put(p)
        self.registry.forget_address(f"unix://{self._run_dir(p) / p['Config']['Interface']['Socket']}")
        await self._stop(p["Id"], grace)
        await asyncio.to_thread(shutil.rmtree, self._run_dir(p), True)

    async def _stop(self, pid: str, grace: float = 10.0) -> None:
        """SIGTERM, SIGKILL after ``grace``, then the task and the container go; nothing there is fine."""
        try:
            await self.cd.tasks.Kill(pb.KillRequest(container_id=pid, signal=15, all=True))
            try:
                await asyncio.wait_for(self.cd.tasks.Wait(pb.TaskRequest(container_id=pid)), grace)
            except TimeoutError:
                await self.cd.tasks.Kill(pb.KillRequest(container_id=pid, signal=9, all=True))
                await self.cd.tasks.Wait(pb.TaskRequest(container_id=pid))
        except (errors.NotFound, errors.FailedPrecondition):
            pass  # no task, or not running
        for call in (lambda: self.cd.tasks.Delete(pb.TaskRequest(container_id=pid)),
                     lambda: self.cd.containers.Delete(pb.DeleteContainerRequest(id=pid))):
            try:
                await call()
            except errors.NotFound:
                pass

    async def restore(self) -> None:
        """At start: an enabled plugin whose task is no longer running is enabled again, as dockerd does."""
        for p in self.list():
            if not p["Enabled"]:
                continue
            try:
                state = await self.cd.tasks.State(pb.TaskRequest(container_id=p["Id"]))
                if state.status == "running":
                    continue
            except errors.NotFound:
                pass
            p["Enabled"] = False
            self._put(p)
            try:
                await self.enable(p["Id"])
            except errors.DockyardError as err:
                log.error("plugin %s: not enabled again: %s", p["Name"], err)
