"""VolumeService: Docker's mount syntaxes to OCI spec mounts, named/anonymous volumes, in-use checks.

At create the engine hands over the container (its typed ``Container``), its spec, the image
config and the container's snapshot key; this turns ``Binds``, ``Mounts``,
``Tmpfs``, ``VolumesFrom`` and the image's ``VOLUME``s into spec mounts and the
``Mounts`` list of ``docker inspect``, then fills new, empty volumes with the
image's content (``copyup``: containerd reads the snapshot). Parsing is pure
(unit-tested).
"""

from __future__ import annotations

import asyncio
import builtins  # VolumeService.list shadows the builtin in the class body
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.containerd.client import ContainerdClient
from dockyard.engine.container import Container
from dockyard.engine.records import Config, HostConfig
from dockyard.plugins.discovery import PluginRegistry
from dockyard.volumes import bindopts, copyup
from dockyard.volumes.local import ANONYMOUS_LABEL, LocalDriver
from dockyard.volumes.plugin import PluginVolumes

log = logging.getLogger("dockyard.volumes")
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
NAME_MAX = 255  # bytes of a file name: a volume is a directory named after it


@dataclass
class Plan:
    """One mount a container asks for, before volumes are resolved."""

    type: str                  # bind | volume | tmpfs
    destination: str
    source: str = ""           # host path (bind) or volume name ("" = anonymous)
    rw: bool = True
    propagation: str = ""
    nocopy: bool = False
    tmpfs_options: list[str] = field(default_factory=list)
    create_source: bool = True  # -v creates a missing host directory; --mount refuses
    labels: dict[str, str] = field(default_factory=dict)
    driver_opts: dict[str, str] = field(default_factory=dict)
    subpath: str = ""          # VolumeOptions.Subpath: mount this directory of the volume
    listed: bool = True        # in the container's Mounts (dockerd leaves HostConfig.Tmpfs out)
    recursive_ro: bool = False  # BindOptions.ReadOnlyForceRecursive: sub-mounts read-only too ("rro")
    non_recursive: bool = False  # BindOptions.NonRecursive: "bind", not "rbind"
    ro_non_recursive: bool = False  # BindOptions.ReadOnlyNonRecursive: "ro" without "rro"
    driver: str = ""           # a volume's driver: --mount's DriverConfig.Name, else HostConfig.VolumeDriver


def _check_dest(dest: str) -> str:
    if not dest.startswith("/"):
        raise errors.InvalidArgument(f"invalid mount config: mount path must be absolute: {dest}")
    if dest.rstrip("/") == "":
        raise errors.InvalidArgument("invalid specification: destination can't be '/'")
    return os.path.normpath(dest)


def parse_bind(spec: str) -> Plan:
    """``src:dst[:opts]`` or ``dst`` (anonymous), as ``-v`` and HostConfig.Binds write them."""
    parts = spec.split(":")
    if len(parts) == 1:
        return Plan("volume", _check_dest(parts[0]))
    if len(parts) > 3:
        raise errors.InvalidArgument(f"invalid volume specification: '{spec}'")
    src, dest = parts[0], parts[1]
    mode = parts[2].split(",") if len(parts) == 3 else []
    plan = Plan("bind" if src.startswith("/") else "volume", _check_dest(dest), src)
    for m in mode:
        if m in ("ro", "rw"):
            plan.rw = m == "rw"
        elif m in PROPAGATIONS:
            plan.propagation = m
        elif m == "nocopy":
            plan.nocopy = True
        elif m in ("z", "Z", ""):
            continue
        else:
            raise errors.InvalidArgument(f"invalid mode: {m}")
    if not src:
        raise errors.InvalidArgument(f"invalid volume specification: '{spec}'")
    return plan


def _octal_mode(mode: Any) -> str:
    return f"{int(mode):o}" if isinstance(mode, int) else str(mode)


