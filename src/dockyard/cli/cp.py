"""``docker cp``: the docker CLI's copy rules (cli/command/container/cp.go over pkg/archive's copy.go).

The daemon only stats a path (``HEAD …/archive``), sends a tar of it (``GET``) and extracts a
tar into a directory (``PUT``); which directory, and under which names, is decided here from
both sides' stats, as the docker CLI decides it:

- SRC a file: DEST missing → a file named DEST (DEST ending in ``/`` → "no such directory");
  DEST a file → overwritten; DEST a directory → copied into it under SRC's name.
- SRC a directory: DEST missing → made as a copy of SRC; DEST a file → "cannot copy directory";
  DEST a directory → SRC copied into it, or only its content for ``SRC/.``.
- DEST's parent must exist; a symlink DEST is followed, a symlink SRC copied as a link unless ``-L``.
"""

from __future__ import annotations

import base64
import json
import os
import posixpath
import stat
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from typing import IO, Any, NamedTuple

from dockyard import errors
from dockyard.cli.errors import StatusError
from dockyard.client.http import Client, exists

GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27
_GO_MODE_ODD = {1 << 26: "a device", 1 << 25: "a named pipe", 1 << 24: "a socket", 1 << 19: "an irregular file"}
_CHUNK = 1 << 20

ERR_NOT_DIRECTORY = "not a directory"
ERR_DIR_NOT_EXISTS = "no such directory"
ERR_CANNOT_COPY_DIR = "cannot copy directory"


class CopyInfo(NamedTuple):
    path: str
    exists: bool = False
    is_dir: bool = False
    rebase_name: str = ""


# -- paths, as Go's filepath and pkg/archive see them ----------------------------------------------


def split_cp_arg(arg: str) -> tuple[str, str]:
    """``CONTAINER:PATH`` or a local path (absolute, or starting with ``.``, may hold a colon)."""
    if arg.startswith("/"):
        return "", arg
    ctr, sep, path = arg.partition(":")
    if not sep or ctr.startswith("."):
        return "", arg
    return ctr, path


def _clean(path: str) -> str:
    out = posixpath.normpath(path) if path else "."
    return "/" + out.lstrip("/") if out.startswith("//") else out


def go_base(path: str) -> str:
    """Go's filepath.Base: trailing slashes dropped first; "" → ".", only slashes → "/"."""
    if not path:
        return "."
    stripped = path.rstrip("/")
    return posixpath.basename(stripped) if stripped else "/"


def specifies_current_dir(path: str) -> bool:
    return go_base(path) == "."


def has_trailing_sep(path: str) -> bool:
    return path.endswith("/")


def preserve_trailing(cleaned: str, original: str) -> str:
    """pkg/archive PreserveTrailingDotOrSeparator."""
    if specifies_current_dir(original) and not specifies_current_dir(cleaned):
        cleaned = cleaned.rstrip("/") + "/."
    if has_trailing_sep(original) and not has_trailing_sep(cleaned):
        cleaned += "/"
    return cleaned


def split_dir_entry(path: str) -> tuple[str, str]:
    """pkg/archive SplitPathDirEntry: ``a/b/`` → (a, b); ``a/b/.`` → (a/b, .)."""
    cleaned = _clean(path)
    if specifies_current_dir(path):
        cleaned += "/."
    return posixpath.dirname(cleaned) or ".", go_base(cleaned)


def rebase_name_of(path: str, resolved: str) -> tuple[str, str]:
    """pkg/archive GetRebaseName: the resolved path with the asked trailing forms, and the name to rebase to."""
    if specifies_current_dir(path) and not specifies_current_dir(resolved):
        resolved += "/."
    if has_trailing_sep(path) and not has_trailing_sep(resolved):
        resolved += "/"
    return resolved, go_base(path) if go_base(path) != go_base(resolved) else ""


def resolve_local(path: str) -> str:
    return preserve_trailing(os.path.abspath(path), path)


# -- tar streams ---------------------------------------------------------------------------------


def rebase_entries(src: IO[bytes], old: str, new: str, out: IO[bytes]) -> None:
    """pkg/archive RebaseArchiveEntries: the first ``old`` of every name (and hard link target) → ``new``."""
    old = "" if old == "/" else old
    with tarfile.open(fileobj=src, mode="r|*") as tin, \
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tout:
        for m in tin:
            name = m.name + ("/" if m.isdir() else "")
            m.name = name.replace(old, new, 1)
            if m.islnk():
                m.linkname = m.linkname.replace(old, new, 1)
            tout.addfile(m, tin.extractfile(m) if m.isreg() else None)


def tar_local(info: CopyInfo, out: IO[bytes]) -> None:
    """pkg/archive TarResourceRebase: the source entry under its base name (``.`` for ``dir/.``,
    names then ``./x``), renamed to ``rebase_name`` when there is one."""
    try:
        os.lstat(info.path)
    except OSError as err:
        raise StatusError(f"lstat {info.path}: {err.strerror.lower() if err.strerror else err}") from None
    src_dir, base = split_dir_entry(info.path)
    name = info.rebase_name or base
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        tf.add(os.path.join(src_dir, base), arcname=name, recursive=True)


