"""A layer tar as pieces: headers, the files' bytes (a view, or the file on disk) and padding,
hashed and streamed without being joined (COPY, ADD, WORKDIR and bind mounts' cache keys)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator, Sequence

from dockyard.builder.context import ContextDir, FileTree, OnDisk, Payload, payload_chunks


def spooled(f: io.BufferedReader, size: int, store: ContextDir | None) -> Payload:
    """A member's bytes: in memory when small (or when there is no directory to put them in)."""
    if size < (1 << 16) or store is None:
        return f.read()
    fd, path = store.create()
    try:
        while chunk := f.read(1 << 20):
            os.write(fd, chunk)  # a regular file: writes are whole
    finally:
        os.close(fd)
    store.size += size
    return OnDisk(path, size)


Piece = bytes | memoryview | OnDisk


def tar_parts(items: Sequence[tuple[tarfile.TarInfo, Payload]]) -> list[Piece]:
    """The bytes ``tarfile`` would write for ``items`` (pax format), as pieces: headers, each
    file's bytes (not copied: a view, or the file on disk), padding, the end blocks and the
    record padding."""
    parts: list[Piece] = []
    total = 0
    for ti, data in items:
        header = ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        parts.append(header)
        total += len(header)
        if ti.isreg() and ti.size:
            body: Piece = data if isinstance(data, OnDisk) else memoryview(data)[:ti.size]
            parts.append(body)
            pad = -len(body) % tarfile.BLOCKSIZE
            if pad:
                parts.append(bytes(pad))
            total += len(body) + pad
    end = 2 * tarfile.BLOCKSIZE
    end += -(total + end) % tarfile.RECORDSIZE
    parts.append(bytes(end))
    return parts


def sha256(parts: list[Piece]) -> str:
    """The hex sha256 of the pieces as if joined (they are not)."""
    h = hashlib.sha256()
    for piece in parts:
        for chunk in payload_chunks(piece):
            h.update(chunk)
    return h.hexdigest()


def chunks(parts: list[Piece], size: int = 1 << 20) -> Iterator[bytes]:
    """``parts`` regrouped into messages of about ``size`` bytes (each piece copied once)."""
    buf = bytearray()
    for part in parts:
        for piece in payload_chunks(part):
            view = memoryview(piece)
            while view:
                take = view[:size - len(buf)]
                buf += take
                view = view[len(take):]
                if len(buf) >= size:
                    yield bytes(buf)
                    buf.clear()
    if buf:
        yield bytes(buf)


def renamed(ti: tarfile.TarInfo, name: str) -> tarfile.TarInfo:
    ti.name = name
    ti.pax_headers = {}
    return ti


def tree_digest(tree: FileTree, root: str) -> str:
    """The contents and metadata under ``root``: a bind mount's part of a RUN's cache key."""
    h = hashlib.sha256()
    for e in tree.walk(root):
        i = e.info
        h.update(f"{i.name}\0{i.mode}\0{i.uid}\0{i.gid}\0{i.type!r}\0{i.linkname}\0{len(e.data)}\0".encode())
        for piece in payload_chunks(e.data):
            h.update(piece)
    return h.hexdigest()

