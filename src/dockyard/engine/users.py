"""``User: name[:group]`` to numeric ids, from the container's own /etc/passwd and /etc/group.

The OCI process takes numbers only; Docker resolves names (and a numeric user's primary
and supplementary groups) against the files inside the container, as runc's
``GetExecUser`` does. The engine never mounts, so the files are read from the snapshot's
layer directories (``Snapshots.Mounts``: upper over lowers, as ``volumes/copyup`` reads
them); for a running container that upper layer holds what the container changed, so an
exec sees users added at run time, as with dockerd.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.volumes.copyup import layer_dirs


@dataclass(frozen=True)
class ExecUser:
    uid: int
    gid: int
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


def read_file(layers: Sequence[Path], rel: str) -> str:
    """The text of ``rel`` in the merged view of ``layers`` (topmost first); "" when absent.

    A whiteout of the file (or of one of its directories) in a higher layer hides the lower
    copies. /etc files are not expected to be symlinks; a symlink reads as absent.
    """
    parts = Path(rel).parts
    for layer in layers:
        for i in range(1, len(parts) + 1):
            p = layer.joinpath(*parts[:i])
            try:
                st = os.lstat(p)
            except OSError:
                break
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return ""  # whiteout: deleted above the lower layers
            if i == len(parts):
                if not stat.S_ISREG(st.st_mode):
                    return ""
                try:
                    return p.read_text(errors="replace")
                except OSError:
                    return ""
    return ""


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


def resolve_in(spec: str, mounts: Sequence[Any], group_add: Sequence[str | int] = ()) -> tuple[ExecUser, list[int]]:
    """``resolve`` and ``group_ids`` against the files of a snapshot given as containerd mounts."""
    layers = layer_dirs(mounts)
    group = read_file(layers, "etc/group")
    return resolve(spec, read_file(layers, "etc/passwd"), group), group_ids(group_add, group)


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
