"""The one way to write a tar into a root that is not trusted.

Every extraction goes through here: a layer's apply with its whiteouts (pull, load, import,
commit, build layers, ADD of a local tar: ``diff/apply.py``), ``docker cp`` into a container's
rootfs (``rootfs_files.extract_tar``) and into its volumes and bind mounts
(``engine/archive.py``), and the first-mount copy of image content into a volume
(``volumes/copyup.py``). The root's own path is ours and trusted; everything below it may have
been planted by an image or by a container that is still running and racing us.

How nothing leaves the root: the root is opened once (``O_PATH``) and every directory is
reached from that fd one component at a time with ``openat(O_NOFOLLOW)``. A symlink met on
the way is read and resolved with the root as ``/`` (an absolute target restarts at the root;
``..`` pops our own stack of directory fds, so it never climbs above the root, whatever was
renamed meanwhile). The last component of a member is never followed. Every write is made
relative to a directory fd (``mkdirat``, ``openat(O_CREAT|O_EXCL|O_NOFOLLOW)``, ``symlinkat``,
``mknodat``, ``linkat`` without ``AT_SYMLINK_FOLLOW``, ``unlinkat``), every attribute change on
an fd of the object itself (``fchown``, ``fchmod``, ``fsetxattr``, ``futimens``) or on a name in
a directory fd with ``AT_SYMLINK_NOFOLLOW`` (``fchownat``, ``utimensat``). Special files,
which cannot be opened for writing, get their mode through ``/proc/self/fd`` of an
``O_PATH|O_NOFOLLOW`` fd whose type was checked. A hard link's target is resolved in the root
the same way, and so are whiteouts: ``.wh.``, ``.wh..`` and ``.wh...`` name no entry and are
refused.

Why a walk and not ``openat2(RESOLVE_IN_ROOT)``: the walk gives the canonical names of the
directories it reaches, which deferred directory mtimes, opaque whiteouts and apart mode
(below) need; directories are cached by the name asked for (dropped whenever something that
could change a resolution is removed), so a layer's members, grouped by directory as tars
are, cost one ``openat`` per new directory, not one per component and member.

Apart mode (``apart=True``) applies a layer into an empty overlay upper directory before its
lower layers are finished, so independent layers can be extracted at the same time. Deletions
are written the way overlayfs stores them (a 0/0 character device for a whiteout,
``trusted.overlay.opaque=y`` for an opaque directory), which does not need the lowers. What
does need them is reported instead of guessed: the directories the apply had to create without
a tar entry, and ``NeedsLowers`` for a whiteout or hard link that reaches outside what the
layer itself made (images/unpack.py settles both).

Limits (``Limits``, one place): every archive is bounded while it streams, before anything is
written past the bound: the bytes its files expand to (``max_bytes``, and never more than the
free space of the root's filesystem less a reserve), its member count, the length of its names
and link targets, and the size of a pax or GNU long-name header (which ``tarfile`` reads whole).
What goes over is refused with an ``InvalidArgument`` that names the limit. The defaults can be
changed with ``DOCKYARD_EXTRACT_LIMITS`` (``max_bytes=1g,max_members=1000``) in the daemons'
environment, or with ``set_limits``.
"""

from __future__ import annotations

import base64
import errno
import os
import shutil
import stat
import tarfile
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import IO, Any, NamedTuple

from dockyard.archive.idmap import IdMap
from dockyard.errors import Internal, InvalidArgument, NotFound

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_OVERLAY_XATTR = "trusted.overlay."
_MAX_SYMLINKS = 255
_CHUNK = 1 << 20
_CACHE_MAX = 256
_DIR_PATH = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_READ = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Limits:
    """What one archive may write into a root (any extraction: layer, ``cp``, ADD)."""

    max_bytes: int = 64 << 30  # file content an archive expands to
    max_members: int = 10_000_000
    max_path: int = 4096  # a member's name or link target, in bytes (Linux' PATH_MAX)
    max_header: int = 1 << 20  # one pax or GNU long-name header (read whole by tarfile)
    disk_reserve: int = 512 << 20  # left free on the root's filesystem (at most 2 % of its size)

    @classmethod
    def parse(cls, text: str) -> Limits:
        """``"max_bytes=1g,max_members=100"`` (k/m/g/t suffixes, powers of 1024) over the defaults."""
        known = {f.name for f in fields(cls)}
        values: dict[str, int] = {}
        for item in filter(None, (i.strip() for i in text.split(","))):
            key, _, value = item.partition("=")
            if key not in known:
                raise InvalidArgument(f"extraction limits: unknown limit {key!r} (known: {', '.join(sorted(known))})")
            values[key] = _size(value, key)
        return replace(cls(), **values)


