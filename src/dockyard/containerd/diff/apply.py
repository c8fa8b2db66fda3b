"""Apply an uncompressed layer tar onto a directory with OCI/Docker semantics.

Security model: every member path is resolved *inside* ``root`` the way
filepath-securejoin does it: ``..`` never climbs above root, absolute names
and absolute symlink targets are re-rooted, intermediate symlinks are followed
lexically within root, and the final component is never followed (existing
entries are replaced, files are opened O_NOFOLLOW|O_EXCL). Hard-link targets
are resolved the same way. A layer can therefore never write outside ``root``,
whatever symlinks it or its lower layers contain. Unpack runs single-writer on
a fresh snapshot, so there is no concurrent path swapping to race against.

Apart mode (``apply_layer_apart``) applies a layer into an empty overlay upper
directory before its lower layers are finished, so independent layers can be
extracted at the same time. Deletions are written the way overlayfs stores them
(a 0/0 character device for a whiteout, ``trusted.overlay.opaque=y`` for an
opaque directory), which does not need the lowers. What does need them is
reported instead of guessed: the directories the apply had to create without a
tar entry (their owner and mode come from the lower that has them, and a lower
symlink there would have been followed), and ``NeedsLowers`` for a whiteout or
hard link that reaches outside what the layer itself made. The unpacker then
checks the first against the finished lowers and applies the layer again on
its parent for the second (images/unpack.py).
"""

from __future__ import annotations

import base64
import errno
import os
import shutil
import stat
import tarfile
import urllib.parse
from pathlib import Path
from typing import BinaryIO

from dockyard.errors import Internal, InvalidArgument
from dockyard.oci.digest import Digester

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
_MAX_SYMLINKS = 255
_CHUNK = 1 << 20
_OVERLAY_XATTR = "trusted.overlay."
OPAQUE_XATTR = "trusted.overlay.opaque"


class UnsafeLayerPath(InvalidArgument):
    """A tar member tried to reach outside the root; the layer is refused."""


class LayerApplyError(Internal):
    """An OS error while applying a member; names the member and path."""


class NeedsLowers(Exception):
    """Apart mode met a member whose effect depends on the lower layers' content."""


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


def clean_member_name(name: str) -> list[str]:
    """Components of a member name relative to root; refuse ``..`` that escapes."""
    out: list[str] = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not out:
                raise UnsafeLayerPath(f"layer member {name!r}: path escapes the root")
            out.pop()
            continue
        out.append(comp)
    return out


def resolve_in_root(root: str, parts: list[str], *, create: bool = False,
                    created: list[str] | None = None) -> str:
    """Host path of directory ``parts`` under ``root``, following symlinks inside root.

    Missing components are created (0755) when ``create`` is set, and their
    paths relative to root appended to ``created``. The result contains no
    symlinks, so using it cannot leave ``root``.
    """
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
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(candidate, 0o755)
            current.append(comp)
            if created is not None:
                created.append("/".join(current))
            continue
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


