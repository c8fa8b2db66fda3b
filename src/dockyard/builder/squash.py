"""``docker build --squash`` (an experimental daemon's): the built image becomes its base image's
layers plus one layer holding everything the Dockerfile's steps changed, as dockerd's
``SquashImage``: the steps' history entries are kept, marked ``empty_layer``, and one entry
("merge <built> to <base>", or "create new from <built>" on scratch) names the new layer."""

from __future__ import annotations

import copy
import posixpath
import tarfile
from typing import TYPE_CHECKING

from dockyard.builder.context import Entry, FileTree, Payload, read_payload
from dockyard.builder.layers import sha256, tar_parts
from dockyard.builder.state import State, now

if TYPE_CHECKING:
    from dockyard.builder.executor import Builder


def _same(a: Entry, b: Entry) -> bool:
    x, y = a.info, b.info
    if (x.type, x.mode, x.uid, x.gid, x.linkname, x.size, int(x.mtime)) != (
            y.type, y.mode, y.uid, y.gid, y.linkname, y.size, int(y.mtime)):
        return False
    if not x.isreg() or (a.ident and a.ident == b.ident):
        return True
    return read_payload(a.data) == read_payload(b.data)


def _whiteout(name: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(posixpath.join(posixpath.dirname(name), ".wh." + posixpath.basename(name)))
    ti.type, ti.mode, ti.size = tarfile.REGTYPE, 0o644, 0
    return ti


def diff(before: FileTree, after: FileTree) -> list[tuple[tarfile.TarInfo, Payload]]:
    """The layer that turns ``before`` into ``after``: new and changed entries (with the directories
    above them), a whiteout for the topmost of each removed path; parents before children."""
    changed = {k for k, e in after.entries.items() if k not in before.entries or not _same(before.entries[k], e)}
    for k in list(changed):
        parent = posixpath.dirname(k)
        while parent and parent not in changed and parent in after.entries:
            changed.add(parent)
            parent = posixpath.dirname(parent)
    gone = {k for k in before.entries if k not in after.entries or
            (before.entries[k].info.isdir() and not after.entries[k].info.isdir())}
    items: list[tuple[str, tarfile.TarInfo, Payload]] = []
    for k in gone:
        parent = posixpath.dirname(k)
        if parent in gone:
            continue  # the parent's whiteout removes it
        items.append((k, _whiteout(k), b""))
    for k in changed:
        e = after.entries[k]
        ti = copy.copy(e.info)
        ti.name, ti.pax_headers = k, dict(e.info.pax_headers)
        items.append((k, ti, e.data if ti.isreg() else b""))
    items.sort(key=lambda i: (i[0], not i[1].name.rpartition("/")[2].startswith(".wh.")))
    return [(ti, data) for _, ti, data in items]


async def squash(builder: Builder, built: State, base: State) -> State:
    """``built`` as ``base``'s layers and one layer of the difference (dockerd's ``SquashImage``)."""
    before = await builder.tree_of(base) if base.layers else FileTree()
    after = await builder.tree_of(built)
    parts = tar_parts(diff(before, after))
    diff_id = "sha256:" + sha256(parts)
    layer = await builder.store_layer(base, parts, diff_id, "squash")
    config = copy.deepcopy(built.config)
    base_ids = list((base.config.get("rootfs") or {}).get("diff_ids") or []) if base.layers else []
    config["rootfs"] = {"type": "layers", "diff_ids": [*base_ids, diff_id]}
    kept = len(base.config.get("history") or []) if base.id or base.layers else 0
    history = config.get("history") or []
    for i, h in enumerate(history):
        if i >= kept:
            h["empty_layer"] = True
    created = now()
    comment = f"merge {built.id} to {base.id}" if base.id else f"create new from {built.id}"
    config["history"] = [*history, {"created": created, "comment": comment}]
    config["created"] = created
    new = State(config, [*base.layers, layer])
    new.id = await builder.write_config(new)
    return new
