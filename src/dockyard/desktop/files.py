"""A container's files, read through the archive API (``GET /containers/{id}/archive``): a
directory's entries, and one file as a download. The engine sends a directory as the tar of its
whole subtree, so a listing reads at most ``MAX_TAR`` bytes and asks for a narrower path beyond."""

from __future__ import annotations

import io
import posixpath
import tarfile
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.desktop.api import engine

MAX_TAR = 64 << 20
KINDS = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "link", tarfile.LNKTYPE: "hardlink", tarfile.REGTYPE: "file",
         tarfile.AREGTYPE: "file", tarfile.FIFOTYPE: "fifo", tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block"}


def query_path(request: web.Request) -> str:
    path = request.query.get("path", "/")
    if not path.startswith("/") or "\0" in path:
        raise errors.InvalidArgument("path must be absolute")
    return posixpath.normpath(path)


async def _tar(request: web.Request, path: str) -> tarfile.TarFile:
    data = await engine(request).archive(request.match_info["id"], path, MAX_TAR)
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:")


def _clean(name: str) -> str:
    name = name.strip("/")
    return "" if name in ("", ".") else name.removeprefix("./")


def entries(tar: tarfile.TarFile, top: str) -> list[dict[str, Any]]:
    """The direct children of ``top`` (the path's base name; "" for /, whose tar has no root entry)."""
    rows = []
    for m in tar.getmembers():
        name = _clean(m.name)
        if not name or name == top or posixpath.dirname(name) != top:
            continue
        rows.append({"name": posixpath.basename(name), "type": KINDS.get(m.type, "other"), "size": m.size,
                     "mode": m.mode, "mtime": m.mtime, "link": m.linkname or None})
    return sorted(rows, key=lambda r: (r["type"] != "dir", r["name"]))


async def listing(request: web.Request) -> web.Response:
    path = query_path(request)
    tar = await _tar(request, path)
    top = "" if path == "/" else posixpath.basename(path)
    if top:
        head = next((m for m in tar.getmembers() if _clean(m.name) == top), None)
        if head is None or not head.isdir():
            raise errors.InvalidArgument(f"{path} is not a directory")
    return web.json_response({"path": path, "entries": entries(tar, top)})


async def download(request: web.Request) -> web.Response:
    """One regular file, as an attachment: never rendered in the dashboard's origin."""
    path = query_path(request)
    return attachment(await _tar(request, path), path)


def attachment(tar: tarfile.TarFile, path: str) -> web.Response:
    """The one regular file of ``tar`` (the archive of ``path``) as a download."""
    member = tar.getmembers()[0] if tar.getmembers() else None
    if member is None or not member.isfile():
        raise errors.InvalidArgument(f"{path} is not a regular file")
    data = tar.extractfile(member)
    if data is None:
        raise errors.InvalidArgument(f"{path} is not a regular file")
    name = posixpath.basename(path).replace('"', "_")
    return web.Response(body=data.read(), content_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def register(app: web.Application) -> None:
    app.router.add_get("/api/containers/{id}/files", listing)
    app.router.add_get("/api/containers/{id}/file", download)