def parse_mount(m: dict[str, Any]) -> Plan:
    """One HostConfig.Mounts entry (``--mount``)."""
    kind = (m.get("Type") or "").lower()
    dest = _check_dest(m.get("Target") or m.get("Destination") or "")
    ro = bool(m.get("ReadOnly"))
    if kind == "bind":
        src = m.get("Source") or ""
        if not src.startswith("/"):
            raise errors.InvalidArgument(f"invalid mount config for type \"bind\": invalid mount path: '{src}' "
                                         "mount path must be absolute")
        opts = m.get("BindOptions") or {}
        force = bool(opts.get("ReadOnlyForceRecursive"))
        if force and not ro:
            raise errors.InvalidArgument("invalid mount config: must set ReadOnly when ReadOnlyForceRecursive is true")
        if force and opts.get("ReadOnlyNonRecursive"):
            raise errors.InvalidArgument("invalid mount config: cannot set ReadOnlyNonRecursive and "
                                         "ReadOnlyForceRecursive together")
        return Plan("bind", dest, src, not ro, opts.get("Propagation") or "",
                    create_source=bool(opts.get("CreateMountpoint")), recursive_ro=force,
                    non_recursive=bool(opts.get("NonRecursive")), ro_non_recursive=bool(opts.get("ReadOnlyNonRecursive")))
    if kind == "volume":
        opts = m.get("VolumeOptions") or {}
        subpath = opts.get("Subpath") or ""
        if subpath and (os.path.isabs(subpath) or ".." in Path(subpath).parts):
            raise errors.InvalidArgument(f"invalid mount config: subpath must be a relative path within the volume: "
                                         f"{subpath!r}")
        if subpath and not m.get("Source"):
            raise errors.InvalidArgument("invalid mount config: subpath needs a named volume")
        return Plan("volume", dest, m.get("Source") or "", not ro, nocopy=bool(opts.get("NoCopy")),
                    labels=opts.get("Labels") or {}, driver_opts=(opts.get("DriverConfig") or {}).get("Options") or {},
                    subpath=os.path.normpath(subpath) if subpath else "",
                    driver=(opts.get("DriverConfig") or {}).get("Name") or "")
    if kind == "image":  # mounted by the engine (engine/imagemounts.py): a view of the image's snapshot
        if not m.get("Source"):
            raise errors.InvalidArgument('invalid mount config for type "image": field Source must not be empty')
        return Plan("image", dest, m["Source"], rw=False)
    if kind == "tmpfs":
        if m.get("Source"):
            raise errors.InvalidArgument("invalid mount config for type \"tmpfs\": source must not be specified")
        opts = m.get("TmpfsOptions") or {}
        tmp = []
        if opts.get("SizeBytes"):
            tmp.append(f"size={int(opts['SizeBytes'])}")
        if opts.get("Mode"):
            tmp.append(f"mode={_octal_mode(opts['Mode'])}")
        tmp.extend("=".join(str(part) for part in opt) for opt in opts.get("Options") or [] if opt)  # [["noexec"]]
        if ro:
            tmp.append("ro")
        return Plan("tmpfs", dest, tmpfs_options=tmp, rw=not ro)
    raise errors.InvalidArgument(f"invalid mount config: mount type unknown: {kind!r}")


def daemon_root_propagation(root: str, source: str, asked: str) -> str:
    """dockerd's validateBindDaemonRoot: a bind of the daemon's root, of a path inside it or of one holding
    it (``/``) is ``rslave`` unless ``rshared`` is asked; any other propagation is refused."""
    root = os.path.normpath(root)
    if not bindopts.inside(source, root) and not bindopts.inside(root, source):
        return asked
    if asked in ("", "rslave", "rshared"):
        return asked or "rslave"
    raise errors.InvalidArgument('invalid mount config: must use either propagation mode "rslave" or "rshared" '
                                 f'when mount source is within the daemon root, daemon root: "{root}", bind mount '
                                 f'source: "{source}", propagation: "{asked}"')


def parse_tmpfs(dest: str, options: str) -> Plan:
    return Plan("tmpfs", _check_dest(dest), tmpfs_options=[o for o in (options or "").split(",") if o])


def check_subpath(volume_dir: Path, subpath: str) -> Path:
    """The path a ``Subpath`` mount binds, as dockerd's safepath.Join checks it at start: it must exist,
    and symlinks in it may point anywhere inside the volume but never out of it (a container that
    writes to the volume must not point a later mount at the host). Returns the resolved path."""
    target = volume_dir / subpath
    base = os.path.realpath(volume_dir)
    real = os.path.realpath(target)
    if real != base and not real.startswith(base + "/"):
        raise errors.InvalidArgument(f"path concatenation escapes the base directory, base: {volume_dir}, "
                                     f"subpath: {subpath}")
    if not os.path.exists(real):
        raise errors.InvalidArgument(f"cannot access path {target}: no such file or directory")
    return Path(real)


