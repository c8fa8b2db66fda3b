"""Apply an uncompressed layer tar onto a directory with OCI/Docker semantics.

The members are written by the one routine for untrusted roots
(``dockyard/archive/safe_extract.py``): every path, link target, whiteout and
attribute change is resolved inside ``root`` through directory fds, so a layer can
never write outside ``root``, whatever symlinks it or its lower layers contain.
``..`` that climbs above the root and whiteouts that name no entry (``.wh..``,
``.wh...``) refuse the layer (``UnsafeLayerPath``); absolute names and absolute
symlink targets are taken relative to the root.

Apart mode (``apply_layer_apart``) applies a layer into an empty overlay upper
directory before its lower layers are finished (see safe_extract and
images/unpack.py).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from dockyard.archive.safe_extract import (
    OPAQUE_XATTR,
    WHITEOUT_META_PREFIX,
    WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
    Extractor,
    LayerApplyError,
    NeedsLowers,
    Root,
    UnsafeLayerPath,
    clean_member_name,
    open_tar,
)
from dockyard.oci.digest import Digester

__all__ = [
    "OPAQUE_XATTR", "WHITEOUT_META_PREFIX", "WHITEOUT_OPAQUE", "WHITEOUT_PREFIX", "HashingReader",
    "LayerApplyError", "NeedsLowers", "UnsafeLayerPath", "apply_layer", "apply_layer_apart",
    "clean_member_name", "resolve_in_root",
]

_MAX_SYMLINKS = 255
_CHUNK = 1 << 20


class HashingReader:
    """Counts everything read through it and hashes it: the layer's diff_id (``digest()``).

    ``known``: the digest is known already and nothing is hashed (a committed plain blob,
    named by its digest; or "" when nobody asks for one)."""

    def __init__(self, raw: BinaryIO, known: str | None = None) -> None:
        self._raw = raw
        self.known = known
        self.digester = Digester()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.size += len(data)
        if data and self.known is None:
            self.digester.update(data)
        return data

    def digest(self) -> str:
        return self.digester.digest() if self.known is None else self.known

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def resolve_in_root(root: str, parts: list[str]) -> str:
    """Host path of directory ``parts`` under ``root``, following symlinks inside root (lexically).

    For reading only (``docker cp`` out, stat): a path can change after it is returned;
    writes go through ``safe_extract.Root``."""
    current: list[str] = []
    todo = list(parts)
    links = 0
    while todo:
        comp = todo.pop(0)
        if comp in ("", "."):
            continue
        if comp == "..":
            if current:
                current.pop()
            continue
        candidate = os.path.join(root, *current, comp)
        st = os.lstat(candidate)
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_SYMLINKS:
                raise UnsafeLayerPath(f"too many symlinks resolving {'/'.join(parts)!r}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = []
            todo = [c for c in target.split("/") if c] + todo
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), candidate)
        current.append(comp)
    return os.path.join(root, *current)


def apply_layer(tar_stream: BinaryIO, root: Path) -> int:
    """Apply the uncompressed layer ``tar_stream`` onto ``root``; returns bytes read.

    The stream is read to EOF, so a wrapping ``HashingReader`` sees the whole
    tar (including end padding) and yields the diff_id.
    """
    return _apply(tar_stream, root, apart=False)[0]


def apply_layer_apart(tar_stream: BinaryIO, root: Path) -> list[str]:
    """Apply a layer into the empty overlay upper ``root`` before its lowers are known.

    Returns the directories (relative to root) made without a tar entry, to be
    checked against the lowers; raises ``NeedsLowers`` (the stream then is not
    read to the end) when the layer cannot be applied without them.
    """
    return _apply(tar_stream, root, apart=True)[1]


def _apply(tar_stream: BinaryIO, root: Path, apart: bool) -> tuple[int, list[str]]:
    # a caller that needs the diff_id passes its own HashingReader (a stream import hashes apart)
    reader = tar_stream if isinstance(tar_stream, HashingReader) else HashingReader(tar_stream, known="")
    with Root(root) as r, open_tar(reader, mode="r|", errorlevel=2) as tf:  # type: ignore[arg-type]
        ex = Extractor(r, apart=apart)
        ex.extract(tf)
    reader.drain()
    unpacked = {"/".join(p) for p in ex.unpacked}
    return reader.size, [p for p in dict.fromkeys(ex.implicit) if p not in unpacked]  # a later entry made it explicit
