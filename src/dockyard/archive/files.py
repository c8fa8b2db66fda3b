"""A path in a root we do not trust, as ``docker cp`` reads and writes it: stat (``stat_path``),
tar (``write_tar``) and untar (``extract_tar``, through ``safe_extract``), for a container's
rootfs (containerd mounts it: ``containerd/rootfs_files.py``) and for its volumes and bind mounts
(the engine's ``archive.py``).

The directory may be in use and racing us, so reads are made as writes are: the root is opened
once and every path is walked from its fd (``Root.dir``: ``O_NOFOLLOW`` a component at a time,
symlinks resolved with the root as ``/``); the last component is opened ``O_PATH|O_NOFOLLOW``
and read through that fd, directories are listed and descended through their fds. A name
swapped for a symlink meanwhile is never followed out of the root.

Path semantics are dockerd's ``ResolvePath``: the directory part of a path is resolved in the
root, its last element is not (a symlink is archived as a symlink); a trailing ``/`` or ``/.``
resolves the whole path.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import posixpath
import stat
import tarfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Any, NamedTuple

from dockyard import errors
from dockyard.archive.idmap import IdMap
from dockyard.archive.safe_extract import Dir, Root, extract_archive

# Go's os.FileMode type bits, which the docker CLI decodes from X-Docker-Container-Path-Stat
GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27
GO_MODE_DEVICE = 1 << 26
GO_MODE_PIPE = 1 << 25
GO_MODE_SOCKET = 1 << 24
GO_MODE_SETUID = 1 << 23
GO_MODE_SETGID = 1 << 22
GO_MODE_CHARDEV = 1 << 21
GO_MODE_STICKY = 1 << 20
_MAX_SYMLINKS = 255
_CHUNK = 1 << 20
_NODE = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class Located(NamedTuple):
    """A path of the container: the directory holding it and its name there ("" = that directory)."""

    dir: Dir
    name: str
    abs_path: str  # as asked, made absolute (trailing "/" or "/." kept, as dockerd's absPath)


def abs_path(path: str) -> str:
    """dockerd's absPath: ``/``-rooted and cleaned, a trailing ``/`` or ``/.`` preserved."""
    clean = posixpath.normpath("/" + path)
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    if (path.endswith("/.") or path == ".") and clean != "/":
        return clean + "/."
    if path.endswith("/") and clean != "/":
        return clean + "/"
    return clean


def locate(r: Root, path: str) -> Located:
    """Where container ``path`` is (it need not exist); its directory part resolved inside ``r``."""
    absolute = abs_path(path)
    parts = [p for p in absolute.split("/") if p not in ("", ".")]
    whole = absolute.endswith(("/", "/.")) or not parts
    try:
        if whole:
            return Located(r.dir(parts), "", absolute)
        return Located(r.dir(parts[:-1]), parts[-1], absolute)
    except FileNotFoundError:
        raise errors.NotFound(f"Could not find the file {path} in container") from None
    except NotADirectoryError:
        raise errors.InvalidArgument(f"{path}: not a directory") from None


def _lstat(loc: Located, path: str) -> os.stat_result:
    try:
        return os.stat(loc.name or ".", dir_fd=loc.dir.fd, follow_symlinks=False)
    except FileNotFoundError:
        raise errors.NotFound(f"Could not find the file {path} in container") from None


def resolve_link(r: Root, parts: list[str]) -> str:
    """The container path a symlink at ``parts`` finally names, every link resolved inside the root
    (dockerd's linkTarget); a dangling link gives the path it would name."""
    for _ in range(_MAX_SYMLINKS):
        try:
            parent = r.dir(parts[:-1])
        except (FileNotFoundError, NotADirectoryError):
            return posixpath.normpath("/" + "/".join(parts))
        name = parts[-1]
        try:
            target = os.readlink(name, dir_fd=parent.fd)
        except OSError as err:  # no symlink (EINVAL) or gone: the path is the answer
            if err.errno not in (errno.EINVAL, errno.ENOENT):
                raise
            return "/" + "/".join([*parent.parts, name])
        base = [] if target.startswith("/") else list(parent.parts)
        parts = [*base, *(p for p in target.split("/") if p not in ("", "."))]
        if not parts or parts[-1] == "..":
            return "/" + "/".join(r.dir(parts).parts)
    raise errors.InvalidArgument(f"too many symlinks resolving /{'/'.join(parts)}")