class _Untar(tarfile.TarFile):
    """Extraction as the docker CLI's Untar (NoLchown: files belong to whoever runs cp)."""

    def chown(self, tarinfo: tarfile.TarInfo, targetpath: str | bytes | os.PathLike[str] | os.PathLike[bytes],
              numeric_owner: bool) -> None:
        return


def untar(src: IO[bytes], dest: str) -> None:
    """Extract into ``dest`` refusing a directory replaced by a non-directory or the reverse, and any
    entry or link reaching outside ``dest`` (tarfile's ``tar`` filter, permission bits kept)."""

    def check(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
        safe = tarfile.tar_filter(member, path)
        target = os.path.join(path, safe.name)
        try:
            st = os.lstat(target)
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode) and not member.isdir():
            raise StatusError(f'cannot overwrite directory "{target}" with non-directory "{path}"')
        if st is not None and not stat.S_ISDIR(st.st_mode) and member.isdir():
            raise StatusError(f'cannot overwrite non-directory "{target}" with directory "{path}"')
        return safe.replace(mode=member.mode, deep=False)

    with _Untar.open(fileobj=src, mode="r|*") as tf:
        try:
            tf.extractall(dest, filter=check)
        except tarfile.FilterError as err:
            raise StatusError(str(err)) from None


def prepare_copy(src: IO[bytes], src_info: CopyInfo, dst_info: CopyInfo) -> tuple[str, IO[bytes]]:
    """pkg/archive PrepareArchiveCopy: the directory to extract into, and the archive to extract."""
    _, src_base = split_dir_entry(src_info.path)
    dst_dir, dst_base = split_dir_entry(dst_info.path)
    if dst_info.exists and dst_info.is_dir:
        return dst_info.path, src
    if dst_info.exists and src_info.is_dir:
        raise StatusError(ERR_CANNOT_COPY_DIR)
    if not dst_info.exists and not src_info.is_dir and (has_trailing_sep(dst_info.path)
                                                         or specifies_current_dir(dst_info.path)):
        raise StatusError(ERR_DIR_NOT_EXISTS)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the caller reads it and closes it
    try:
        rebase_entries(src, src_info.rebase_name or src_base, dst_base, spool)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return dst_dir, spool


def local_destination(path: str) -> CopyInfo:
    """pkg/archive CopyInfoDestinationPath: a symlink DEST followed (10 times at most); a missing
    one needs an existing parent directory."""
    original = path
    for _ in range(11):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            parent, _base = split_dir_entry(path)
            try:
                pst = os.stat(parent)
            except OSError as err:
                raise StatusError(f"stat {parent}: {(err.strerror or '').lower()}") from None
            if not stat.S_ISDIR(pst.st_mode):
                raise StatusError(ERR_NOT_DIRECTORY) from None
            return CopyInfo(path)
        if not stat.S_ISLNK(st.st_mode):
            return CopyInfo(path, True, stat.S_ISDIR(st.st_mode))
        target = os.readlink(path)
        path = target if target.startswith("/") else os.path.join(split_dir_entry(path)[0], target)
    raise StatusError(f"too many symlinks in {original}")


def validate_output_path(path: str) -> None:
    """command.ValidateOutputPath."""
    parent = os.path.dirname(_clean(path))
    if parent not in ("", ".") and not os.path.exists(parent):
        raise StatusError(f'invalid output path: directory "{parent}" does not exist')
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        raise StatusError(f'invalid output path: "{path}" must be a directory or a regular file')


# -- the daemon side -------------------------------------------------------------------------


def stat_path(c: Client, ctr: str, path: str) -> dict[str, Any]:
    resp = c.request("HEAD", f"/containers/{ctr}/archive", {"path": path})
    resp.close()  # a HEAD answer has no body, whatever its Content-Length says
    raw = resp.headers.get("x-docker-container-path-stat", "") or "e30="
    return json.loads(base64.b64decode(raw))  # type: ignore[no-any-return]


def _no_such(ctr: str, path: str) -> StatusError:
    return StatusError(f"Error: No such container:path: {ctr}:{path}")


