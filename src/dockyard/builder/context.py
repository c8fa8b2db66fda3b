"""Build filesystems held in memory: the sent context, and a stage's merged layers (for COPY --from).

The engine must not mount, so files that COPY needs are read from tars: the context tar the
client sent, or an image's layer blobs merged in order with whiteouts applied.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import posixpath
import tarfile
from dataclasses import dataclass


@dataclass
class Entry:
    info: tarfile.TarInfo
    data: bytes = b""  # a memoryview of the context for big files (anything bytes-like reads it)
    # for big files: "<sha256 of the tar they came in>@<offset>", which names the bytes without
    # hashing them again ("" when the data must be read to be known)
    ident: str = ""


class FileTree:
    """Path (no leading slash) to tar entry; directories implied by their children too."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    @staticmethod
    def norm(path: str) -> str:
        p = posixpath.normpath("/" + path).lstrip("/")
        return "" if p == "." else p

    def add_tar(self, data: bytes, digest: str = "") -> None:
        """Merge a tar (plain or compressed) in, applying whiteouts. Plain tars take a fast
        path (``_members``): tarfile costs ~0.1 ms a member, which a cached build feels.
        ``digest``: the tar's sha256, if known, to give big files their ``ident``."""
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
            digest = ""
        try:
            members = list(_members(data))
        except (_Unsupported, ValueError, IndexError):
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
                members = [(m, tf.extractfile(m).read() if m.isreg() else b"", -1)  # type: ignore[union-attr]
                           for m in tf]
        self._merge(members, digest)

    def _merge(self, members: list[tuple[tarfile.TarInfo, bytes, int]], digest: str = "") -> None:
        for m, payload, offset in members:
            name = self.norm(m.name)
            if not name:
                continue
            base = posixpath.basename(name)
            parent = posixpath.dirname(name)
            if base == ".wh..wh..opq":
                prefix = parent + "/" if parent else ""
                for k in [k for k in self.entries if k.startswith(prefix) and k != parent]:
                    del self.entries[k]
                continue
            if base.startswith(".wh."):
                gone = posixpath.join(parent, base[4:])
                for k in [k for k in self.entries if k == gone or k.startswith(gone + "/")]:
                    del self.entries[k]
                continue
            if name in self.entries and not m.isdir():
                for k in [k for k in self.entries if k.startswith(name + "/")]:
                    del self.entries[k]
            m.name = name
            ident = f"{digest}@{offset}" if digest and offset >= 0 and isinstance(payload, memoryview) else ""
            self.entries[name] = Entry(m, payload, ident)

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


_BIG = 1 << 16  # payloads from this size on stay views of the tar they came in


class _Unsupported(Exception):
    """A member the fast reader leaves to tarfile (sparse files, odd headers)."""


def _num(field: bytes) -> int:
    if field[:1] in (b"\x80", b"\xff"):
        raise _Unsupported  # base-256
    s = field.split(b"\0", 1)[0].strip()
    return int(s, 8) if s else 0


