"""Build filesystems: the sent context (on disk), and a stage's merged layers (for COPY --from).

The engine must not mount, so files that COPY needs are read from tars: the context tar the
client sent, or an image's layer blobs merged in order with whiteouts applied.

A context is streamed (``receive.receive``): decompressed and parsed as it arrives, each
regular file written under a numbered name in a private directory of the daemon (``ContextDir``,
0700). Only metadata stays in memory: a 1 GiB context costs the daemon its tree, not its bytes.
Nothing on disk is named after the tar: no entry name, link or symlink of the context can reach
outside that directory.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import os
import posixpath
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PIECE = 1 << 20  # what is read, inflated or written at a time


class OnDisk:
    """A regular file's bytes kept in a context directory: a file of its own, or (``packed``)
    ``size`` bytes at ``offset`` of the directory's pack of small files. Read in pieces,
    whole only on demand."""

    __slots__ = ("path", "size", "offset", "packed")

    def __init__(self, path: str, size: int, offset: int = 0, packed: bool = False) -> None:
        self.path = path
        self.size = size
        self.offset = offset
        self.packed = packed

    def __len__(self) -> int:
        return self.size

    def chunks(self, size: int = PIECE) -> Iterator[bytes]:
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            pos, end = self.offset, self.offset + self.size
            while pos < end and (chunk := os.pread(fd, min(size, end - pos), pos)):
                pos += len(chunk)
                yield chunk
        finally:
            os.close(fd)

    def read(self, limit: int = -1) -> bytes:
        n = self.size if limit < 0 else min(limit, self.size)
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.pread(fd, n, self.offset)
        finally:
            os.close(fd)


Payload = bytes | memoryview | OnDisk


def read_payload(data: Payload, limit: int = -1) -> bytes:
    """The bytes of ``data`` (the first ``limit`` of them if given)."""
    if isinstance(data, OnDisk):
        return data.read(limit)
    return bytes(data if limit < 0 else data[:limit])


def payload_chunks(data: Payload) -> Iterator[bytes | memoryview]:
    if isinstance(data, OnDisk):
        yield from data.chunks()
    elif data:
        yield data


@dataclass(slots=True)
class Entry:
    info: tarfile.TarInfo
    data: Payload = b""  # in memory (layer trees, small files) or on disk (a build context's files)
    # "<sha256 of the tar they came in>@<offset>": names the bytes without hashing them again
    # ("" when the data must be read to be known)
    ident: str = ""


class FileTree:
    """Path (no leading slash) to tar entry; directories implied by their children too.

    ``store``: the directory holding the files of a received build context (None for trees
    held in memory)."""

    def __init__(self, store: ContextDir | None = None) -> None:
        self.entries: dict[str, Entry] = {}
        self.store = store

    @staticmethod
    def norm(path: str) -> str:
        p = posixpath.normpath("/" + path).lstrip("/")
        return "" if p == "." else p

    def add_tar(self, data: bytes, digest: str = "") -> None:
        """Merge a layer tar (plain or gzip) held in memory in, applying whiteouts. Plain tars
        take a fast path (``_members``): tarfile costs ~0.1 ms a member, which a cached build
        feels. ``digest``: the tar's sha256, if known, to give big files their ``ident``."""
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
            digest = ""
        try:
            members = list(_members(data))
        except (_Unsupported, ValueError, IndexError):
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
                members = [(m, tf.extractfile(m).read() if m.isreg() else b"", -1)  # type: ignore[union-attr]
                           for m in tf]
        for m, payload, offset in members:
            ident = f"{digest}@{offset}" if digest and offset >= 0 and isinstance(payload, memoryview) else ""
            self.merge(m, payload, ident)

    def merge(self, m: tarfile.TarInfo, payload: Payload, ident: str = "", whiteouts: bool = True) -> Entry | None:
        """Put one member in (a layer's whiteouts delete; a context's ``.wh.`` files are files)."""
        name = self.norm(m.name)
        if not name:
            return None
        base = posixpath.basename(name)
        parent = posixpath.dirname(name)
        if whiteouts and base == ".wh..wh..opq":
            prefix = parent + "/" if parent else ""
            for k in [k for k in self.entries if k.startswith(prefix) and k != parent]:
                del self.entries[k]
            return None
        if whiteouts and base.startswith(".wh."):
            gone = posixpath.join(parent, base[4:])
            for k in [k for k in self.entries if k == gone or k.startswith(gone + "/")]:
                del self.entries[k]
            return None
        if name in self.entries and not m.isdir():
            for k in [k for k in self.entries if k.startswith(name + "/")]:
                del self.entries[k]
        m.name = name
        entry = Entry(m, payload, ident)
        self.entries[name] = entry
        return entry

    def is_dir(self, path: str) -> bool:
        p = self.resolve(self.norm(path))
        if p == "":
            return True
        e = self.entries.get(p)
        if e is not None:
            return e.info.isdir()
        prefix = p + "/"
        return any(k.startswith(prefix) for k in self.entries)

    def resolve(self, path: str, depth: int = 0) -> str:
        """Follow symlinks in the path's components (inside the tree)."""
        parts = [c for c in path.split("/") if c]
        out: list[str] = []
        for i, comp in enumerate(parts):
            cur = "/".join(out + [comp])
            e = self.entries.get(cur)
            if e is not None and e.info.issym() and depth < 40:
                target = e.info.linkname
                base = "" if target.startswith("/") else "/".join(out)
                rest = "/".join(parts[i + 1:])
                return self.resolve(self.norm(posixpath.join(base, target, rest)), depth + 1)
            out.append(comp)
        return "/".join(out)

    def exists(self, path: str) -> bool:
        p = self.resolve(self.norm(path))
        return p == "" or p in self.entries or self.is_dir(p)

    def glob(self, pattern: str) -> list[str]:
        """Paths matching a Go ``filepath.Match`` pattern (per component), or the path itself."""
        pat = self.norm(pattern)
        if pat == "":
            return [""]
        if not any(c in pat for c in "*?["):
            return [pat] if self.exists(pat) else []
        names = set(self.entries)
        for k in list(names):
            parts = k.split("/")
            for i in range(1, len(parts)):
                names.add("/".join(parts[:i]))
        depth = pat.count("/")
        return sorted(n for n in names if n.count("/") == depth and
                      all(fnmatch.fnmatchcase(a, b) for a, b in zip(n.split("/"), pat.split("/"))))

    def walk(self, root: str) -> list[Entry]:
        """The entry at ``root`` and everything under it, parents first."""
        r = self.resolve(self.norm(root))
        prefix = r + "/" if r else ""
        out = [e for k, e in self.entries.items() if k == r or k.startswith(prefix)]
        out.sort(key=lambda e: e.info.name)
        return out