def _remove(path: str) -> None:
    """Remove whatever is at ``path`` (never following a final symlink)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _xattrs(member: tarfile.TarInfo) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            out[key[len("SCHILY.xattr."):]] = value.encode("utf-8", "surrogateescape")
        elif key.startswith("LIBARCHIVE.xattr."):
            name = urllib.parse.unquote(key[len("LIBARCHIVE.xattr."):])
            out[name] = base64.b64decode(value + "=" * (-len(value) % 4))
    return out


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


class _Applier:
    def __init__(self, root: Path, apart: bool = False) -> None:
        self.root = os.path.realpath(root)
        self.apart = apart
        self.dir_times: list[tuple[str, float]] = []
        self.unpacked: set[str] = set()
        self.implicit: list[str] = []  # apart mode: directories made without a tar entry

    def _parent(self, parts: list[str]) -> str:
        return resolve_in_root(self.root, parts[:-1], create=True, created=self.implicit if self.apart else None)

    def apply(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = clean_member_name(member.name)
        if not parts:
            if member.isdir():
                self._set_meta(self.root, member)
                self.dir_times.append((self.root, member.mtime))
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parts)
            return
        parent = self._parent(parts)
        path = os.path.join(parent, base)
        rel = os.path.relpath(path, self.root)
        if member.isdir():
            try:
                st = os.lstat(path)
                if not stat.S_ISDIR(st.st_mode):
                    _remove(path)
                    os.mkdir(path, 0o700)
                    if self.apart and _is_whiteout(st):
                        # deleted then made again: hide the lowers' directory (overlayfs does the same)
                        os.setxattr(path, OPAQUE_XATTR, b"y", follow_symlinks=False)
            except FileNotFoundError:
                os.mkdir(path, 0o700)
            self._set_meta(path, member)
            self.dir_times.append((path, member.mtime))
            self.unpacked.add(rel)
            return
        _remove(path)
        if member.isreg():
            self._write_file(tf, member, path)
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            self._hardlink(member, path)
            self.unpacked.add(rel)
            return  # a hard link shares the target's inode and metadata
        elif member.ischr() or member.isblk() or member.isfifo():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
            os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        else:
            return  # unknown types are skipped (as containerd does)
        self._set_meta(path, member)
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
        self.unpacked.add(rel)

    def _write_file(self, tf: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            src = tf.extractfile(member)
            if src is not None:
                shutil.copyfileobj(src, out, _CHUNK)

    def _hardlink(self, member: tarfile.TarInfo, path: str) -> None:
        try:
            target_parts = clean_member_name(member.linkname)
        except UnsafeLayerPath:
            raise UnsafeLayerPath(f"layer member {member.name!r}: hard link target {member.linkname!r} escapes the root") from None
        if not target_parts:
            raise UnsafeLayerPath(f"layer member {member.name!r}: hard link to the root")
        try:
            target_dir = resolve_in_root(self.root, target_parts[:-1])
            target = os.path.join(target_dir, target_parts[-1])
            target_st = os.lstat(target)
        except FileNotFoundError:
            if self.apart:
                raise NeedsLowers(f"hard link {member.name!r} to {member.linkname!r} of a lower layer") from None
            raise
        if self.apart and _is_whiteout(target_st):
            raise NeedsLowers(f"hard link {member.name!r} to deleted {member.linkname!r}")
        if stat.S_ISDIR(target_st.st_mode):
            raise UnsafeLayerPath(f"layer member {member.name!r}: hard link to a directory")
        os.link(target, path, follow_symlinks=False)

    def _whiteout(self, parts: list[str]) -> None:
        base = parts[-1]
        if base.startswith(WHITEOUT_META_PREFIX) and base != WHITEOUT_OPAQUE:
            return  # other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs) is ignored
        try:
            parent = resolve_in_root(self.root, parts[:-1])
        except (FileNotFoundError, NotADirectoryError):
            if self.apart:  # the directory may be in a lower layer
                raise NeedsLowers(f"whiteout {'/'.join(parts)!r} outside the layer's own directories") from None
            return  # nothing below to hide
        if base == WHITEOUT_OPAQUE:
            if self.apart and parent == self.root:
                raise NeedsLowers("opaque whiteout of the root directory")
            prel = os.path.relpath(parent, self.root)
            for entry in os.listdir(parent):
                rel = os.path.normpath(os.path.join(prel, entry))
                if rel not in self.unpacked:
                    _remove(os.path.join(parent, entry))
            if self.apart:
                os.setxattr(parent, OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        path = os.path.join(parent, base[len(WHITEOUT_PREFIX):])
        _remove(path)
        if self.apart:
            os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))  # overlayfs' whiteout: hides the lowers' entry

    def _set_meta(self, path: str, member: tarfile.TarInfo) -> None:
        """Owner, then mode (chown clears setuid), then xattrs (chown clears file caps)."""
        os.lchown(path, member.uid, member.gid)
        if not member.issym():
            os.chmod(path, member.mode & 0o7777)
        for name, value in _xattrs(member).items():
            if name.startswith(_OVERLAY_XATTR):
                continue  # overlayfs' own markers never come from a layer (a layer says .wh.)
            try:
                os.setxattr(path, name, value, follow_symlinks=False)
            except OSError as err:
                if err.errno not in (errno.ENOTSUP, errno.EPERM) or name.startswith("security."):
                    raise

    def finish(self) -> None:
        """Directory mtimes last: creating children would have changed them."""
        for path, mtime in reversed(self.dir_times):
            os.utime(path, (mtime, mtime), follow_symlinks=False)


def apply_layer(tar_stream: BinaryIO, root: Path) -> int:
    """Apply the uncompressed layer ``tar_stream`` onto ``root``; returns bytes read.

    The stream is read to EOF, so a wrapping ``HashingReader`` sees the whole
    tar (including end padding) and yields the diff_id.
    """
    return _apply(tar_stream, _Applier(root))


def apply_layer_apart(tar_stream: BinaryIO, root: Path) -> list[str]:
    """Apply a layer into the empty overlay upper ``root`` before its lowers are known.

    Returns the directories (relative to root) made without a tar entry, to be
    checked against the lowers; raises ``NeedsLowers`` (the stream then is not
    read to the end) when the layer cannot be applied without them.
    """
    applier = _Applier(root, apart=True)
    _apply(tar_stream, applier)
    return [p for p in dict.fromkeys(applier.implicit) if p not in applier.unpacked]  # a later entry made it explicit


def _apply(tar_stream: BinaryIO, applier: _Applier) -> int:
    # a caller that needs the diff_id passes its own HashingReader (a stream import hashes apart)
    reader = tar_stream if isinstance(tar_stream, HashingReader) else HashingReader(tar_stream, known="")
    with tarfile.open(fileobj=reader, mode="r|", errorlevel=2, bufsize=_CHUNK) as tf:  # type: ignore[call-overload]
        for member in tf:
            try:
                applier.apply(tf, member)
            except (UnsafeLayerPath, InvalidArgument, NeedsLowers):
                raise
            except OSError as err:
                raise LayerApplyError(f"layer member {member.name!r}: {err}") from err
    applier.finish()
    reader.drain()
    return reader.size
