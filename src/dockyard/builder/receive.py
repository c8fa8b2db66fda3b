"""A build context received as it streams in: decompressed (gzip, bzip2, xz) and parsed as a
tar while the request body arrives, each regular file written into the build's ``ContextDir``,
within limits of expanded size and entries (``Limits``); a refusal stops the reading at once."""

from __future__ import annotations

import asyncio
import bz2
import hashlib
import lzma
import os
import posixpath
import queue
import tarfile
import threading
from collections.abc import AsyncIterable, Iterator
from dataclasses import dataclass
from typing import Any

from isal import isal_zlib

from dockyard import errors
from dockyard.builder.context import (
    BIG,
    PIECE,
    ContextDir,
    FileTree,
    OnDisk,
    Payload,
    checksum_ok,
    header_info,
    header_num,
    pax_records,
    write_all,
)


@dataclass(frozen=True)
class Limits:
    """What one context may expand to: bytes of tar (after decompression) and entries; ``why``
    says where the byte limit comes from, for the refusal."""

    size: int = 10 << 30
    files: int = 200_000  # the tree costs ~800 bytes of memory an entry
    why: str = "dockyardd --build-context-limit"
    files_why: str = "dockyardd --build-context-max-files"


def human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def _bad(what: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"the build context is not a valid tar: {what}")


class _Inflate:
    """One decompressor with zlib's ``max_length`` protocol over isal's zlib, bz2 and lzma."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._d: Any  # isal's zlib, bz2's or lzma's decompressor
        if kind == "gzip":
            self._d = isal_zlib.decompressobj(31)
        elif kind == "bzip2":
            self._d = bz2.BZ2Decompressor()
        else:
            self._d = lzma.LZMADecompressor()

    @property
    def eof(self) -> bool:
        return bool(self._d.eof)

    @property
    def unused(self) -> bytes:
        return bytes(self._d.unused_data)

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """What ``data`` inflates to, at most ``PIECE`` bytes a piece."""
        if self.kind == "gzip":
            while True:
                out = self._d.decompress(data, PIECE)
                if out:
                    yield out
                if self._d.eof:
                    return
                data = self._d.unconsumed_tail
                if not data and len(out) < PIECE:
                    return
        out = self._d.decompress(data, PIECE)
        while True:
            if out:
                yield out
            if self._d.eof or self._d.needs_input:
                return
            out = self._d.decompress(b"", PIECE)


_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))


def _inflated(raw: Iterator[bytes]) -> Iterator[bytes]:
    """The tar's bytes from the body's chunks: plain, or gzip/bzip2/xz (concatenated streams too)."""
    head = b""
    for chunk in raw:
        head += chunk
        if len(head) >= 6:
            break
    kind = next((k for magic, k in _MAGIC if head.startswith(magic)), "")
    if not kind:
        if head:
            yield head
        yield from raw
        return
    dec = _Inflate(kind)
    for data in _chain([head], raw):
        while data:
            try:
                yield from dec.pieces(data)
            except (OSError, EOFError, ValueError, lzma.LZMAError) as err:
                raise _bad(f"{kind}: {err}") from None
            if not dec.eof:
                break
            data = dec.unused  # a next stream, or the padding some tools leave
            if not any(data.startswith(m) for m, k in _MAGIC if k == kind):
                return
            dec = _Inflate(kind)


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


class _Stream:
    """The tar's bytes read by size, counted against the size limit."""

    def __init__(self, pieces: Iterator[bytes], limits: Limits) -> None:
        self._pieces = pieces
        self._buf = memoryview(b"")
        self._limits = limits
        self.offset = 0  # bytes of tar consumed

    def _take(self, n: int) -> memoryview:
        """Up to ``n`` bytes (fewer at a piece's end; empty at the end of the stream)."""
        if not self._buf:
            for piece in self._pieces:
                if piece:
                    self._buf = memoryview(piece)
                    break
            else:
                return self._buf
        out, self._buf = self._buf[:n], self._buf[n:]
        self.offset += len(out)
        if self.offset > self._limits.size:
            raise errors.InvalidArgument(
                f"the build context exceeds the limit of {human(self._limits.size)} ({self._limits.why})")
        return out

    def read(self, n: int) -> bytes:
        parts = []
        while n:
            got = self._take(n)
            if not got:
                break
            parts.append(bytes(got))
            n -= len(got)
        return b"".join(parts)

    def copy_to(self, fd: int, n: int) -> None:
        while n:
            got = self._take(n)
            if not got:
                raise _bad("it ends inside a file")
            write_all(fd, got)
            n -= len(got)

    def skip(self, n: int) -> None:
        while n:
            got = self._take(n)
            if not got:
                return
            n -= len(got)


_META_MAX = 1 << 20  # a pax header or GNU long name bigger than this is not a context's
_REGULAR = (b"0", b"7")


def _escapes(name: str) -> bool:
    return posixpath.normpath("./" + name.lstrip("/")).split("/", 1)[0] == ".."