def _subpath_now(volume_dir: Path, subpath: str) -> Path | None:
    """At create: the subpath resolved when it is inside the volume now, else None (start refuses it)."""
    try:
        return check_subpath(volume_dir, subpath)
    except errors.InvalidArgument:
        return None


def tmpfs_spec(plan: Plan) -> dict[str, Any]:
    """Docker's defaults (nosuid, nodev, noexec unless asked otherwise) plus the user's options."""
    opts = list(plan.tmpfs_options)
    flags = ["nosuid", "nodev"] + ([] if "exec" in opts else ["noexec"])
    opts = [o for o in opts if o != "exec"]
    return {"destination": plan.destination, "type": "tmpfs", "source": "tmpfs", "options": [*flags, *opts]}


class VolumeService:
    def __init__(self, data_root: Path, plugins: PluginRegistry | None = None) -> None:
        self.data_root = data_root
        self.driver = LocalDriver(data_root / "volumes")
        self.plugin_volumes = PluginVolumes(data_root / "volumes" / "_plugins.json", plugins or PluginRegistry())
        self.containers: Callable[[], Iterable[Container]] = lambda: ()
        self.get_container: Callable[[str], Container] = lambda ref: (_ for _ in ()).throw(
            errors.NotFound(f"No such container: {ref}"))

    # -- the volume API ----------------------------------------------------------

    def create(self, name: str, labels: dict[str, str] | None = None, opts: dict[str, str] | None = None,
               driver: str = "local") -> dict[str, Any]:
        if len(name.encode()) > NAME_MAX:  # a directory name: longer would fail in mkdir
            raise errors.InvalidArgument(f"create {name}: volume name is too long (maximum {NAME_MAX} bytes)")
        plugin_driver = self.plugin_volumes.driver_of(name) if name else ""
        if driver not in ("", "local"):
            if name and self._is_local(name):
                raise errors.Conflict(f"create {name}: volume already exists with driver local")
            return self.plugin_volumes.create(name, driver, labels or {}, opts or {})
        if plugin_driver:
            raise errors.Conflict(f"create {name}: volume already exists with driver {plugin_driver}")
        return self.driver.create(name, labels or {}, opts or {})

    def _is_local(self, name: str) -> bool:
        try:
            self.driver.get(name)
        except errors.NotFound:
            return False
        return True

    def users(self, name: str) -> list[str]:
        return [c.id for c in self.containers()
                if any(m.get("Type") == "volume" and m.get("Name") == name for m in c.mounts or [])]

    def inspect(self, name: str) -> dict[str, Any]:
        if self.plugin_volumes.driver_of(name):
            return self.plugin_volumes.get(name)
        return self.driver.get(name)

    def list(self) -> list[dict[str, Any]]:
        return self.driver.list() + self.plugin_volumes.list()

    def remove(self, name: str, force: bool = False) -> None:
        users = self.users(name)
        if users:
            raise errors.Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        try:
            if self.plugin_volumes.driver_of(name):
                self.plugin_volumes.remove(name)
            else:
                self.driver.remove(name)
        except errors.NotFound:
            if not force:
                raise

    def prune(self, all_volumes: bool = False, labels: Sequence[str] = (),
              not_labels: Sequence[str] = ()) -> tuple[builtins.list[str], int]:
        gone, space = [], 0
        for v in self.driver.list():
            if not all_volumes and ANONYMOUS_LABEL not in (v.get("Labels") or {}):
                continue
            if not _labels_match(v.get("Labels") or {}, labels) or self.users(v["Name"]):
                continue
            if any(_labels_match(v.get("Labels") or {}, [spec]) for spec in not_labels):
                continue
            space += self.driver.usage(v["Name"])
            self.driver.remove(v["Name"])
            gone.append(v["Name"])
        return gone, space

    def usage(self, name: str) -> dict[str, int]:
        size = -1 if self.plugin_volumes.driver_of(name) else self.driver.usage(name)  # dockerd: -1 for plugins
        return {"Size": size, "RefCount": len(self.users(name))}

    # -- containers --------------------------------------------------------------

    def plans(self, config: Config, host_config: HostConfig, image_config: dict[str, Any],
              old_client: bool = False) -> builtins.list[Plan]:
        """The container's mounts by destination; ``old_client`` (API below 1.44, ``bindopts.for_client``):
        its read-only binds are not recursive unless forced, as dockerd's old default."""
        plans: dict[str, Plan] = {}
        for ref in host_config.volumes_from or []:
            cref, _, mode = ref.partition(":")
            other = self.get_container(cref)
            for m in other.mounts or []:
                if m["Type"] not in ("volume", "bind"):
                    continue
                rw = m.get("RW", True) if not mode else mode == "rw"
                plans[m["Destination"]] = Plan(m["Type"], m["Destination"], m.get("Name") or m["Source"], rw,
                                               m.get("Propagation") or "", nocopy=True)
        for dest in {**(image_config.get("Volumes") or {}), **(config.volumes or {})}:
            plans.setdefault(os.path.normpath(dest), Plan("volume", os.path.normpath(dest)))
        for b in host_config.binds or []:
            p = parse_bind(b)
            plans[p.destination] = p
        for m in host_config.mounts or []:
            p = parse_mount(m)
            plans[p.destination] = p
        for dest, opts in (host_config.tmpfs or {}).items():
            p = parse_tmpfs(dest, opts)
            p.listed = False
            plans[p.destination] = p
        for p in plans.values():
            if p.type == "volume" and not p.driver:
                p.driver = host_config.volume_driver or ""
            if old_client and p.type == "bind" and not p.recursive_ro:
                p.ro_non_recursive = True
        return sorted(plans.values(), key=lambda p: p.destination.count("/"))

    async def prepare(self, cd: ContainerdClient, snapshot: str, c: Container, spec: dict[str, Any],
                      image_config: dict[str, Any], old_client: bool = False) -> None:
        """At create: every mount resolved into the spec (in a thread: a volume plugin may take its time to
        answer, bounded by the plugin client); then each new empty volume gets what the image has at its
        mount point, read by containerd from the container's ``snapshot``."""
        for path, into in await asyncio.to_thread(self.resolve_mounts, c, spec, image_config, old_client):
            await copyup.copy_image_path(cd, snapshot, path, into)

    def resolve_mounts(self, c: Container, spec: dict[str, Any], image_config: dict[str, Any],
                       old_client: bool = False) -> builtins.list[tuple[str, Path]]:
        """Every mount into the spec and the record; returns the copy-ups to make: (the image's
        directory, the new empty volume's directory)."""
        records = []
        copies: builtins.list[tuple[str, Path]] = []
        plans = self.plans(c.config, c.host_config, image_config, old_client)
        spec["mounts"] = bindopts.drop_shadowed(spec["mounts"], {p.destination for p in plans})
        for plan in plans:
            if plan.type == "image":
                continue
            if plan.type == "tmpfs":
                spec["mounts"].append(tmpfs_spec(plan))
                if plan.listed:
                    records.append({"Type": "tmpfs", "Source": "", "Destination": plan.destination, "Mode": "",
                                    "RW": plan.rw, "Propagation": ""})
                continue
            if plan.type == "bind":
                src = Path(plan.source)
                if not src.exists():
                    if not plan.create_source:
                        raise errors.InvalidArgument(f"invalid mount config for type \"bind\": bind source path does "
                                                     f"not exist: {src}")
                    src.mkdir(parents=True, exist_ok=True)
                source, name, driver = str(src), "", ""
                propagation = daemon_root_propagation(str(self.data_root), source, plan.propagation) or "rprivate"
            else:
                labels = plan.labels if plan.source else {ANONYMOUS_LABEL: "", **plan.labels}
                vol = self.create(plan.source, labels, plan.driver_opts, self._driver_for(plan))
                source, name, driver = vol["Mountpoint"], vol["Name"], vol["Driver"]
                if driver != "local":  # mounted at create, unmounted at removal (the spec is fixed at create)
                    source = self.plugin_volumes.mount(name, c.id)
                propagation = plan.propagation
                data = Path(source)
                copy_into: Path | None = data
                if plan.subpath:  # checked at start (check_subpaths), where dockerd checks it
                    resolved = _subpath_now(data, plan.subpath)
                    source = str(resolved or data / plan.subpath)
                    copy_into = resolved if resolved is not None and resolved.is_dir() else None
                if copy_into is not None and not plan.nocopy and not any(copy_into.iterdir()) \
                        and all(dest != copy_into for _, dest in copies):
                    copies.append((plan.destination, copy_into))
            opts = bindopts.spec_options(plan.type, plan.rw, propagation, plan.non_recursive, plan.ro_non_recursive,
                                         plan.recursive_ro)
            if plan.type == "bind":
                bindopts.share_root(spec, propagation)
            spec["mounts"].append({"destination": plan.destination, "type": "bind", "source": source, "options": opts})
            rec: dict[str, Any] = {"Type": plan.type, "Source": source, "Destination": plan.destination,
                                   "Mode": "" if plan.type == "bind" else "z", "RW": plan.rw,
                                   "Propagation": propagation if plan.type == "bind" else ""}
            if plan.type == "volume":
                rec = {"Type": "volume", "Name": name, **{k: v for k, v in rec.items() if k != "Type"},
                       "Driver": driver}
            records.append(rec)
        c.mounts = records
        return copies

    def check_at_start(self, c: Container) -> None:
        """What dockerd checks at start: subpaths (``check_subpaths``) and each bind's propagation against
        the mount its source is on (``bindopts.check_propagation``: a 500 ``SpecRefused``)."""
        self.check_subpaths(c)
        asked = {p.destination: p.propagation for p in map(parse_bind, c.host_config.binds or [])}
        asked.update((p.destination, p.propagation) for p in map(parse_mount, c.host_config.mounts or []))
        for m in c.mounts or []:
            if m.get("Type") == "bind":
                bindopts.check_propagation(m["Source"], m.get("Propagation") or "", str(self.data_root),
                                           asked=bool(asked.get(m["Destination"])))

    def check_subpaths(self, c: Container) -> None:
        """At start: every local volume's ``Subpath`` still exists and stays inside its volume."""
        for m in c.host_config.mounts or []:
            subpath = (m.get("VolumeOptions") or {}).get("Subpath")
            if m.get("Type") == "volume" and subpath and self._is_local(m.get("Source") or ""):
                check_subpath(Path(self.driver.get(m["Source"])["Mountpoint"]), os.path.normpath(subpath))

    def _driver_for(self, plan: Plan) -> str:
        """An existing named volume keeps its driver; --volume-driver (or --mount's) is for new ones."""
        if plan.source:
            if self.plugin_volumes.driver_of(plan.source):
                return self.plugin_volumes.driver_of(plan.source)
            if self._is_local(plan.source):
                return "local"
        return plan.driver or "local"

    def release(self, c: Container, remove_anonymous: bool) -> None:
        """At remove: a plugin's volumes are unmounted; with ``rm -v`` (or ``--rm``) the container's
        anonymous volumes go too."""
        for m in c.mounts or []:
            if m.get("Type") == "volume" and m.get("Driver") not in ("", "local", None):
                self._unmount(m["Name"], c.id)
        if not remove_anonymous:
            return
        for m in c.mounts or []:
            if m.get("Type") != "volume":
                continue
            if m.get("Driver") not in ("", "local", None):
                if ANONYMOUS_LABEL in self.plugin_volumes.record(m["Name"]).get("Labels", {}):
                    self.plugin_volumes.remove(m["Name"])
                continue
            try:
                v = self.driver.get(m["Name"])
            except errors.NotFound:
                continue
            if ANONYMOUS_LABEL in (v.get("Labels") or {}) and not [u for u in self.users(m["Name"]) if u != c.id]:
                self.driver.remove(m["Name"])


    def _unmount(self, name: str, container_id: str) -> None:
        """A plugin that fails to unmount must not keep the container from going: logged, as dockerd does."""
        try:
            self.plugin_volumes.unmount(name, container_id)
        except errors.DockyardError as err:
            log.warning("volume %s: unmount for container %s: %s", name, container_id[:12], err)


def _labels_match(labels: dict[str, str], wanted: Sequence[str]) -> bool:
    for w in wanted:
        k, _, v = w.partition("=")
        if k not in labels or (v and labels[k] != v):
            return False
    return True