def go_mode(st: os.stat_result) -> int:
    """Go's os.FileMode of a stat result (type and special bits apart from the permissions)."""
    mode = stat.S_IMODE(st.st_mode) & 0o777
    kinds = ((stat.S_ISDIR, GO_MODE_DIR), (stat.S_ISLNK, GO_MODE_SYMLINK), (stat.S_ISFIFO, GO_MODE_PIPE),
             (stat.S_ISSOCK, GO_MODE_SOCKET), (stat.S_ISBLK, GO_MODE_DEVICE),
             (stat.S_ISCHR, GO_MODE_DEVICE | GO_MODE_CHARDEV))
    for test, bit in kinds:
        if test(st.st_mode):
            mode |= bit
    for bit, go in ((stat.S_ISUID, GO_MODE_SETUID), (stat.S_ISGID, GO_MODE_SETGID), (stat.S_ISVTX, GO_MODE_STICKY)):
        if st.st_mode & bit:
            mode |= go
    return mode


def stat_path(root: str, path: str, name: str | None = None) -> dict[str, Any]:
    """``HEAD /containers/{id}/archive``: what ``path`` is (its last symlink not followed)."""
    with Root(root) as r:
        loc = locate(r, path)
        st = _lstat(loc, path)
        link = ""
        if stat.S_ISLNK(st.st_mode):
            link = resolve_link(r, [*loc.dir.parts, loc.name])
    mtime = datetime.fromtimestamp(st.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    base = name or posixpath.basename(loc.abs_path.rstrip("/")) or "/"
    return {"name": base, "size": st.st_size, "mode": go_mode(st), "mtime": mtime, "linkTarget": link}


def write_tar(root: str, path: str, out: IO[bytes], top: str | None = None, ids: IdMap | None = None) -> None:
    """A tar of ``path`` (dockerd's: its entries named from the path's base name, ``.`` for ``dir/.``,
    so the root is ``/`` and ``.``, ``./``, ``/.`` are ``./``; under ``top`` when given); the path ""
    is the whole root with names relative to it (``docker export``). ``ids``: a user namespace's
    ranges; the owners are written as the container sees them."""
    with Root(root) as r:
        loc = locate(r, path)
        st = _lstat(loc, path)
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_CHUNK) as tf:
            writer = _TarWriter(tf, ids)
            if loc.abs_path == "/" and top is None:
                if path:  # Go's filepath.Base of the path asked for: "/" or "."
                    writer.add(loc.dir.fd, ".", "." if posixpath.basename(path.rstrip("/")) == "." else "/")
                    return
                fd = _reopen(os.open(".", _NODE, dir_fd=loc.dir.fd), os.O_RDONLY | os.O_DIRECTORY)
                writer.children(fd, "")
                return
            base = top or ("." if loc.abs_path.endswith("/.") else posixpath.basename(loc.abs_path.rstrip("/")))
            if not stat.S_ISDIR(st.st_mode) and loc.name == "":
                raise errors.InvalidArgument(f"{path}: not a directory")
            writer.add(loc.dir.fd, loc.name or ".", base)


def _reopen(path_fd: int, flags: int) -> int:
    """A readable fd of exactly the inode ``path_fd`` (an ``O_PATH`` fd, closed here) holds."""
    try:
        return os.open(f"/proc/self/fd/{path_fd}", flags | os.O_CLOEXEC)
    finally:
        os.close(path_fd)


