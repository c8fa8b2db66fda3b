"""Metadata-driven snapshotter skeleton shared by overlay and native.

Subclasses decide only two things: how a new snapshot's directory is filled
from its parents (``_populate``) and which mounts expose it (``_mounts``).
Everything about keys, kinds, parents, transactions and crash recovery is here.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from dockyard.containerd.snapshots.fstree import usage as tree_usage
from dockyard.containerd.snapshots.metadata import MetaStore, Row
from dockyard.containerd.snapshots.snapshotter import Kind, SnapshotInfo, Usage
from dockyard.errors import FailedPrecondition, InvalidArgument
from dockyard.fsmode import private_dir
from dockyard.types import Mount


class MetadataSnapshotter:
    """Base class; not a snapshotter on its own."""

    # Whether commit(parent=...) may put a parentless snapshot on a parent: true only where a
    # snapshot's directory holds its own layer alone (overlay), not a copy of its parents (native).
    rebase = False

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._snapshots = self.root / "snapshots"
        private_dir(self.root)  # snapshot directories hold rootfs contents (setuid files): root alone
        private_dir(self._snapshots)
        self._meta = MetaStore(self.root / "metadata.db")
        self.cleanup()

    # -- paths ---------------------------------------------------------------
    def _dir(self, sid: int) -> Path:
        return self._snapshots / str(sid)

    def _fs(self, sid: int) -> Path:
        return self._dir(sid) / "fs"

    def _work(self, sid: int) -> Path:
        return self._dir(sid) / "work"

    # -- hooks ---------------------------------------------------------------
    def _populate(self, new_dir: Path, parents: list[Row]) -> None:
        """Fill ``new_dir`` (holds an empty ``fs``) for a snapshot on ``parents``."""
        raise NotImplementedError

    def _mounts(self, row: Row, parents: list[Row]) -> list[Mount]:
        raise NotImplementedError

    def _usage_dir(self, row: Row) -> Path:
        return self._fs(row.id)

    # -- crash recovery ------------------------------------------------------
    def cleanup(self) -> list[str]:
        """Remove directories without a metadata row (left by a crash); returns them."""
        with self._meta.tx(write=False) as tx:
            ids = tx.ids()
        removed = []
        for entry in os.scandir(self._snapshots):
            if entry.name.isdigit() and int(entry.name) in ids:
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
        return removed

    # -- snapshotter API -----------------------------------------------------
    def _create(self, key: str, parent: str, kind: Kind, labels: Mapping[str, str] | None) -> list[Mount]:
        tmp = self._snapshots / f"new-{uuid.uuid4().hex}"
        try:
            with self._meta.tx() as tx:
                row = tx.create(key, parent, kind, labels)
                parents = tx.parents(row)
                tmp.mkdir(mode=0o700)
                (tmp / "fs").mkdir(mode=0o755)
                self._populate(tmp, parents)
                final = self._dir(row.id)
                if final.exists():  # stale orphan with a reused id
                    shutil.rmtree(final)
                os.rename(tmp, final)
                try:
                    mounts = self._mounts(row, parents)
                except BaseException:
                    os.rename(final, tmp)
                    raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return mounts

    def prepare(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        """Create an active (writable) snapshot on ``parent`` and return its mounts."""
        return self._create(key, parent, Kind.ACTIVE, labels)

    def view(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        """Create a read-only view of ``parent`` and return its mounts."""
        return self._create(key, parent, Kind.VIEW, labels)

    def mounts(self, key: str) -> list[Mount]:
        with self._meta.tx(write=False) as tx:
            row = tx.get(key)
            if not row.kind.has_mounts():
                raise FailedPrecondition(f'snapshot "{key}": committed snapshots have no mounts')
            return self._mounts(row, tx.parents(row))

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None, *,
               parent: str | None = None) -> None:
        """Freeze active ``key`` as ``name`` (a valid parent from now on).

        ``parent`` rebases a parentless ``key`` onto a committed snapshot as it
        is committed (containerd's WithParent): layers are extracted apart, in
        parallel, and stacked in order here. Only where ``rebase`` is true.
        """
        if parent and not self.rebase:
            raise FailedPrecondition(f"{type(self).__name__}: cannot rebase a snapshot on commit")
        with self._meta.tx() as tx:
            row = tx.get(key)
            if not row.kind.can_commit():
                raise FailedPrecondition(f'snapshot "{key}": is {row.kind.value}, only active snapshots can be committed')
            u = tree_usage(self._usage_dir(row))
            tx.commit(name, key, labels, u.size, u.inodes, parent)

    def stat(self, key: str) -> SnapshotInfo:
        with self._meta.tx(write=False) as tx:
            return tx.info(tx.get(key))

    def update(self, key: str, labels: Mapping[str, str], fieldpaths: Sequence[str] | None = None) -> SnapshotInfo:
        """Replace labels (no fieldpaths / "labels") or set/delete "labels.<k>" keys."""
        with self._meta.tx() as tx:
            row = tx.get(key)
            if not fieldpaths or "labels" in fieldpaths:
                new = {k: v for k, v in labels.items() if v}
            else:
                new = dict(row.labels)
                for path in fieldpaths:
                    if not path.startswith("labels."):
                        raise InvalidArgument(f'snapshot "{key}": cannot update field "{path}"')
                    k = path[len("labels."):]
                    if labels.get(k):
                        new[k] = labels[k]
                    else:
                        new.pop(k, None)
            return tx.info(tx.set_labels(row, new))

    def remove(self, key: str) -> None:
        """Delete a snapshot without children; its directory goes after the row (on a full
        disk too: the database's space reserve is given back if the removal needs it)."""
        def delete() -> Row:
            with self._meta.tx() as tx:
                return tx.remove(key)

        row = self._meta.reserve.deleting(delete)  # a crash before the rename: cleanup() takes the dir
        doomed = self._snapshots / f"rm-{row.id}-{uuid.uuid4().hex}"
        if self._dir(row.id).exists():
            os.rename(self._dir(row.id), doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        self._meta.reserve.ensure()

    def walk(self, filters: Sequence[str] = ()) -> Iterator[SnapshotInfo]:
        with self._meta.tx(write=False) as tx:
            infos = [tx.info(r) for r in tx.all()]
        for info in infos:
            if not filters or any(match_filter(info, f) for f in filters):
                yield info

    def usage(self, key: str) -> Usage:
        with self._meta.tx(write=False) as tx:
            row = tx.get(key)
        if row.kind is Kind.COMMITTED and row.size is not None and row.inodes is not None:
            return Usage(row.size, row.inodes)
        return tree_usage(self._usage_dir(row))

    def close(self) -> None:
        self._meta.close()



def match_filter(info: SnapshotInfo, expr: str) -> bool:
    """Comma-separated AND of ``field``/``field==v``/``field!=v`` over name, parent, kind, labels.<k>."""
    for clause in (c.strip() for c in expr.split(",")):
        if not clause:
            continue
        op = "==" if "==" in clause else "!=" if "!=" in clause else ""
        fname, value = clause.split(op, 1) if op else (clause, "")
        fname, value = fname.strip(), value.strip().strip('"')
        actual: str | None
        if fname == "name":
            actual = info.name
        elif fname == "parent":
            actual = info.parent
        elif fname == "kind":
            actual = info.kind.value
        elif fname.startswith("labels."):
            actual = info.labels.get(fname[len("labels."):].strip('"'))
        else:
            raise InvalidArgument(f'snapshot filter "{expr}": unknown field "{fname}"')
        ok = actual is not None if not op else (actual == value) if op == "==" else (actual != value)
        if not ok:
            return False
    return True


__all__ = ["MetadataSnapshotter", "match_filter"]
