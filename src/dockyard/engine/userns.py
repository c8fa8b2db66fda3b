"""``dockyardd --userns-remap``: the host id ranges a container's user namespace maps root to.

``default`` is the user ``dockremap`` (created, with ``dockremap:100000:65536`` in /etc/subuid
and /etc/subgid, when missing, as dockerd does); ``USER[:GROUP]`` takes that user's first
ranges from /etc/subuid and /etc/subgid. ``UID:GID`` with numbers is a Dockyard shorthand when
no account has that uid: root maps to host ``UID``/``GID``, 65536 ids each.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.archive.idmap import IdMap, IdRange
from dockyard.engine.container import Container
from dockyard.engine.spec import PING_GROUP_RANGE

DEFAULT_USER = "dockremap"
DEFAULT_START = 100000
RANGE = 65536


@dataclass(frozen=True)
class Remap:
    uid: int  # host uid of the container's root
    gid: int
    size: int = RANGE

    def uid_mappings(self) -> list[dict[str, int]]:
        return [{"containerID": 0, "hostID": self.uid, "size": self.size}]

    def gid_mappings(self) -> list[dict[str, int]]:
        return [{"containerID": 0, "hostID": self.gid, "size": self.size}]

    def ids(self) -> IdMap:
        """The ranges as containerd's snapshots and the archives take them (``archive/idmap.py``)."""
        return IdMap(IdRange(0, self.uid, self.size), IdRange(0, self.gid, self.size))

    def snapshot_labels(self) -> dict[str, str]:
        """containerd's labels: Prepare makes the snapshot on a copy owned by this range."""
        return {"containerd.io/snapshot/uidmapping": f"0:{self.uid}:{self.size}",
                "containerd.io/snapshot/gidmapping": f"0:{self.gid}:{self.size}"}


def _sub_range(path: Path, names: tuple[str, ...]) -> tuple[int, int] | None:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in names and parts[1].isdigit() and parts[2].isdigit():
            return int(parts[1]), int(parts[2])
    return None


def _ensure_default_user(etc: Path) -> None:
    try:
        pwd.getpwnam(DEFAULT_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/false", DEFAULT_USER],
                       check=True, capture_output=True)
    for name in ("subuid", "subgid"):
        path = etc / name
        if _sub_range(path, (DEFAULT_USER,)) is None:
            with open(path, "a") as f:
                f.write(f"{DEFAULT_USER}:{DEFAULT_START}:{RANGE}\n")


def parse(value: str, etc: Path = Path("/etc")) -> Remap | None:
    if not value:
        return None
    user, _, group = value.partition(":")
    if user.isdigit() and (not group or group.isdigit()):
        try:
            name = pwd.getpwuid(int(user)).pw_name
        except KeyError:
            return Remap(int(user), int(group or user))
        user = name
    if user == "default":
        _ensure_default_user(etc)
        user = DEFAULT_USER
    names = (user, str(pwd.getpwnam(user).pw_uid)) if _known(user) else (user,)
    uids = _sub_range(etc / "subuid", names)
    gids = _sub_range(etc / "subgid", (group or user,))
    if uids is None or gids is None:
        raise errors.InvalidArgument(f"can't find subuid/subgid ranges for the remapped user {user!r}")
    return Remap(uids[0], gids[0], min(uids[1], gids[1]))


def _known(user: str) -> bool:
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


def apply(spec: dict[str, Any], host_config: dict[str, Any], remap: Remap | None) -> bool:
    """A new user namespace with the daemon's ranges, unless ``--userns host``; True if one is made."""
    mode = host_config.get("UsernsMode") or ""
    if mode not in ("", "host"):
        raise errors.InvalidArgument(f"invalid USER mode: {mode}")
    if remap is None or mode == "host":
        return False
    if host_config.get("Privileged"):
        raise errors.InvalidArgument("privileged mode is incompatible with user namespaces.  You must run the "
                                     "container in the host namespace when running privileged mode")
    linux = spec["linux"]
    if PING_GROUP_RANGE not in (host_config.get("Sysctls") or {}):
        (linux.get("sysctl") or {}).pop(PING_GROUP_RANGE, None)  # dockerd: no ping sockets default in a userns
    linux["namespaces"] = [*linux["namespaces"], {"type": "user"}]
    linux["uidMappings"] = remap.uid_mappings()
    linux["gidMappings"] = remap.gid_mappings()
    return True


def own_etc_files(c: Container, remap: Remap) -> None:
    """/etc/hosts, hostname and resolv.conf are the container root's to edit, as with dockerd."""
    for path in (c.hosts_path, c.hostname_path, c.resolv_conf_path):
        if path and os.path.exists(path):
            os.chown(path, remap.uid, remap.gid)


def of(eng: Any, c: Container) -> Remap | None:
    """The ranges ``c`` runs remapped into (None: the host's ids, as with ``--userns host``)."""
    remap: Remap | None = getattr(eng, "userns_remap", None)
    if remap is None or (c.host_config.userns_mode or "") == "host":
        return None
    return remap