def _size(text: str, key: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    text = text.strip().lower().removesuffix("b")
    scale = units.get(text[-1:], 1)
    try:
        n = int(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        raise InvalidArgument(f"extraction limits: {key}={text!r} is not a size") from None
    if n < 0:
        raise InvalidArgument(f"extraction limits: {key} must not be negative")
    return n


_limits = Limits.parse(os.environ.get("DOCKYARD_EXTRACT_LIMITS", ""))


def limits() -> Limits:
    return _limits


def set_limits(new: Limits) -> Limits:
    """Replace the limits for the extractions to come; returns the previous ones (tests restore them)."""
    global _limits
    old, _limits = _limits, new
    return old


class LimitExceeded(InvalidArgument):
    """An archive went over one of the extraction ``Limits``."""


class _BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses oversized pax / long-name headers before tarfile reads them whole."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        header_types = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                        tarfile.SOLARIS_XHDTYPE)
        cap = _limits.max_header
        if self.type in header_types and self.size > cap:
            raise LimitExceeded(f"archive: a {self.size}-byte header exceeds the extraction limit "
                                f"max_header ({cap} bytes)")
        return super()._proc_member(tarfile_)  # type: ignore[misc,no-any-return]


def open_tar(src: IO[bytes], mode: str = "r|*", **kw: Any) -> tarfile.TarFile:
    """A tar read as a stream, with its headers bounded (``Limits.max_header``)."""
    return tarfile.open(fileobj=src, mode=mode, bufsize=_CHUNK, tarinfo=_BoundedTarInfo, **kw)  # type: ignore[call-overload,no-any-return]


class Budget:
    """What is left of one archive's ``Limits`` while it is extracted into ``root_fd``'s filesystem."""

    def __init__(self, root_fd: int, lim: Limits | None = None) -> None:
        self.lim = lim or _limits
        vfs = os.fstatvfs(root_fd)
        self.reserve = min(self.lim.disk_reserve, vfs.f_blocks * vfs.f_frsize // 50)
        self.free = vfs.f_bavail * vfs.f_frsize
        self.bytes = 0
        self.members = 0

    def take(self, member: tarfile.TarInfo) -> None:
        """Count ``member`` in; refuse it when it goes over a limit (nothing of it written yet)."""
        lim = self.lim
        self.members += 1
        if self.members > lim.max_members:
            raise LimitExceeded(f"archive: more than {lim.max_members} members exceed the extraction limit "
                                "max_members")
        for what, value in (("name", member.name), ("link target", member.linkname)):
            if len(os.fsencode(value)) > lim.max_path:
                raise LimitExceeded(f"archive member {value[:64]!r}...: its {what} exceeds the extraction limit "
                                    f"max_path ({lim.max_path} bytes)")
        if not member.isreg():
            return
        self.bytes += member.size
        if self.bytes > lim.max_bytes:
            raise LimitExceeded(f"archive member {member.name!r}: the archive expands beyond the extraction limit "
                                f"max_bytes ({lim.max_bytes} bytes)")
        if self.bytes > self.free - self.reserve:
            raise LimitExceeded(f"archive member {member.name!r}: the archive expands beyond the free disk space "
                                f"({self.free} bytes free, extraction limit disk_reserve keeps {self.reserve})")


class UnsafeLayerPath(InvalidArgument):
    """A tar member tried to reach outside the root; the archive is refused."""


class LayerApplyError(Internal):
    """An OS error while applying a member; names the member and path."""


class NeedsLowers(Exception):
    """Apart mode met a member whose effect depends on the lower layers' content."""


class Dir(NamedTuple):
    """A directory inside the root: an ``O_PATH`` fd (owned by the ``Root``) and its canonical names."""

    fd: int
    parts: tuple[str, ...]


def clean_member_name(name: str) -> list[str]:
    """Components of a member name relative to its base; refuse a ``..`` that climbs above it."""
    out: list[str] = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not out:
                raise UnsafeLayerPath(f"archive member {name!r}: path escapes the root")
            out.pop()
            continue
        out.append(comp)
    return out


class Root:
    """A directory every write is confined to; ``dir()`` reaches directories inside it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.fd = os.open(self.path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self._cache: dict[tuple[str, ...], Dir] = {}
        self._stale: list[int] = []

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.forget()
        self.trim()
        os.close(self.fd)

    def forget(self) -> None:
        """Something that may change what a name resolves to was removed: resolve again.

        The fds stay open until ``trim`` (between members), since a caller may still hold one."""
        self._stale += [d.fd for d in self._cache.values()]
        self._cache.clear()

    def trim(self) -> None:
        for fd in self._stale:
            os.close(fd)
        self._stale.clear()
        if len(self._cache) > _CACHE_MAX:
            self.forget()
            self.trim()

    def dir(self, parts: Sequence[str], *, create: bool = False, created: list[str] | None = None) -> Dir:
        """The directory ``parts`` (symlinks resolved inside the root, the last one too).

        Missing components are made (0755) with ``create``, their canonical paths appended to
        ``created``. Raises FileNotFoundError / NotADirectoryError, UnsafeLayerPath on a loop."""
        key = tuple(parts)
        if not key:
            return Dir(self.fd, ())
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._walk(key, create, created)
        return hit

    def _walk(self, parts: tuple[str, ...], create: bool, created: list[str] | None) -> Dir:
        stack: list[tuple[int, str]] = []  # fds below the root, and their names
        todo = list(reversed(parts))
        links = 0
        try:
            while todo:
                comp = todo.pop()
                if comp in ("", "."):
                    continue
                if comp == "..":
                    if stack:
                        os.close(stack.pop()[0])
                    continue
                cur = stack[-1][0] if stack else self.fd
                try:
                    stack.append((os.open(comp, _DIR_PATH, dir_fd=cur), comp))
                    continue
                except FileNotFoundError:
                    if not create:
                        raise
                    try:
                        os.mkdir(comp, 0o755, dir_fd=cur)
                        if created is not None:
                            created.append("/".join([*(n for _, n in stack), comp]))
                    except FileExistsError:
                        pass  # made meanwhile: open whatever it is
                    todo.append(comp)
                    continue
                except NotADirectoryError:
                    target = _readlink(comp, cur)
                links += 1
                if links > _MAX_SYMLINKS:
                    raise UnsafeLayerPath(f"too many symlinks resolving {'/'.join(parts)!r}")
                if target.startswith("/"):
                    while stack:
                        os.close(stack.pop()[0])
                todo += reversed(target.split("/"))
        except BaseException:
            for fd, _ in stack:
                os.close(fd)
            raise
        if not stack:
            return Dir(os.dup(self.fd), ())
        for fd, _ in stack[:-1]:
            os.close(fd)
        return Dir(stack[-1][0], tuple(n for _, n in stack))


def _readlink(name: str, dir_fd: int) -> str:
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError as err:
        if err.errno == errno.EINVAL:  # not a symlink: a file where a directory is needed
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), name) from None
        raise


def lstat_at(d: Dir, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=d.fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def remove_at(root: Root, d: Dir, name: str, st: os.stat_result | None = None) -> None:
    """Remove whatever ``name`` is in ``d`` (a directory with its content; nothing followed)."""
    st = st if st is not None else lstat_at(d, name)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=d.fd)
        root.forget()
    else:
        os.unlink(name, dir_fd=d.fd)
        if stat.S_ISLNK(st.st_mode):
            root.forget()


def open_dir(d: Dir, name: str = ".") -> int:
    """A readable fd of directory ``name`` in ``d`` (never through a symlink)."""
    return os.open(name, _DIR_READ, dir_fd=d.fd)


def create_file(d: Dir, name: str) -> int:
    """A new, empty regular file (0600) ``name`` in ``d``, open for writing."""
    return os.open(name, _NEW_FILE, 0o600, dir_fd=d.fd)


def set_owner_mode_fd(fd: int, uid: int, gid: int, mode: int) -> None:
    """Owner, then mode: chown clears setuid and setgid, so the mode comes second."""
    os.fchown(fd, uid, gid)
    os.fchmod(fd, mode & 0o7777)


def set_owner_mode_at(d: Dir, name: str, uid: int, gid: int, mode: int | None) -> None:
    """Owner and mode of a symlink or special file ``name`` in ``d`` (which cannot be opened to write).

    The mode goes through ``/proc/self/fd`` of an ``O_PATH|O_NOFOLLOW`` fd checked to be no
    symlink: a name swapped for a symlink meanwhile is never followed."""
    os.chown(name, uid, gid, dir_fd=d.fd, follow_symlinks=False)
    if mode is None:
        return
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d.fd)
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            raise UnsafeLayerPath(f"{name!r} became a symlink while it was extracted")
        os.chmod(f"/proc/self/fd/{fd}", mode & 0o7777)
    finally:
        os.close(fd)


def set_xattr(target: int | tuple[Dir, str], name: str, value: bytes) -> None:
    """An xattr on an fd, or on a name in a directory fd (never following it); what the
    filesystem cannot hold is skipped, except security ones (file capabilities matter)."""
    if name.startswith(_OVERLAY_XATTR):
        return  # overlayfs' own markers never come from an archive (a layer says .wh.)
    try:
        if isinstance(target, int):
            os.setxattr(target, name, value)
        else:
            os.setxattr(f"/proc/self/fd/{target[0].fd}/{target[1]}", name, value, follow_symlinks=False)
    except OSError as err:
        if err.errno not in (errno.ENOTSUP, errno.EPERM) or name.startswith("security."):
            raise


def member_xattrs(member: tarfile.TarInfo) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            out[key[len("SCHILY.xattr."):]] = value.encode("utf-8", "surrogateescape")
        elif key.startswith("LIBARCHIVE.xattr."):
            name = urllib.parse.unquote(key[len("LIBARCHIVE.xattr."):])
            out[name] = base64.b64decode(value + "=" * (-len(value) % 4))
    return out


def _is_whiteout(st: os.stat_result | None) -> bool:
    return st is not None and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


class Extractor:
    """Applies tar members into ``root`` below the directory ``base`` (canonical names).

    ``whiteouts``: a layer (``.wh.`` names delete, ``.wh..wh..opq`` empties a directory);
    otherwise (``docker cp``) such names are plain files. ``no_overwrite_dir_non_dir``:
    refuse to replace a directory with a non-directory or the reverse (Docker's
    ``noOverwriteDirNonDir``). ``owner``: every entry gets this uid:gid instead of the archive's
    (Docker's ``copyUIDGID``). ``ids``: a user namespace's ranges; the archive's owners are the
    container's ids, each written as the host id it is (one the ranges cannot map is refused).
    ``root_meta``: the archive's root entry (``.``) gives ``base`` its owner, mode, xattrs and mtime;
    by default a layer's does, ``docker cp`` leaves the target alone."""

    def __init__(self, root: Root, base: tuple[str, ...] = (), *, whiteouts: bool = True, apart: bool = False,
                 no_overwrite_dir_non_dir: bool = False, owner: tuple[int, int] | None = None,
                 ids: IdMap | None = None, root_meta: bool | None = None) -> None:
        self.root = root
        self.owner = owner if owner is None or ids is None else ids.to_host(*owner)
        self.ids = ids
        self.base = base
        self.whiteouts = whiteouts
        self.root_meta = whiteouts if root_meta is None else root_meta
        self.apart = apart
        self.no_overwrite = no_overwrite_dir_non_dir
        self.dir_times: list[tuple[tuple[str, ...], float]] = []
        self.unpacked: set[tuple[str, ...]] = set()
        self.implicit: list[str] = []  # apart mode: directories made without a tar entry
        self.budget = Budget(root.fd)

    def extract(self, tf: tarfile.TarFile) -> None:
        for member in tf:
            self.root.trim()
            self.budget.take(member)
            try:
                self.apply(tf, member)
            except (InvalidArgument, NeedsLowers):
                raise
            except OSError as err:
                raise LayerApplyError(f"archive member {member.name!r}: {err}") from err
        self.finish()

    def apply(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        if self.ids is not None:
            member.uid, member.gid = self.ids.to_host(member.uid, member.gid)
        if self.owner is not None:
            member.uid, member.gid = self.owner
        parts = clean_member_name(member.name)
        if not parts:
            if member.isdir() and self.root_meta:
                fd = open_dir(self.root.dir(self.base))
                try:
                    self._set_meta_fd(fd, member)
                finally:
                    os.close(fd)
                self.dir_times.append((self.base, member.mtime))
            return
        name = parts[-1]
        if self.whiteouts and name.startswith(WHITEOUT_PREFIX):
            self._whiteout(parts)
            return
        parent = self.root.dir((*self.base, *parts[:-1]), create=True, created=self.implicit if self.apart else None)
        st = lstat_at(parent, name)
        if member.isdir():
            self._dir(parent, name, st, member)
            return
        if st is not None:
            if self.no_overwrite and stat.S_ISDIR(st.st_mode):
                raise InvalidArgument(f"cannot overwrite directory {'/'.join(parts)!r} with non-directory")
            remove_at(self.root, parent, name, st)
        if member.isreg():
            self._file(tf, member, parent, name)
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=parent.fd)
            self._set_meta_at(parent, name, member, symlink=True)
        elif member.islnk():
            self._hardlink(member, parent, name)  # shares the target's inode and metadata
        elif member.ischr() or member.isblk() or member.isfifo():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
            os.mknod(name, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=parent.fd)
            self._set_meta_at(parent, name, member, symlink=False)
        else:
            return  # unknown types are skipped (as containerd does)
        self.unpacked.add((*parent.parts, name))

    def _dir(self, parent: Dir, name: str, st: os.stat_result | None, member: tarfile.TarInfo) -> None:
        if st is None:
            os.mkdir(name, 0o700, dir_fd=parent.fd)
        elif not stat.S_ISDIR(st.st_mode):
            if self.no_overwrite:
                raise InvalidArgument(f"cannot overwrite non-directory {name!r} with directory")
            remove_at(self.root, parent, name, st)
            os.mkdir(name, 0o700, dir_fd=parent.fd)
        fd = open_dir(parent, name)
        try:
            if self.apart and _is_whiteout(st):
                os.setxattr(fd, OPAQUE_XATTR, b"y")  # deleted then made again: hide the lowers' (as overlayfs)
            self._set_meta_fd(fd, member)
        finally:
            os.close(fd)
        key = (*parent.parts, name)
        self.dir_times.append((key, member.mtime))
        self.unpacked.add(key)

    def _file(self, tf: tarfile.TarFile, member: tarfile.TarInfo, parent: Dir, name: str) -> None:
        fd = create_file(parent, name)
        try:
            src = tf.extractfile(member)
            if src is not None:
                with os.fdopen(fd, "wb", buffering=0, closefd=False) as out:
                    shutil.copyfileobj(src, out, _CHUNK)
            self._set_meta_fd(fd, member)
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)

    def _hardlink(self, member: tarfile.TarInfo, parent: Dir, name: str) -> None:
        try:
            target = clean_member_name(member.linkname)
        except UnsafeLayerPath:
            raise UnsafeLayerPath(f"archive member {member.name!r}: hard link target {member.linkname!r} "
                                  "escapes the root") from None
        if not target:
            raise UnsafeLayerPath(f"archive member {member.name!r}: hard link to the root")
        try:
            tdir = self.root.dir((*self.base, *target[:-1]))
            tst = os.stat(target[-1], dir_fd=tdir.fd, follow_symlinks=False)
        except FileNotFoundError:
            if self.apart:
                raise NeedsLowers(f"hard link {member.name!r} to {member.linkname!r} of a lower layer") from None
            raise
        if self.apart and _is_whiteout(tst):
            raise NeedsLowers(f"hard link {member.name!r} to deleted {member.linkname!r}")
        if stat.S_ISDIR(tst.st_mode):
            raise UnsafeLayerPath(f"archive member {member.name!r}: hard link to a directory")
        os.link(target[-1], name, src_dir_fd=tdir.fd, dst_dir_fd=parent.fd, follow_symlinks=False)

    def _whiteout(self, parts: list[str]) -> None:
        name = parts[-1]
        if name.startswith(WHITEOUT_META_PREFIX) and name != WHITEOUT_OPAQUE:
            return  # other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs) is ignored
        hidden = name[len(WHITEOUT_PREFIX):]
        if name != WHITEOUT_OPAQUE and hidden in ("", ".", ".."):
            raise UnsafeLayerPath(f"layer member {'/'.join(parts)!r}: a whiteout that names no entry")
        try:
            parent = self.root.dir((*self.base, *parts[:-1]))
        except (FileNotFoundError, NotADirectoryError):
            if self.apart:  # the directory may be in a lower layer
                raise NeedsLowers(f"whiteout {'/'.join(parts)!r} outside the layer's own directories") from None
            return  # nothing below to hide
        if name == WHITEOUT_OPAQUE:
            self._opaque(parent)
            return
        remove_at(self.root, parent, hidden)
        if self.apart:
            os.mknod(hidden, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent.fd)  # overlayfs' whiteout

    def _opaque(self, parent: Dir) -> None:
        if self.apart and parent.parts == self.base:
            raise NeedsLowers("opaque whiteout of the root directory")
        fd = open_dir(parent)
        try:
            for entry in os.listdir(fd):
                if (*parent.parts, entry) not in self.unpacked:
                    remove_at(self.root, parent, entry)
            if self.apart:
                os.setxattr(fd, OPAQUE_XATTR, b"y")
        finally:
            os.close(fd)

    def _set_meta_fd(self, fd: int, member: tarfile.TarInfo) -> None:
        """Owner, then mode (chown clears setuid), then xattrs (chown clears file caps)."""
        set_owner_mode_fd(fd, member.uid, member.gid, member.mode)
        for key, value in member_xattrs(member).items():
            set_xattr(fd, key, value)

    def _set_meta_at(self, parent: Dir, name: str, member: tarfile.TarInfo, *, symlink: bool) -> None:
        set_owner_mode_at(parent, name, member.uid, member.gid, None if symlink else member.mode)
        for key, value in member_xattrs(member).items():
            set_xattr((parent, name), key, value)
        os.utime(name, (member.mtime, member.mtime), dir_fd=parent.fd, follow_symlinks=False)

    def finish(self) -> None:
        """Directory mtimes last: creating children would have changed them."""
        self.root.trim()
        for parts, mtime in reversed(self.dir_times):
            try:
                if not parts:
                    fd = open_dir(self.root.dir(()))
                    try:
                        os.utime(fd, (mtime, mtime))
                    finally:
                        os.close(fd)
                    continue
                parent = self.root.dir(parts[:-1])
                os.utime(parts[-1], (mtime, mtime), dir_fd=parent.fd, follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                continue  # removed or replaced later in the archive


def extract_archive(src: IO[bytes], root: str | Path, dest: str = "/", *,
                    no_overwrite_dir_non_dir: bool = False, owner: tuple[int, int] | None = None,
                    ids: IdMap | None = None) -> None:
    """``docker cp`` into ``dest`` of ``root``: a plain or compressed tar, streamed (``owner`` and
    ``ids`` as ``Extractor``'s).

    ``dest`` is resolved inside the root (its symlinks too, as dockerd's FollowSymlinkInScope)
    and must be a directory; members may not climb above it, ``.wh.`` names are plain files."""
    with Root(root) as r:
        try:
            base = r.dir([p for p in dest.split("/") if p])
        except FileNotFoundError:
            raise NotFound(f"Could not find the file {dest} in container") from None
        except NotADirectoryError:
            raise InvalidArgument(f"extraction point is not a directory: {dest}") from None
        try:
            tf = open_tar(src)
        except tarfile.TarError as err:
            raise InvalidArgument(f"archive: not a tar: {err}") from err
        with tf:
            try:
                Extractor(r, base.parts, whiteouts=False, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
                          owner=owner, ids=ids).extract(tf)
            except tarfile.TarError as err:
                raise InvalidArgument(f"archive: {err}") from err
