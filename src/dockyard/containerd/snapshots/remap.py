"""Snapshots for a user namespace: the image's tree copied once with its owners shifted.

A Prepare labelled with containerd's ``containerd.io/snapshot/uidmapping`` and ``gidmapping``
(``<container id>:<host id>:<size>``) gets, in place of its parent, a committed snapshot
``<parent>-remap-<uid>.<gid>`` that holds the parent's whole tree with every owner shifted into
the range (ids outside it become the overflow id 65534, as the kernel shows them), made on
first use and shared by every container of that image and range (containerd's remapped
snapshot, dockerd's per-remap layer store). The new snapshot's own upper directory belongs to
the range's root, so the container's root owns ``/``. Lower layers are copied rather than
idmapped: this kernel refuses an idmapped overlay, and a copy keeps hard links and needs no
mount the runtime would have to know of.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path

from dockyard.archive.idmap import IdMap, IdRange
from dockyard.containerd import mount as mountlib
from dockyard.containerd.snapshots.fstree import copy_tree
from dockyard.errors import AlreadyExists, InvalidArgument, NotFound
from dockyard.types import Mount

UID_LABEL = "containerd.io/snapshot/uidmapping"
GID_LABEL = "containerd.io/snapshot/gidmapping"


def ranges(labels: Mapping[str, str]) -> IdMap | None:
    """The (uid, gid) ranges a Prepare asks for, or None for a snapshot without a user namespace."""
    uid, gid = labels.get(UID_LABEL), labels.get(GID_LABEL)
    if not uid and not gid:
        return None
    if not uid or not gid:
        raise InvalidArgument(f"{UID_LABEL} and {GID_LABEL} go together")
    return IdMap(IdRange.parse(uid), IdRange.parse(gid))


def remapped_name(parent: str, uids: IdRange, gids: IdRange) -> str:
    return f"{parent}-remap-{uids.host}.{gids.host}"


def remapped_parent(sn: object, parent: str, uids: IdRange, gids: IdRange, work_dir: Path) -> str:
    """The name of ``parent``'s remapped copy, made now if it does not exist yet."""
    name = remapped_name(parent, uids, gids)
    try:
        sn.stat(name)  # type: ignore[attr-defined]
        return name
    except NotFound:
        pass
    token = uuid.uuid4().hex
    source, key = f"extract-{token}-src", f"extract-{token}"  # extract-*: dropped after a crash
    try:
        with mountlib.mounted(sn.view(source, parent), work_dir, "remap-") as src:  # type: ignore[attr-defined]
            with mountlib.mounted(sn.prepare(key), work_dir, "remap-") as dst:  # type: ignore[attr-defined]
                copy_tree(src, dst, lambda uid, gid: (uids.shift(uid), gids.shift(gid)))
        try:
            sn.commit(name, key, {UID_LABEL: uids.label(), GID_LABEL: gids.label()})  # type: ignore[attr-defined]
        except AlreadyExists:
            pass  # made by a concurrent Prepare meanwhile: the same tree
    finally:
        for k in (source, key):
            try:
                sn.remove(k)  # type: ignore[attr-defined]
            except NotFound:
                pass
    return name


def own_upper(mounts: list[Mount], uid: int, gid: int) -> None:
    """Give the active snapshot's writable directory (and so the container's ``/``) to ``uid``."""
    for m in mounts:
        for option in m.options:
            if option.startswith("upperdir="):
                os.chown(option.removeprefix("upperdir="), uid, gid)
                return
        if m.type == "bind" and "rw" in m.options:
            os.chown(m.source, uid, gid)
            return
