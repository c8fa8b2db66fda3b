"""``User: name[:group]`` to numeric ids, from the container's own /etc/passwd and /etc/group.

The OCI process takes numbers only; Docker resolves names (and a numeric user's primary
and supplementary groups) against the files inside the container, as runc's
``GetExecUser`` does. The engine never mounts nor reads a snapshotter's directories: containerd
reads the files (``Snapshots.ReadFiles``: a running task's rootfs, else the snapshot mounted
read-only for the call), so an exec sees users added at run time, as with dockerd.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard import errors
from dockyard.containerd.client import ContainerdClient

ETC_FILES = ("/etc/passwd", "/etc/group")
_IMAGE_FILES: OrderedDict[str, dict[str, bytes]] = OrderedDict()  # by chain ID, most recent last
_IMAGE_FILES_MAX = 64


@dataclass(frozen=True)
class ExecUser:
    uid: int
    gid: int
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


def _rows(text: str, width: int) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        row = line.split(":")
        rows.append(row + [""] * (width - len(row)))
    return rows


def _int(s: str) -> int | None:
    try:
        n = int(s)
    except ValueError:
        return None
    return n if n >= 0 else None


def resolve(spec: str, passwd: str, group: str) -> ExecUser:
    """Docker's (runc's) rules: a name must be in passwd; a number need not be (then gid 0);
    an explicit group (name or number) replaces the primary group and adds no supplementary
    ones; otherwise the groups that list the user by name are added."""
    user_arg, _, group_arg = spec.partition(":")
    users = _rows(passwd, 7)
    uid_n = _int(user_arg) if user_arg else 0
    entry = next((r for r in users if (r[0] == user_arg if uid_n is None else _int(r[2]) == uid_n)), None)
    if entry is None and uid_n is None:
        raise errors.InvalidArgument(f"unable to find user {user_arg}: no matching entries in passwd file")
    if entry is not None:
        uid, gid = _int(entry[2]) or 0, _int(entry[3]) or 0
        name, home = entry[0], entry[5] or "/"
    else:
        assert uid_n is not None
        uid, gid, name, home = uid_n, 0, "", "/"
    extra: list[int] = []
    groups = _rows(group, 4)
    if group_arg:
        gid_n = _int(group_arg)
        row = next((g for g in groups if (g[0] == group_arg if gid_n is None else _int(g[2]) == gid_n)), None)
        if row is not None:
            gid = _int(row[2]) or 0
        elif gid_n is not None:
            gid = gid_n
        else:
            raise errors.InvalidArgument(f"unable to find group {group_arg}: no matching entries in group file")
    elif name:
        for g in groups:
            n = _int(g[2])
            if n is not None and name in g[3].split(",") and n not in extra:
                extra.append(n)
    return ExecUser(uid, gid, extra, home)


def group_ids(names: Sequence[str | int], group: str) -> list[int]:
    """``--group-add`` entries: numbers as given, names from /etc/group (unknown names refused)."""
    rows = _rows(group, 4)
    out: list[int] = []
    for item in (str(n) for n in names):
        n = _int(item)
        if n is None:
            row = next((g for g in rows if g[0] == item and _int(g[2]) is not None), None)
            if row is None:
                raise errors.InvalidArgument(f"unable to find group {item}: no matching entries in group file")
            n = _int(row[2])
        assert n is not None
        if n not in out:
            out.append(n)
    return out


def resolve_files(spec: str, files: Mapping[str, bytes],
                  group_add: Sequence[str | int] = ()) -> tuple[ExecUser, list[int]]:
    """``resolve`` and ``group_ids`` against ``files``: /etc/passwd and /etc/group as read from a
    snapshot (``ContainerdClient.read_snapshot_files``; one absent reads as empty)."""
    passwd, group = (files.get(p, b"").decode(errors="replace") for p in ETC_FILES)
    return resolve(spec, passwd, group), group_ids(group_add, group)


async def image_files(cd: ContainerdClient, snapshot: str, chain_id: str) -> Mapping[str, bytes]:
    """The files of ``ETC_FILES`` a new container on image layers ``chain_id`` sees, read from its
    fresh snapshot ``snapshot``: once per image (its layers never change), not at every create."""
    files = _IMAGE_FILES.get(chain_id) if chain_id else None
    if files is None:
        files = await cd.read_snapshot_files(snapshot, ETC_FILES)
        if chain_id:
            _IMAGE_FILES[chain_id] = files
            while len(_IMAGE_FILES) > _IMAGE_FILES_MAX:
                _IMAGE_FILES.popitem(last=False)
    else:
        _IMAGE_FILES.move_to_end(chain_id)
    return files


async def resolve_new(cd: ContainerdClient, snapshot: str, chain_id: str, spec: str,
                      group_add: Sequence[str | int] = ()) -> tuple[ExecUser, list[int]]:
    """``resolve_files`` for a new container on image layers ``chain_id`` (``image_files``)."""
    return resolve_files(spec, await image_files(cd, snapshot, chain_id), group_add)


async def resolve_in(cd: ContainerdClient, snapshot: str, spec: str,
                     group_add: Sequence[str | int] = ()) -> tuple[ExecUser, list[int]]:
    """``resolve_files`` with the files of snapshot ``snapshot``, read by containerd."""
    return resolve_files(spec, await cd.read_snapshot_files(snapshot, ETC_FILES), group_add)


def apply(process: dict[str, Any], user: ExecUser, group_add: Sequence[int] = ()) -> None:
    """Set an OCI process's user: ids, then the groups as moby's getUser lists them (the primary
    group, the user's supplementary groups, ``--group-add``; each once); and ``HOME`` from passwd
    unless the environment has one (runc does this inside its init; our runtime takes the
    environment as given, so the engine adds it)."""
    gids = list(dict.fromkeys([user.gid, *user.additional_gids, *group_add]))
    process["user"] = {"uid": user.uid, "gid": user.gid, "additionalGids": gids}
    env = process.setdefault("env", [])
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={user.home}")
