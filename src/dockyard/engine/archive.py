"""docker cp / export / diff on the engine side: streams to and from containerd, never a mount here."""

from __future__ import annotations

import asyncio
import json
import os
import posixpath
import tempfile
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import grpc

from dockyard import errors
from dockyard.api import pb, rpc
from dockyard.archive.files import extract_stream, extract_tar, write_tar
from dockyard.archive.files import stat_path as host_stat
from dockyard.archive.idmap import IdMap
from dockyard.containerd.client import translate
from dockyard.engine import userns, users
from dockyard.engine.container import Container


def _stub(eng: Any) -> Any:
    return rpc.ContainersStub(eng.cd.channel)


async def stat_path(eng: Any, id: str, path: str) -> dict[str, Any]:
    try:
        r = await _stub(eng).StatPath(pb.ContainerPathRequest(id=id, path=path), metadata=eng.cd.metadata)
    except grpc.aio.AioRpcError as err:
        raise translate(err) from None
    return json.loads(r.json)  # type: ignore[no-any-return]


async def archive(eng: Any, id: str, path: str) -> AsyncIterator[bytes]:
    """The tar stream; the first chunk is awaited before returning so errors come before any header."""
    call = _stub(eng).Archive(pb.ContainerPathRequest(id=id, path=path), metadata=eng.cd.metadata)
    it = call.__aiter__()
    try:
        first = await it.__anext__()
    except StopAsyncIteration:
        first = None
    except grpc.aio.AioRpcError as err:
        raise translate(err) from None

    async def rest() -> AsyncIterator[bytes]:
        if first is not None:
            yield first.data
        try:
            async for chunk in it:
                yield chunk.data
        except grpc.aio.AioRpcError as err:
            raise translate(err) from None

    return rest()


class ExtractOptions(NamedTuple):
    """``PUT /containers/{id}/archive``'s options: ``noOverwriteDirNonDir``, and with ``copyUIDGID`` the
    owner every entry gets (the container's user; None keeps the archive's owners)."""

    no_overwrite_dir_non_dir: bool = False
    owner: tuple[int, int] | None = None


async def copy_owner(eng: Any, c: Container) -> tuple[int, int] | None:
    """dockerd's tarCopyOptions: with a ``User`` configured, its uid:gid resolved in the container;
    without one, the archive's own owners stay."""
    spec = c.config.user
    if not spec:
        return None
    user, _ = await users.resolve_in(eng.cd, c.id, spec)
    return user.uid, user.gid


async def extract(eng: Any, id: str, path: str, chunks: AsyncIterator[bytes],
                  opts: ExtractOptions = ExtractOptions()) -> None:
    async def requests() -> AsyncIterator[pb.ExtractRequest]:
        uid, gid = opts.owner or (0, 0)
        yield pb.ExtractRequest(id=id, path=path, no_overwrite_dir_non_dir=opts.no_overwrite_dir_non_dir,
                                chown=opts.owner is not None, uid=uid, gid=gid)
        async for data in chunks:
            yield pb.ExtractRequest(data=data)

    try:
        await _stub(eng).Extract(requests(), metadata=eng.cd.metadata)
    except grpc.aio.AioRpcError as err:
        raise translate(err) from None


async def changes(eng: Any, id: str) -> list[dict[str, Any]]:
    try:
        r = await _stub(eng).Changes(pb.ContainerPathRequest(id=id), metadata=eng.cd.metadata)
    except grpc.aio.AioRpcError as err:
        raise translate(err) from None
    rows = [{"Path": c.path, "Kind": c.kind} for c in r.changes if c.path not in MANAGED_FILES]
    if not any(row["Path"].startswith("/etc/") for row in rows):  # /etc changed only by the files above
        rows = [row for row in rows if not (row["Path"] == "/etc" and row["Kind"] == 0)]
    return rows


# Files the engine writes for the container (dockerd bind-mounts them over its init layer): not the
# container's own changes, so `docker diff`, `commit` and the builder's RUN layers leave them out.
MANAGED_FILES = frozenset({"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"})


