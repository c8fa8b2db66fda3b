"""``RUN --mount``: parsing BuildKit's CSV mount syntax, and turning each mount into an OCI spec mount.

The engine prepares only plain directories and files (a persistent cache directory, a copy
of context or stage files, a secret file); the mounts themselves are entries of the RUN
container's ``spec["mounts"]``, performed by the runtime inside the container's mount
namespace, so nothing is mounted in the engine.

Layout: cache mounts persist under ``<data-root>/builder/cache-mounts/<sha256(id)>``;
bind sources are copied to ``<data-root>/builder/tmp/<run>/`` and secrets written to
``<exec-root>/builder/secrets/<run>/`` (mode 0400), both removed after the RUN.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.builder.context import materialize

TYPES = ("bind", "cache", "tmpfs", "secret")


@dataclass
class RunMount:
    type: str = "bind"
    target: str = ""
    source: str = ""
    from_: str = ""
    id: str = ""
    sharing: str = "shared"
    readonly: bool | None = None
    required: bool = False
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: str = ""

    def key(self) -> str:
        """What the cache key needs (secrets' contents never enter it, as with BuildKit)."""
        return (f"{self.type},{self.target},{self.source},{self.from_},{self.id},{self.sharing},{self.readonly},"
                f"{self.mode},{self.uid},{self.gid},{self.size}")


def _bool(v: str) -> bool:
    if v.lower() in ("", "true", "1"):
        return True
    if v.lower() in ("false", "0"):
        return False
    raise errors.InvalidArgument(f"invalid boolean {v!r}")


def parse_mount(value: str) -> RunMount:
    """One ``--mount`` value: ``type=cache,target=/root/.cache,id=x,sharing=locked`` and so on."""
    m = RunMount()
    for field in (f.strip() for f in value.split(",")):
        if not field:
            continue
        k, eq, v = field.partition("=")
        k = k.lower()
        if k == "type":
            if v not in TYPES:
                raise errors.InvalidArgument(f"unsupported mount type {v!r}")
            m.type = v
        elif k in ("target", "dst", "destination"):
            m.target = v
        elif k in ("source", "src"):
            m.source = v
        elif k == "from":
            m.from_ = v
        elif k == "id":
            m.id = v
        elif k == "sharing":
            if v not in ("shared", "private", "locked"):
                raise errors.InvalidArgument(f"unsupported sharing value {v!r}")
            m.sharing = v
        elif k in ("readonly", "ro"):
            m.readonly = _bool(v) if eq else True
        elif k in ("rw", "readwrite"):
            m.readonly = not (_bool(v) if eq else True)
        elif k == "required":
            m.required = _bool(v) if eq else True
        elif k == "mode":
            m.mode = int(v, 8)
        elif k == "uid":
            m.uid = int(v)
        elif k == "gid":
            m.gid = int(v)
        elif k == "size":
            m.size = v
        elif k == "env":
            raise errors.InvalidArgument("secret env= is not supported by this builder; use target=")
        else:
            raise errors.InvalidArgument(f"unexpected key {k!r} in {value!r}")
    if m.type == "secret":
        if not m.id:
            m.id = os.path.basename(m.target) if m.target else ""
        if not m.id:
            raise errors.InvalidArgument("secret mount needs an id or a target")
        m.target = m.target or f"/run/secrets/{m.id}"
    if not m.target:
        raise errors.InvalidArgument(f"mount {value!r}: target is required")
    if m.type == "cache" and not m.id:
        m.id = m.target
    return m


class CacheDirs:
    """Persistent cache-mount directories, with BuildKit's ``sharing`` modes.

    ``shared``: every RUN uses the one directory at once; ``locked``: one RUN at a time, the
    others wait; ``private``: a RUN that finds the directory in use gets a fresh one, thrown
    away afterwards.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    def path(self, id: str) -> Path:
        return self.root / "cache-mounts" / hashlib.sha256(id.encode()).hexdigest()[:32]

    def lock(self, id: str) -> asyncio.Lock:
        """The lock ``sharing=locked`` RUNs of cache ``id`` take in turn."""
        return self._locks.setdefault(id, asyncio.Lock())

    def in_use(self, id: str) -> bool:
        return bool(self._users.get(id))

    def use(self, id: str) -> None:
        self._users[id] = self._users.get(id, 0) + 1

    def unuse(self, id: str) -> None:
        self._users[id] -= 1

    def usage(self) -> tuple[int, int]:
        """(directories, bytes) of all cache mounts (for ``system df``)."""
        base = self.root / "cache-mounts"
        n = size = 0
        if base.is_dir():
            for d in base.iterdir():
                n += 1
                for dirpath, _dirs, files in os.walk(d):
                    for f in files:
                        try:
                            size += os.lstat(os.path.join(dirpath, f)).st_size
                        except OSError:
                            continue
        return n, size

    def prune(self) -> int:
        n, size = self.usage()
        shutil.rmtree(self.root / "cache-mounts", ignore_errors=True)
        return size


class Prepared:
    """The spec mounts of one RUN, and what to undo when it ends."""

    def __init__(self) -> None:
        self.spec: list[dict[str, Any]] = []
        self.temp: list[Path] = []
        self.locks: list[asyncio.Lock] = []
        self.users: list[str] = []

    def release(self, dirs: CacheDirs) -> None:
        for lock in self.locks:
            lock.release()
        for id in self.users:
            dirs.unuse(id)
        for p in self.temp:
            shutil.rmtree(p, ignore_errors=True)
        self.locks, self.users, self.temp = [], [], []


async def prepare(mounts: list[RunMount], dirs: CacheDirs, scratch: Path, secrets_dir: Path,
                  secrets: dict[str, bytes], sources: dict[int, tuple[Any, str]]) -> Prepared:
    """Make the host side of each mount and return the spec entries.

    ``sources`` maps a bind mount's index to (FileTree, path in it) already resolved by the
    builder (the context or another stage's files)."""
    out = Prepared()
    try:
        for i, m in enumerate(mounts):
            if m.type == "tmpfs":
                opts = ["nosuid", "nodev"] + ([f"size={m.size}"] if m.size else [])
                out.spec.append({"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts})
            elif m.type == "cache":
                path = dirs.path(m.id)
                if m.sharing == "locked":
                    lock = dirs.lock(m.id)
                    await lock.acquire()
                    out.locks.append(lock)
                elif m.sharing == "private" and dirs.in_use(m.id):
                    path = scratch / f"cache-{i}"
                    out.temp.append(path)
                dirs.use(m.id)
                out.users.append(m.id)
                if not path.exists():
                    path.mkdir(parents=True, mode=0o755)
                    os.chmod(path, m.mode if m.mode is not None else 0o755)
                    os.chown(path, m.uid or 0, m.gid or 0)
                opts = ["rbind", "ro" if m.readonly else "rw"]
                out.spec.append({"destination": m.target, "type": "bind", "source": str(path), "options": opts})
            elif m.type == "bind":
                tree, src = sources[i]
                path = scratch / f"bind-{i}"
                out.temp.append(path)
                await asyncio.to_thread(materialize, tree, src, str(path))
                # Writes to a rw bind land in this throw-away copy, as BuildKit discards them.
                opts = ["rbind", "rw" if m.readonly is False else "ro"]
                out.spec.append({"destination": m.target, "type": "bind", "source": str(path), "options": opts})
            elif m.type == "secret":
                if m.id not in secrets:
                    if m.required:
                        raise errors.InvalidArgument(f"secret {m.id} not found: pass it with --secret id={m.id},src=PATH")
                    continue
                secrets_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
                if secrets_dir not in out.temp:
                    out.temp.append(secrets_dir)
                path = secrets_dir / hashlib.sha256(m.id.encode()).hexdigest()[:16]
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    os.write(fd, secrets[m.id])
                finally:
                    os.close(fd)
                os.chown(path, m.uid or 0, m.gid or 0)
                os.chmod(path, m.mode if m.mode is not None else 0o400)
                out.spec.append({"destination": m.target, "type": "bind", "source": str(path),
                                 "options": ["bind", "ro", "nosuid", "nodev", "noexec"]})
    except BaseException:
        out.release(dirs)
        raise
    return out