def copy_from_container(c: Client, ctr: str, src: str, dst: str, follow: bool) -> int:
    if dst != "-":
        dst = resolve_local(dst)
        validate_output_path(dst)
    rebase = ""
    if follow:
        try:
            st = stat_path(c, ctr, src)
        except errors.NotFound:
            st = {}
        if int(st.get("mode", 0)) & GO_MODE_SYMLINK:
            target = st.get("linkTarget", "")
            if not target.startswith("/"):
                target = posixpath.join(split_dir_entry(src)[0], target)
            src, rebase = rebase_name_of(src, target)
    try:
        resp = c.request("GET", f"/containers/{ctr}/archive", {"path": src})
    except errors.NotFound:
        raise _no_such(ctr, src) from None
    raw = resp.headers.get("x-docker-container-path-stat", "") or "e30="
    st = json.loads(base64.b64decode(raw))
    try:
        if dst == "-":
            while data := resp.read(_CHUNK):
                sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return 0
        info = CopyInfo(src, True, bool(int(st.get("mode", 0)) & GO_MODE_DIR), rebase)
        body: IO[bytes] = resp  # type: ignore[assignment]
        spool = None
        if rebase:
            spool = tempfile.TemporaryFile()
            rebase_entries(body, split_dir_entry(src)[1], rebase, spool)
            spool.seek(0)
            body = spool
        dst_info = local_destination(dst)
        dst_dir, archive = prepare_copy(body, info, dst_info)
        try:
            untar(archive, dst_dir)
        finally:
            if archive is not body:
                archive.close()
            if spool is not None:
                spool.close()
    finally:
        resp.close()
    return 0


def copy_to_container(c: Client, ctr: str, src: str, dst: str, follow: bool, copy_uid_gid: bool) -> int:
    if src != "-":
        src = resolve_local(src)
    dst_info = CopyInfo(dst)
    try:
        st: dict[str, Any] | None = stat_path(c, ctr, dst)
    except errors.NotFound:
        st = None
    if st is not None and int(st.get("mode", 0)) & GO_MODE_SYMLINK:
        target = st.get("linkTarget", "")
        if not target.startswith("/"):
            target = posixpath.join(split_dir_entry(dst)[0], target)
        dst_info = CopyInfo(target)
        try:
            st = stat_path(c, ctr, target)
        except errors.NotFound:
            st = None
    if st is not None:
        for bit, what in _GO_MODE_ODD.items():
            if int(st.get("mode", 0)) & bit:
                raise StatusError(f'destination "{ctr}:{dst}" must be a directory or a regular file: got {what}')
        dst_info = dst_info._replace(exists=True, is_dir=bool(int(st.get("mode", 0)) & GO_MODE_DIR))
    params = {"path": "", "noOverwriteDirNonDir": "true", "copyUIDGID": "true" if copy_uid_gid else "false"}
    if src == "-":
        if not dst_info.is_dir:
            raise StatusError(f'destination "{ctr}:{dst}" must be a directory')
        params["path"] = dst_info.path
        _put(c, ctr, params, sys.stdin.buffer)
        return 0
    src_info = local_source(src, follow)
    with tempfile.TemporaryFile() as tar_file:
        tar_local(src_info, tar_file)
        tar_file.seek(0)
        dst_dir, archive = prepare_copy(tar_file, src_info, dst_info)
        try:
            params["path"] = dst_dir
            _put(c, ctr, params, archive)
        finally:
            if archive is not tar_file:
                archive.close()
    return 0


def local_source(path: str, follow: bool) -> CopyInfo:
    """pkg/archive CopyInfoSourcePath: the parent's symlinks resolved, the last element's with ``-L``."""
    if follow:
        resolved, rebase = rebase_name_of(path, os.path.realpath(path))
    else:
        parent, base = posixpath.split(path)
        resolved = os.path.realpath(parent or ".").rstrip("/") + "/" + base
        rebase = ""
        if has_trailing_sep(path) and go_base(path) != go_base(resolved):
            rebase = go_base(path)
    try:
        st = os.lstat(resolved)
    except OSError as err:
        raise StatusError(f"lstat {resolved}: {(err.strerror or '').lower()}") from None
    return CopyInfo(resolved, True, stat.S_ISDIR(st.st_mode), rebase)


def _chunks(src: IO[bytes]) -> Iterator[bytes]:
    while data := src.read(_CHUNK):
        yield data


def _put(c: Client, ctr: str, params: dict[str, str], body: IO[bytes]) -> None:
    try:
        c.request("PUT", f"/containers/{ctr}/archive", params, _chunks(body),
                  {"Content-Type": "application/x-tar"}).read()
    except errors.NotFound:
        if not exists(c, f"/containers/{ctr}/json"):  # the 404 was the container's: as the daemon said it
            raise
        raise _no_such(ctr, params["path"]) from None


def run(c: Client, source: str, destination: str, follow: bool, copy_uid_gid: bool) -> int:
    if not source:
        raise StatusError("source can not be empty")
    if not destination:
        raise StatusError("destination can not be empty")
    src_ctr, src = split_cp_arg(source)
    dst_ctr, dst = split_cp_arg(destination)
    if src_ctr and dst_ctr:
        raise StatusError("copying between containers is not supported")
    if src_ctr:
        return copy_from_container(c, src_ctr, src, dst, follow)
    if dst_ctr:
        return copy_to_container(c, dst_ctr, src, dst, follow, copy_uid_gid)
    raise StatusError("must specify at least one container source")