def _parse(stream: _Stream, tree: FileTree, store: ContextDir, limits: Limits) -> None:
    """Read the context tar, writing regular files to ``store`` and entries to ``tree``; a
    file's ``ident`` is the offset of its bytes in the tar until ``receive`` knows the tar's
    digest."""
    pax: dict[str, str] = {}
    long_name = long_link = ""
    count = 0
    while True:
        hdr = stream.read(512)
        if not hdr or hdr.count(0) == 512:
            break  # the end blocks (or none: tarfile takes what came)
        if len(hdr) < 512:
            raise _bad("it ends inside a header")
        if not checksum_ok(hdr):
            raise _bad(f"bad header checksum at offset {stream.offset - 512}")
        typ = hdr[156:157]
        size = header_num(hdr[124:136])
        if typ in (b"x", b"g", b"L", b"K"):
            if not 0 <= size <= _META_MAX:
                raise _bad(f"a {size}-byte extended header")
            body = stream.read(size)
            stream.skip(-size % 512)
            if typ == b"x":
                pax = pax_records(body)
            elif typ in (b"L", b"K"):
                text = body.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                long_name, long_link = (text, long_link) if typ == b"L" else (long_name, text)
            continue
        if typ == b"S" or any(k.startswith("GNU.sparse") for k in pax):
            raise errors.InvalidArgument("the build context holds a sparse file, which is not supported")
        ti = header_info(hdr, pax, long_name, long_link)
        pax, long_name, long_link = {}, "", ""
        if ti.size < 0:
            raise _bad(f"{ti.name!r} has a negative size")
        if _escapes(ti.name):
            raise errors.InvalidArgument(f"the build context has an entry outside it: {ti.name!r}")
        count += 1
        if count > limits.files:
            raise errors.InvalidArgument(
                f"the build context has more than {limits.files} entries, its limit ({limits.files_why})")
        payload: Payload = b""
        offset = -1
        if ti.type in _REGULAR:
            ti.type = tarfile.REGTYPE
            offset = stream.offset
            if ti.size < BIG:
                body = stream.read(ti.size)
                if len(body) < ti.size:
                    raise _bad("it ends inside a file")
                payload = store.append(body)
            else:
                fd, path = store.create()
                try:
                    stream.copy_to(fd, ti.size)
                finally:
                    os.close(fd)
                store.size += ti.size
                payload = OnDisk(path, ti.size)
        else:
            stream.skip(ti.size)
            if ti.type not in (b"1", b"2", b"3", b"4", b"5", b"6"):
                continue  # a type the builder has no use for (a volume label, ...)
        stream.skip(-ti.size % 512)
        if ti.islnk():  # a hard link to a file sent before: a file with the same bytes
            target = tree.entries.get(FileTree.norm(ti.linkname))
            if target is not None and isinstance(target.data, OnDisk):
                ti.type, ti.size, ti.linkname = tarfile.REGTYPE, target.info.size, ""
                payload, offset = target.data, int(target.ident)
        entry = tree.merge(ti, payload, whiteouts=False)
        if entry is not None and offset >= 0:
            entry.ident = str(offset)


async def receive(chunks: AsyncIterable[bytes], store: ContextDir, limits: Limits) -> FileTree:
    """The context tar of a build (the request body's ``chunks``), received into ``store``.

    One thread inflates, parses and writes the files as the bytes arrive, another hashes the
    body (the sha256 that names each file's bytes: ``Entry.ident``); both queues are bounded,
    so a slow disk slows the upload instead of filling memory. A refusal (a limit, a bad tar)
    stops the reading at once."""
    tree = FileTree(store)
    digest = hashlib.sha256()
    to_parse: queue.Queue[bytes | None] = queue.Queue(maxsize=64)
    to_hash: queue.Queue[bytes | None] = queue.Queue(maxsize=64)
    outcome: dict[str, object] = {}

    ended = threading.Event()

    def raw() -> Iterator[bytes]:
        while not ended.is_set():
            chunk = to_parse.get()
            if chunk is None:
                ended.set()
                return
            yield chunk

    def parse() -> None:
        try:
            _parse(_Stream(_inflated(raw()), limits), tree, store, limits)
        except (ValueError, IndexError) as err:  # a header field that is not a number, a bad pax record
            outcome["error"] = _bad(str(err))
        except BaseException as err:  # handed to the request, which answers with it
            outcome["error"] = err
        finally:
            store.seal()
            for _ in raw():
                pass  # the rest of the body, until the request stops sending

    def hash_all() -> None:
        while (chunk := to_hash.get()) is not None:
            digest.update(chunk)

    threads = [threading.Thread(target=parse, name="dockyard-context", daemon=True),
               threading.Thread(target=hash_all, name="dockyard-context-hash", daemon=True)]
    for t in threads:
        t.start()

    async def put(q: queue.Queue[bytes | None], item: bytes | None) -> None:
        try:
            q.put_nowait(item)
        except queue.Full:
            await asyncio.to_thread(q.put, item)

    try:
        async for chunk in chunks:
            if "error" in outcome:
                break
            await put(to_parse, chunk)
            await put(to_hash, chunk)
    finally:
        await put(to_parse, None)
        await put(to_hash, None)
        for t in threads:
            await asyncio.to_thread(t.join)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    name = digest.hexdigest()
    for entry in tree.entries.values():
        if entry.ident:
            entry.ident = f"{name}@{entry.ident}"
    return tree