def _members(data: bytes):  # type: ignore[no-untyped-def]
    """(TarInfo, payload) of a plain ustar/pax/GNU tar, without tarfile's per-member overhead."""
    mv = memoryview(data)
    off, end = 0, len(data)
    pax: dict[str, str] = {}
    long_name = long_link = ""
    while off + 512 <= end:
        hdr = data[off:off + 512]
        if hdr.count(0) == 512:
            break
        if _num(hdr[148:156]) != sum(hdr[:148]) + 256 + sum(hdr[156:512]):
            raise _Unsupported
        typ = hdr[156:157]
        size = _num(hdr[124:136])
        body = off + 512
        off = body + ((size + 511) // 512) * 512
        if typ in (b"x", b"g"):
            if typ == b"x":
                pax = _pax(bytes(mv[body:body + size]))
            continue
        if typ in (b"L", b"K"):
            text = bytes(mv[body:body + size]).split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            if typ == b"L":
                long_name = text
            else:
                long_link = text
            continue
        if typ not in (b"0", b"\0", b"1", b"2", b"3", b"4", b"5", b"6", b"7"):
            raise _Unsupported
        name = hdr[0:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        if hdr[257:262] == b"ustar" and hdr[345:346] != b"\0":
            prefix = hdr[345:500].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            name = prefix + "/" + name
        ti = tarfile.TarInfo(pax.get("path") or long_name or name)
        if typ == b"5":
            ti.name = ti.name.rstrip("/")
        ti.type = b"0" if typ == b"\0" else typ
        ti.mode = _num(hdr[100:108])
        ti.uid = int(pax["uid"]) if "uid" in pax else _num(hdr[108:116])
        ti.gid = int(pax["gid"]) if "gid" in pax else _num(hdr[116:124])
        ti.size = int(pax["size"]) if "size" in pax else size
        if "size" in pax:
            off = body + ((ti.size + 511) // 512) * 512
        ti.mtime = int(float(pax["mtime"])) if "mtime" in pax else _num(hdr[136:148])
        ti.linkname = pax.get("linkpath") or long_link or \
            hdr[157:257].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        ti.uname = hdr[265:297].split(b"\0", 1)[0].decode("utf-8", "replace")
        ti.gname = hdr[297:329].split(b"\0", 1)[0].decode("utf-8", "replace")
        if typ in (b"3", b"4"):
            ti.devmajor, ti.devminor = _num(hdr[329:337]), _num(hdr[337:345])
        if any(k.startswith("SCHILY.xattr.") or k.startswith("GNU.sparse") for k in pax):
            if any(k.startswith("GNU.sparse") for k in pax):
                raise _Unsupported
            ti.pax_headers = dict(pax)
        if ti.type not in (b"0", b"7"):
            payload = b""
        elif ti.size < _BIG:
            payload = bytes(mv[body:body + ti.size])
        else:  # a view of the context: a 20 MB file is not copied again
            payload = mv[body:body + ti.size]  # type: ignore[assignment]
        pax, long_name, long_link = {}, "", ""
        yield ti, payload, body


def _pax(raw: bytes) -> dict[str, str]:
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


def is_archive(data: bytes) -> bool:
    """Whether ADD should unpack ``data`` (tar, possibly gzip/bzip2/xz compressed)."""
    head = bytes(data[:6])
    if head.startswith(b"\x1f\x8b"):
        try:
            inner = gzip.decompress(data)[:512]
        except (OSError, EOFError):
            return False
        return len(inner) >= 262 and inner[257:262] == b"ustar"
    if head.startswith((b"BZh", b"\xfd7zXZ")):
        return True
    return len(data) >= 262 and data[257:262] == b"ustar"


def materialize(tree: FileTree, root: str, dest: str) -> None:
    """Write the tree's entry at ``root`` (a file, or a directory and everything under it) to
    ``dest`` on disk: what ``RUN --mount=type=bind`` binds, since the engine must not mount."""
    import os

    r = tree.resolve(tree.norm(root))
    top = tree.entries.get(r)
    if top is not None and not top.info.isdir():
        _write(top, dest)
        return
    os.makedirs(dest, exist_ok=True)
    prefix = r + "/" if r else ""
    for e in tree.walk(root):
        rel = e.info.name[len(prefix):] if prefix else e.info.name
        if not rel or e.info.name == r:
            continue
        path = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _write(e, path)


def _write(e: Entry, path: str) -> None:
    import os

    info = e.info
    if info.isdir():
        os.makedirs(path, exist_ok=True)
        os.chmod(path, info.mode & 0o7777)
    elif info.issym():
        os.symlink(info.linkname, path)
    elif info.isreg() or info.islnk():
        with open(path, "wb") as f:
            f.write(e.data)
        os.chmod(path, info.mode & 0o7777)
    else:
        return
    try:
        os.lchown(path, info.uid, info.gid)
    except OSError:
        pass  # unprivileged (unit tests): ownership is best effort