BIG = 1 << 16  # payloads from this size on stay views of the tar they came in


class _Unsupported(Exception):
    """A member the fast reader leaves to tarfile (sparse files, odd headers)."""


def header_num(field: bytes) -> int:
    if field[:1] in (b"\x80", b"\xff"):  # base-256 (GNU): big sizes, negative times
        n = int.from_bytes(field[1:], "big")
        return n - 256 ** (len(field) - 1) if field[:1] == b"\xff" else n
    s = field.split(b"\0", 1)[0].strip()
    return int(s, 8) if s else 0


def checksum_ok(hdr: bytes) -> bool:
    want = header_num(hdr[148:156])
    unsigned = sum(hdr[:148]) + 256 + sum(hdr[156:512])
    signed = unsigned - 256 * sum(1 for b in hdr[:148] + hdr[156:512] if b > 127)
    return want in (unsigned, signed)


def header_info(hdr: bytes, pax: dict[str, str], long_name: str, long_link: str) -> tarfile.TarInfo:
    """The member a ustar/pax/GNU header describes (with the pax and GNU long-name records before it)."""
    typ = hdr[156:157]
    name = hdr[0:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    if hdr[257:262] == b"ustar" and hdr[345:346] != b"\0":
        prefix = hdr[345:500].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        name = prefix + "/" + name
    ti = tarfile.TarInfo(pax.get("path") or long_name or name)
    if typ == b"5":
        ti.name = ti.name.rstrip("/")
    ti.type = b"0" if typ == b"\0" else typ
    ti.mode = header_num(hdr[100:108])
    ti.uid = int(pax["uid"]) if "uid" in pax else header_num(hdr[108:116])
    ti.gid = int(pax["gid"]) if "gid" in pax else header_num(hdr[116:124])
    ti.size = int(pax["size"]) if "size" in pax else header_num(hdr[124:136])
    ti.mtime = int(float(pax["mtime"])) if "mtime" in pax else header_num(hdr[136:148])
    ti.linkname = pax.get("linkpath") or long_link or \
        hdr[157:257].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    ti.uname = hdr[265:297].split(b"\0", 1)[0].decode("utf-8", "replace")
    ti.gname = hdr[297:329].split(b"\0", 1)[0].decode("utf-8", "replace")
    if typ in (b"3", b"4"):
        ti.devmajor, ti.devminor = header_num(hdr[329:337]), header_num(hdr[337:345])
    if any(k.startswith("SCHILY.xattr.") for k in pax):
        ti.pax_headers = dict(pax)
    return ti


def _members(data: bytes):  # type: ignore[no-untyped-def]
    """(TarInfo, payload, offset) of a plain ustar/pax/GNU tar in memory, without tarfile's
    per-member overhead."""
    mv = memoryview(data)
    off, end = 0, len(data)
    pax: dict[str, str] = {}
    long_name = long_link = ""
    while off + 512 <= end:
        hdr = data[off:off + 512]
        if hdr.count(0) == 512:
            break
        if header_num(hdr[148:156]) != sum(hdr[:148]) + 256 + sum(hdr[156:512]):
            raise _Unsupported
        typ = hdr[156:157]
        size = header_num(hdr[124:136])
        body = off + 512
        off = body + ((size + 511) // 512) * 512
        if typ in (b"x", b"g"):
            if typ == b"x":
                pax = pax_records(bytes(mv[body:body + size]))
            continue
        if typ in (b"L", b"K"):
            text = bytes(mv[body:body + size]).split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            if typ == b"L":
                long_name = text
            else:
                long_link = text
            continue
        if typ not in (b"0", b"\0", b"1", b"2", b"3", b"4", b"5", b"6", b"7") or \
                any(k.startswith("GNU.sparse") for k in pax):
            raise _Unsupported
        ti = header_info(hdr, pax, long_name, long_link)
        if "size" in pax:
            off = body + ((ti.size + 511) // 512) * 512
        if ti.type not in (b"0", b"7"):
            payload = b""
        elif ti.size < BIG:
            payload = bytes(mv[body:body + ti.size])
        else:  # a view of the tar: a 20 MB file is not copied again
            payload = mv[body:body + ti.size]  # type: ignore[assignment]
        pax, long_name, long_link = {}, "", ""
        yield ti, payload, body


def pax_records(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(raw):
        sp = raw.index(b" ", pos)
        length = int(raw[pos:sp])
        rec = raw[sp + 1:pos + length - 1]
        k, _, v = rec.partition(b"=")
        out[k.decode()] = v.decode("utf-8", "surrogateescape")
        pos += length
    return out


class _Slice(io.RawIOBase):
    """An ``OnDisk`` file's bytes as a read-only file (a packed file is a slice of the pack)."""

    def __init__(self, data: OnDisk) -> None:
        self._fd = os.open(data.path, os.O_RDONLY | os.O_CLOEXEC)
        self._pos, self._end = data.offset, data.offset + data.size

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        chunk = os.pread(self._fd, min(len(b), self._end - self._pos), self._pos)
        b[:len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def open_payload(data: Payload) -> io.BufferedReader | io.BytesIO:
    return io.BufferedReader(_Slice(data), PIECE) if isinstance(data, OnDisk) else io.BytesIO(data)


def is_archive(data: Payload) -> bool:
    """Whether ADD should unpack ``data`` (tar, possibly gzip/bzip2/xz compressed)."""
    head = read_payload(data, 512)
    if head.startswith(b"\x1f\x8b"):
        try:
            with open_payload(data) as f, gzip.GzipFile(fileobj=f) as g:
                inner = g.read(512)
        except (OSError, EOFError):
            return False
        return len(inner) >= 262 and inner[257:262] == b"ustar"
    if head.startswith((b"BZh", b"\xfd7zXZ")):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


# -- writing a tree out (RUN --mount=type=bind) ---------------------------------------

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def materialize(tree: FileTree, root: str, dest: str) -> None:
    """Write the tree's entry at ``root`` (a file, or a directory and everything under it) to
    ``dest`` on disk: what ``RUN --mount=type=bind`` binds, since the engine must not mount.

    Every file is made relative to a descriptor of its parent directory, opened without
    following symlinks: a symlink the tree holds is written as a symlink and never followed
    (an entry under it is skipped), so nothing lands outside ``dest``."""
    r = tree.resolve(tree.norm(root))
    top = tree.entries.get(r)
    if top is not None and not top.info.isdir():
        parent, name = os.path.split(dest)
        fd = os.open(parent, _DIR_FLAGS)
        try:
            _write_at(fd, name, top)
        finally:
            os.close(fd)
        return
    os.makedirs(dest, exist_ok=True)
    prefix = r + "/" if r else ""
    entries = [e for e in tree.walk(root) if e.info.name != r]
    entries.sort(key=lambda e: e.info.name.split("/"))  # depth first: a directory, then what it holds
    stack: list[tuple[list[str], int]] = [([], os.open(dest, _DIR_FLAGS))]
    try:
        for e in entries:
            parts = (e.info.name[len(prefix):] if prefix else e.info.name).split("/")
            dirs = parts[:-1]
            while len(stack) > 1 and stack[-1][0] != dirs[:len(stack[-1][0])]:
                os.close(stack.pop()[1])  # left that directory
            dir_fd = _open_dirs(stack, dirs)
            if dir_fd is not None:
                _write_at(dir_fd, parts[-1], e)
    finally:
        for _, fd in stack:
            os.close(fd)


def _open_dirs(stack: list[tuple[list[str], int]], parts: list[str]) -> int | None:
    """The descriptor of directory ``parts`` (made if missing), pushed on ``stack``; None when a
    component is not a directory we can enter without following a symlink."""
    while len(stack[-1][0]) < len(parts):
        path, fd = stack[-1]
        name = parts[len(path)]
        try:
            os.mkdir(name, 0o755, dir_fd=fd)
        except FileExistsError:
            pass
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError:  # a symlink (ELOOP) or a file (ENOTDIR) of the tree: nothing goes under it
            return None
        stack.append((path + [name], child))
    return stack[-1][1] if stack[-1][0] == parts else None


def _write_at(dir_fd: int, name: str, e: Entry) -> None:
    info = e.info
    if info.isdir():
        try:
            os.mkdir(name, 0o700, dir_fd=dir_fd)
        except FileExistsError:
            pass
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    elif info.issym():
        os.symlink(info.linkname, name, dir_fd=dir_fd)
        _own(lambda: os.chown(name, info.uid, info.gid, dir_fd=dir_fd, follow_symlinks=False))
        return
    elif info.isreg() or info.islnk():
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=dir_fd)
        try:
            for piece in payload_chunks(e.data):
                write_all(fd, piece)
        except BaseException:
            os.close(fd)
            raise
    else:
        return
    try:
        os.fchmod(fd, info.mode & 0o7777)
        _own(lambda: os.fchown(fd, info.uid, info.gid))
    finally:
        os.close(fd)


def _own(chown: Callable[[], None]) -> None:
    try:
        chown()
    except PermissionError:
        pass  # unprivileged (unit tests): ownership is best effort


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# -- receiving a context ----------------------------------------------------------------


def private_dir(path: Path) -> Path:
    """``path`` made (with its missing parents) and set to 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


class ContextDir:
    """The private directory (0700, under the daemon's data root) of one received context's
    regular files: big ones in files of their own, named by number, small ones appended to
    one pack file (creating a file costs a journal transaction: 200 small files took ~1 s on
    a busy disk, one pack a few ms). Reference-counted: the build and the kept-context cache
    each hold it; it is removed when the last one lets go."""

    def __init__(self, parent: Path) -> None:
        private_dir(parent)
        self.path = tempfile.mkdtemp(prefix="ctx-", dir=parent)  # 0700, a fresh name
        self.size = 0  # bytes of its files
        self._refs = 1
        self._count = 0
        self._lock = threading.Lock()
        self._pack = os.path.join(self.path, "pack")
        self._pack_fd = -1
        self._pack_size = 0

    def append(self, data: bytes) -> OnDisk:
        """A small file's bytes, added to the pack."""
        if self._pack_fd < 0:
            self._pack_fd = os.open(self._pack, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        offset = self._pack_size
        view = memoryview(data)
        while view:
            view = view[os.pwrite(self._pack_fd, view, offset + len(data) - len(view)):]
        self._pack_size += len(data)
        self.size += len(data)
        return OnDisk(self._pack, len(data), offset, packed=True)

    def seal(self) -> None:
        """Done appending (until the next ``append``)."""
        if self._pack_fd >= 0:
            os.close(self._pack_fd)
            self._pack_fd = -1

    def _name(self) -> str:
        with self._lock:
            self._count += 1
            return os.path.join(self.path, format(self._count, "x"))

    def create(self) -> tuple[int, str]:
        """A new empty file (descriptor, path)."""
        path = self._name()
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600), path

    def adopt(self, data: OnDisk) -> OnDisk:
        """A file of another context (a kept context's unchanged file): a small one copied into
        the pack, a big one hard-linked in, which then lives as long as either directory."""
        if data.packed:
            return self.append(data.read())
        path = self._name()
        os.link(data.path, path, follow_symlinks=False)
        self.size += data.size
        return OnDisk(path, data.size)

    def retain(self) -> ContextDir:
        with self._lock:
            self._refs += 1
        return self

    def release(self) -> None:
        with self._lock:
            self._refs -= 1
            gone = self._refs == 0
        if gone:
            self.seal()
            shutil.rmtree(self.path, ignore_errors=True)
