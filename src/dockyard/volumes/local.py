"""The local volume driver: ``<data-root>/volumes/<name>/_data`` plus a small JSON record beside it."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from dockyard import errors

NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
ANONYMOUS_LABEL = "com.docker.volume.anonymous"


class VolumeDriver(Protocol):
    def create(self, name: str, labels: dict[str, str], opts: dict[str, str]) -> dict[str, Any]: ...
    def get(self, name: str) -> dict[str, Any]: ...
    def list(self) -> list[dict[str, Any]]: ...
    def remove(self, name: str) -> None: ...


class LocalDriver:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.owner: tuple[int, int] | None = None  # --userns-remap: new volumes' _data is the remapped root's

    def _record_path(self, name: str) -> Path:
        return self.root / name / "volume.json"

    def create(self, name: str, labels: dict[str, str], opts: dict[str, str]) -> dict[str, Any]:
        if not name:
            name = secrets.token_hex(32)
        if not NAME.match(name):
            raise errors.InvalidArgument(f'create {name}: "{name}" includes invalid characters for a local volume '
                                         'name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to '
                                         "pass a host directory, use absolute path")
        if opts.get("type") or opts.get("device"):
            # 400, as Docker's local driver answers an option it does not know (a fuzzed body must not get a 5xx)
            raise errors.InvalidArgument("invalid option: the local driver of this daemon does not support the "
                                         "device/type options (mounting a device, tmpfs or NFS as a volume)")
        try:
            return self.get(name)  # Docker: creating an existing volume returns it
        except errors.NotFound:
            pass
        data = self.root / name / "_data"
        data.mkdir(parents=True, exist_ok=True)
        if self.owner is not None:
            os.chown(data, *self.owner)
        os.chmod(self.root, 0o701)
        rec = {"CreatedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "Driver": "local",
               "Labels": labels or {}, "Mountpoint": str(data), "Name": name, "Options": opts or {},
               "Scope": "local"}
        tmp = self._record_path(name).with_suffix(".tmp")
        tmp.write_text(json.dumps(rec))
        tmp.rename(self._record_path(name))
        return rec

    def get(self, name: str) -> dict[str, Any]:
        try:
            return json.loads(self._record_path(name).read_text())  # type: ignore[no-any-return]
        except (FileNotFoundError, NotADirectoryError, ValueError):
            raise errors.NotFound(f"get {name}: no such volume") from None

    def list(self) -> list[dict[str, Any]]:
        out = []
        if self.root.is_dir():
            for d in sorted(self.root.iterdir()):
                try:
                    out.append(self.get(d.name))
                except errors.NotFound:
                    continue
        return out

    def remove(self, name: str) -> None:
        self.get(name)
        shutil.rmtree(self.root / name)

    def usage(self, name: str) -> int:
        """Bytes of the files in the volume, a hard-linked file once (Docker's ``directory.Size``)."""
        total = 0
        seen: set[tuple[int, int]] = set()
        for dirpath, _, files in os.walk(self.root / name / "_data"):
            for f in files:
                try:
                    st = os.lstat(os.path.join(dirpath, f))
                except OSError:
                    continue
                if st.st_nlink > 1:
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                total += st.st_size
        return total