# -- paths under a volume or bind mount: the host directory, not the snapshot -------------------
# dockerd mounts a container's volumes for `docker cp`; their content is not in the rootfs snapshot
# (nor visible in a running container's rootfs from the host). The engine already owns those host
# directories (volumes/), so it reads and writes them itself, with the same in-root resolution.


def mount_for(c: Container, path: str) -> tuple[dict[str, Any], str] | None:
    """The innermost directory mount holding container ``path``, and the path inside it (``/`` = its root)."""
    norm = posixpath.normpath("/" + path.lstrip("/"))  # "//x" would stay "//x"
    best: tuple[dict[str, Any], str] | None = None
    for m in c.mounts or []:
        dest = (m.get("Destination") or "").rstrip("/")
        src = m.get("Source") or ""
        if not dest or not src or not os.path.isdir(src):
            continue
        inside = norm == dest or norm.startswith(dest + "/")
        if inside and (best is None or len(dest) > len(best[0]["Destination"].rstrip("/"))):
            best = (m, norm[len(dest):] or "/")
    return best


def _trailing(rel: str, path: str) -> str:
    """``rel`` with the trailing ``/`` or ``/.`` of ``path`` kept (they change what is resolved and named)."""
    if path.endswith("/.") or path == ".":
        return rel.rstrip("/") + "/."
    if path.endswith("/"):
        return rel.rstrip("/") + "/"
    return rel


def _stat_mount(m: dict[str, Any], rel: str, path: str) -> dict[str, Any]:
    name = None
    if rel == "/":
        name = "." if path.endswith("/.") else m["Destination"].rstrip("/").rsplit("/", 1)[-1]
    return host_stat(m["Source"], _trailing(rel, path), name)


def _tar_mount(m: dict[str, Any], rel: str, path: str, out: Any, ids: IdMap | None) -> None:
    top = None
    if rel == "/":
        top = "." if path.endswith("/.") else m["Destination"].rstrip("/").rsplit("/", 1)[-1]
    write_tar(m["Source"], _trailing(rel, path), out, top, ids)


def _ids(eng: Any, c: Container) -> IdMap | None:
    """A remapped container's ranges: its volumes' and binds' owners move as containerd moves its
    rootfs's (the container's ids in an archive, the host's on disk)."""
    remap = userns.of(eng, c)
    return None if remap is None else remap.ids()


async def stat_in(eng: Any, c: Container, path: str) -> dict[str, Any]:
    hit = mount_for(c, path)
    if hit is None:
        return await stat_path(eng, c.id, path)
    return await asyncio.to_thread(_stat_mount, hit[0], hit[1], path)


async def archive_in(eng: Any, c: Container, path: str) -> AsyncIterator[bytes]:
    """``docker cp`` out of ``c`` (its volumes and binds included); a remapped container's owners as it
    sees them."""
    hit = mount_for(c, path)
    if hit is None:
        return await archive(eng, c.id, path)
    ids = _ids(eng, c)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the stream below, after the last chunk

    def run() -> None:
        _tar_mount(hit[0], hit[1], path, spool, ids)
        spool.seek(0)

    try:
        await asyncio.to_thread(run)
    except BaseException:
        spool.close()
        raise

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(spool.read, 1 << 20):
                yield chunk
        finally:
            spool.close()

    return chunks()


async def extract_in(eng: Any, c: Container, path: str, chunks: AsyncIterator[bytes],
                     opts: ExtractOptions = ExtractOptions()) -> None:
    """``docker cp`` into ``c``; a remapped container's files get the host ids of their owners."""
    hit = mount_for(c, path)
    if hit is None:
        await extract(eng, c.id, path, chunks, opts)
        return
    m, rel = hit
    if not m.get("RW", True):
        raise errors.PermissionDenied(f"mounted volume is marked read-only: {m['Destination']}")
    ids = _ids(eng, c)
    await extract_stream(chunks, lambda src: extract_tar(m["Source"], rel, src, opts.no_overwrite_dir_non_dir,
                                                         opts.owner, ids))