class _TarWriter:
    """Writes what it finds through directory fds; never opens a name through a symlink."""

    def __init__(self, tf: tarfile.TarFile, ids: IdMap | None = None) -> None:
        self.tf = tf
        self.ids = ids
        self.links: dict[tuple[int, int], str] = {}

    def add(self, dir_fd: int, name: str, arcname: str) -> None:
        sub = self._entry(dir_fd, name, arcname)
        if sub is not None:
            self.children(sub, "./" if arcname == "." else arcname.rstrip("/") + "/")

    def children(self, fd: int, prefix: str) -> None:
        """The tree below directory ``fd`` (closed here), sorted, names under ``prefix``; depth-first
        with a stack of directory fds (a deep tree costs no recursion)."""
        stack: list[tuple[int, Iterator[str], str]] = [(fd, iter(()), "")]
        try:
            stack[-1] = (fd, iter(sorted(os.listdir(fd))), prefix)
            while stack:
                dfd, names, pre = stack[-1]
                name = next(names, None)
                if name is None:
                    os.close(stack.pop()[0])
                    continue
                sub = self._entry(dfd, name, pre + name)
                if sub is not None:
                    stack.append((sub, iter(()), ""))  # owned by the stack before listdir can fail
                    stack[-1] = (sub, iter(sorted(os.listdir(sub))), pre + name + "/")
        finally:
            for dfd, _, _ in stack:
                os.close(dfd)

    def _entry(self, dir_fd: int, name: str, arcname: str) -> int | None:
        """Archive ``name`` of ``dir_fd``; a directory's readable fd is returned for its children."""
        try:
            node = os.open(name, _NODE, dir_fd=dir_fd)
        except FileNotFoundError:
            return None  # removed while we read: as tar, skip it
        st = os.fstat(node)
        ti = self._info(st, arcname)
        if ti is None or not (stat.S_ISDIR(st.st_mode) or ti.type == tarfile.REGTYPE):
            if ti is not None and ti.type == tarfile.SYMTYPE:
                ti.linkname = os.readlink("", dir_fd=node)
            os.close(node)
            if ti is not None:
                self.tf.addfile(ti)
            return None
        if stat.S_ISDIR(st.st_mode):
            fd = _reopen(node, os.O_RDONLY | os.O_DIRECTORY)
            self.tf.addfile(ti)
            return fd
        self._file(_reopen(node, os.O_RDONLY), ti)
        return None

    def _info(self, st: os.stat_result, arcname: str) -> tarfile.TarInfo | None:
        ti = tarfile.TarInfo(arcname)
        ti.mode = stat.S_IMODE(st.st_mode)
        ti.uid, ti.gid = (st.st_uid, st.st_gid) if self.ids is None else self.ids.to_container(st.st_uid, st.st_gid)
        ti.mtime = int(st.st_mtime)
        mode = st.st_mode
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.links:
                ti.type, ti.linkname = tarfile.LNKTYPE, self.links[key]
                return ti
            if st.st_nlink > 1:
                self.links[key] = arcname
            ti.type, ti.size = tarfile.REGTYPE, st.st_size
        elif stat.S_ISDIR(mode):
            ti.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            ti.type = tarfile.SYMTYPE
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            ti.type = tarfile.FIFOTYPE
        else:
            return None  # sockets are not archived (as dockerd)
        return ti

    def _file(self, fd: int, ti: tarfile.TarInfo) -> None:
        """The file's bytes as they are now; a file that shrank meanwhile is padded with zeros, one
        that grew is cut at the size in its header."""
        try:
            with contextlib.suppress(OSError):
                # typeshed: pax_headers a Mapping; a TarInfo's own is a dict
                ti.pax_headers["SCHILY.xattr.security.capability"] = os.getxattr(  # type: ignore[index]
                    fd, "security.capability").decode("utf-8", "surrogateescape")
            with os.fdopen(fd, "rb", buffering=0, closefd=False) as src:
                self.tf.addfile(ti, _Exactly(src, ti.size))
        finally:
            os.close(fd)


class _Exactly:
    """Reads exactly ``size`` bytes of ``src``: zeros after an early end."""

    def __init__(self, src: IO[bytes], size: int) -> None:
        self.src, self.left = src, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.src.read(n) or b""
        if not data and n:
            data = bytes(n)
        self.left -= len(data)
        return data


def extract_tar(root: str, path: str, src: IO[bytes], no_overwrite_dir_non_dir: bool = False,
                owner: tuple[int, int] | None = None, ids: IdMap | None = None) -> None:
    """Unpack a tar into directory ``path`` of the container (``docker cp`` into it; ``ids``: the
    archive's owners are a user namespace's, written as the host ids they are).

    Through the one routine for untrusted roots (``archive/safe_extract``): the container
    may have planted symlinks anywhere, and may still be running."""
    extract_archive(src, root, path, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir, owner=owner, ids=ids)


async def extract_stream(chunks: AsyncIterator[bytes], consume: Callable[[IO[bytes]], None]) -> None:
    """Feed ``chunks`` through a pipe to ``consume`` (run in a thread), nothing spooled: the archive's
    limits (``safe_extract.Limits``) stop it while it streams. Raises what ``consume`` raised."""
    rfd, wfd = os.pipe()
    reader = os.fdopen(rfd, "rb")

    def run() -> None:
        with reader:  # closed as soon as the archive is done with: the writer below then stops
            consume(reader)

    job = asyncio.ensure_future(asyncio.to_thread(run))
    try:
        with os.fdopen(wfd, "wb") as out:
            async for data in chunks:
                if job.done():
                    break
                try:
                    await asyncio.to_thread(_write_all, out, data)
                except BrokenPipeError:
                    break
    except BrokenPipeError:
        pass  # the close flushed into a reader that had finished
    finally:
        await asyncio.wait([job])
    job.result()


def _write_all(out: IO[bytes], data: bytes) -> None:
    out.write(data)
    out.flush()
