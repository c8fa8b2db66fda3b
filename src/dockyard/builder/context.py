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
    data: bytes = b""


class FileTree:
    """Path (no leading slash) to tar entry; directories implied by their children too."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    @staticmethod
    def norm(path: str) -> str:
        p = posixpath.normpath("/" + path).lstrip("/")
        return "" if p == "." else p

    def add_tar(self, data: bytes) -> None:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            for m in tf:
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
                payload = tf.extractfile(m).read() if m.isreg() else b""  # type: ignore[union-attr]
                m.name = name
                self.entries[name] = Entry(m, payload)

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


def is_archive(data: bytes) -> bool:
    """Whether ADD should unpack ``data`` (tar, possibly gzip/bzip2/xz compressed)."""
    head = data[:6]
    if head.startswith(b"\x1f\x8b"):
        try:
            inner = gzip.decompress(data)[:512]
        except (OSError, EOFError):
            return False
        return len(inner) >= 262 and inner[257:262] == b"ustar"
    if head.startswith((b"BZh", b"\xfd7zXZ")):
        return True
    return len(data) >= 262 and data[257:262] == b"ustar"
