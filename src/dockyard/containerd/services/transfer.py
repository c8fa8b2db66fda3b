"""The transfer service of dockyard-containerd: pull, push, login, export, import.

The work is in ``remotes/`` and ``archive/``; this module runs it, turns its
events into a stream of Progress messages, and holds a lease for the blobs
and snapshots an operation makes until the image record names them.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import queue
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import grpc

from dockyard import errors
from dockyard.api import pb, rpc
from dockyard.containerd import gc
from dockyard.containerd.archive.exporter import export_images
from dockyard.containerd.archive.importer import import_archive
from dockyard.containerd.images.manifest import Platform, diff_ids, read_config, read_manifest
from dockyard.containerd.images.unpack import LayerUnpacker, unpack
from dockyard.containerd.metadata.db import ImageRecord
from dockyard.containerd.remotes import hosts
from dockyard.containerd.remotes.auth import Authorizer, Credentials
from dockyard.containerd.remotes.progress import Event
from dockyard.containerd.remotes.pull import Lease, pull
from dockyard.containerd.remotes.push import push
from dockyard.containerd.remotes.registry import Repository, timeout
from dockyard.containerd.services.base import Services, _desc_pb, _QueueReader, namespace_of, status_of, translated
from dockyard.containerd.services.leases import lease_of
from dockyard.containerd.snapshots.snapshotter import Snapshotter
from dockyard.diskfull import caused_by_full_disk
from dockyard.oci import image as oci_types
from dockyard.oci import reference
from dockyard.types import Descriptor

log = logging.getLogger("dockyard.containerd.transfer")


def parse_platform(text: str) -> Platform | None:
    if not text:
        return None
    parts = text.split("/")
    if len(parts) < 2 or len(parts) > 3 or not all(parts):
        raise errors.InvalidArgument(f'"{text}": invalid platform, want os/arch[/variant]')
    return Platform(*parts)


def _creds(opts: pb.RegistryOptions) -> Credentials:
    a = opts.auth
    return Credentials(a.username, a.password, a.identity_token, a.registry_token)


def _progress_pb(e: Event) -> pb.Progress:
    return pb.Progress(id=e.id, status=e.status, current=e.current, total=e.total, detail=e.detail,
                       target=_desc_pb(e.target) if e.target else None)


async def _stream(job: Any, q: asyncio.Queue[Event | None], context: Any) -> AsyncIterator[pb.Progress]:
    """Yield events until ``job`` ends; its error aborts the call with the matching status."""
    task = asyncio.ensure_future(job)
    task.add_done_callback(lambda _: q.put_nowait(None))
    try:
        while (e := await q.get()) is not None:
            yield _progress_pb(e)
        while not q.empty():
            e = q.get_nowait()
            if e is not None:
                yield _progress_pb(e)
        try:
            task.result()
        except errors.DockyardError as err:
            await context.abort(status_of(err), str(err))
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)



# Docker Hub's search lives on its v1 index, not on the registry.
SEARCH_INDEX = "index.docker.io"


async def _resolve(repo: Repository) -> pb.ResolveResponse:
    """The reference's descriptor and document; for a single manifest also its config (its platform)."""
    desc, body = await repo.get_manifest(repo.ref.digest or repo.ref.tag)
    config = b""
    if desc.media_type not in oci_types.INDEX_TYPES:
        cfg = Descriptor.from_oci(json.loads(body)["config"])
        resp = await repo.open_blob(cfg.digest)
        try:
            config = await resp.read()
        finally:
            resp.release()
    return pb.ResolveResponse(target=_desc_pb(desc), document=body, config=config)

class TransferServicer(rpc.TransferServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    def _lease(self, context: Any = None) -> tuple[str, Lease]:
        """A transient lease for this call; the caller's named one if it sent ``containerd-lease``.

        Under a named lease what the pull fetched stays held after the call
        (until the client deletes the lease); otherwise only until the image
        record names it.
        """
        named = lease_of(context) if context is not None else ""
        if named:
            return "", self.s.lease_manager.get(named)
        lid, lease = uuid.uuid4().hex, Lease()
        self.s.leases[lid] = lease
        return lid, lease

    async def _sweep(self, lease: Lease, ingests: bool) -> None:
        def run() -> None:
            with self.s.gc_lock:  # not the unpack lock: the live leases keep what other pulls hold
                r = gc.sweep_failed(self.s.content, self.s.meta, self.s.snapshotter, lease,
                                    self.s.lease_manager.live(), ingests)
            if r.blobs or r.snapshots:
                log.info("failed pull: removed %d blobs and %d snapshots", len(r.blobs), len(r.snapshots))

        await asyncio.shield(asyncio.to_thread(run))

    async def Pull(self, request: pb.PullRequest, context: Any) -> AsyncIterator[pb.Progress]:
        ns = namespace_of(context)
        q: asyncio.Queue[Event | None] = asyncio.Queue()

        async def job() -> None:
            ref = reference.parse(request.reference)
            platform = parse_platform(request.platform)
            # the namespaced view has every method unpacking uses (not a full Snapshotter)
            snaps = cast(Snapshotter, self.s.snapshots(ns))
            unpacker = LayerUnpacker(self.s.content, snaps, self.s.work_dir) if request.unpack else None
            lid, lease = self._lease(context)
            shared = False
            failure: BaseException | None = None
            try:
                if unpacker is not None:
                    # shared for the whole pull: its layers are extracted apart and committed in order (locks.py)
                    await self.s.unpack_lock.acquire_shared_async()
                    shared = True
                # 4 MiB of read buffer per response (aiohttp's default, 64 KiB, pauses the socket
                # every 64 KiB: a third of the pull's event-loop time in py-spy).
                async with aiohttp.ClientSession(timeout=timeout(), read_bufsize=4 << 20) as session:
                    eps = hosts.endpoints(ref.domain, list(request.options.insecure), list(request.options.mirrors))
                    for i, ep in enumerate(eps):
                        repo = Repository(session, ep, ref, Authorizer(_creds(request.options)))
                        try:
                            result = await pull(self.s.content, repo, platform, q.put_nowait, lease, unpacker)
                            break
                        except (errors.Unavailable, errors.NotFound, errors.PermissionDenied):
                            if not ep.mirror or i == len(eps) - 1:
                                raise
                name = str(ref)
                # The record names what the reference resolved to: the index of a multi-platform
                # image (containerd semantics: RepoDigests show it, the platform is chosen at use).
                rec = ImageRecord(name, result.resolved, dict(request.labels))
                await asyncio.to_thread(self._name_image, ns, rec, request.dangling_prefix)
                q.put_nowait(Event("", "Done", detail=result.config.digest, target=result.resolved))
            except BaseException as err:
                failure = err
                raise
            finally:
                if shared:
                    self.s.unpack_lock.release_shared()
                if lid:
                    self.s.leases.pop(lid, None)
                    if failure is not None:  # what it fetched and unpacked, unless something else holds it
                        await self._sweep(lease, caused_by_full_disk(failure))
                else:
                    await asyncio.to_thread(self.s.lease_manager.save)

        async for msg in _stream(job(), q, context):
            yield msg

    async def Push(self, request: pb.PushRequest, context: Any) -> AsyncIterator[pb.Progress]:
        ns = namespace_of(context)
        q: asyncio.Queue[Event | None] = asyncio.Queue()

        async def job() -> None:
            rec = await asyncio.to_thread(self.s.meta.get_image, ns, request.name)
            ref = reference.parse(request.reference or request.name)
            async with aiohttp.ClientSession(timeout=timeout()) as session:
                ep = hosts.endpoints(ref.domain, list(request.options.insecure))[-1]
                repo = Repository(session, ep, ref, Authorizer(_creds(request.options)), push=True)
                await push(self.s.content, repo, rec.target, ref.tag, q.put_nowait)

        async for msg in _stream(job(), q, context):
            yield msg

    @translated
    async def Login(self, request: pb.LoginRequest, context: Any) -> pb.LoginResponse:
        server = request.server or reference.DEFAULT_DOMAIN
        server = server.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
        if server in ("index.docker.io", "registry-1.docker.io"):
            server = reference.DEFAULT_DOMAIN
        async with aiohttp.ClientSession(timeout=timeout()) as session:
            ep = hosts.endpoints(server, list(request.options.insecure))[-1]
            repo = Repository(session, ep, reference.Reference(server, "library/login"),
                              Authorizer(_creds(request.options)))
            resp = await repo.request("GET", f"{ep.base}/v2/", scope="", what=f"login to {server}")
            resp.release()
        return pb.LoginResponse(status="Login Succeeded")

    def _name_image(self, ns: str, rec: ImageRecord, dangling_prefix: str) -> None:
        """Put ``rec``; with ``dangling_prefix``, the image its name held before, if that was the image's last
        name, keeps a record ``dangling_prefix + config digest`` (Docker's ``<none>:<none>``)."""
        meta = self.s.meta
        if dangling_prefix and not rec.name.startswith(dangling_prefix):
            try:
                old = meta.get_image(ns, rec.name)
            except errors.NotFound:
                old = None
            if old is not None and old.target.digest != rec.target.digest and not any(
                    r.name != old.name and r.target.digest == old.target.digest for r in meta.list_images(ns)):
                try:
                    config = read_manifest(self.s.content, old.target.digest, None).config.digest
                    meta.put_image(ns, ImageRecord(dangling_prefix + config, old.target, dict(old.labels)))
                except (errors.NotFound, OSError) as err:  # its blobs are gone already: nothing to keep
                    log.info("%s: the image it named is not kept: %s", rec.name, err)
        meta.put_image(ns, rec)

    @translated
    async def Resolve(self, request: pb.ResolveRequest, context: Any) -> pb.ResolveResponse:
        ref = reference.parse(request.reference)
        async with aiohttp.ClientSession(timeout=timeout()) as session:
            eps = hosts.endpoints(ref.domain, list(request.options.insecure), list(request.options.mirrors))
            for i, ep in enumerate(eps):
                repo = Repository(session, ep, ref, Authorizer(_creds(request.options)))
                try:
                    return await _resolve(repo)
                except (errors.Unavailable, errors.NotFound, errors.PermissionDenied):
                    if not ep.mirror or i == len(eps) - 1:
                        raise
        raise errors.Unavailable(f"{ref}: no endpoint to resolve it at")

    @translated
    async def Search(self, request: pb.SearchRequest, context: Any) -> pb.SearchResponse:
        domain = request.registry or reference.DEFAULT_DOMAIN
        base = f"https://{SEARCH_INDEX}" if domain == reference.DEFAULT_DOMAIN else \
            hosts.endpoints(domain, list(request.options.insecure))[-1].base
        params = {"q": request.term, **({"n": str(request.limit)} if request.limit else {})}
        async with aiohttp.ClientSession(timeout=timeout()) as session:
            try:
                async with session.get(f"{base}/v1/search", params=params) as resp:
                    if resp.status != 200:
                        raise errors.Unavailable(f"search at {base}: HTTP {resp.status} {resp.reason or ''}".rstrip())
                    body = await resp.json(content_type=None)
            except aiohttp.ClientConnectorError as err:
                raise errors.Unavailable(f"search: cannot reach {base}: {err.os_error}") from err
            except (aiohttp.ClientError, ValueError) as err:
                raise errors.Unavailable(f"search at {base}: {err}") from err
        results = body.get("results") if isinstance(body, dict) else None
        return pb.SearchResponse(results=json.dumps(results or []).encode())

    async def Export(self, request: pb.ExportRequest, context: Any) -> AsyncIterator[pb.ExportChunk]:
        ns = namespace_of(context)
        try:
            platform = parse_platform(request.platform)
            recs = [await asyncio.to_thread(self.s.meta.get_image, ns, n) for n in request.names]
        except errors.DockyardError as err:
            await context.abort(status_of(err), str(err))
            return
        chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=16)

        class Sink(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, b: Any) -> int:
                chunks.put(bytes(b))
                return len(b)

        def run() -> None:
            try:
                out = io.BufferedWriter(Sink(), buffer_size=1 << 20)
                export_images(self.s.content, [(r.name, r.target) for r in recs], out, platform)
                out.flush()
                chunks.put(None)
            except BaseException as err:  # handed to the event loop, raised there
                chunks.put(err)

        threading.Thread(target=run, name="export", daemon=True).start()
        while True:
            item = await asyncio.to_thread(chunks.get)
            if item is None:
                return
            if isinstance(item, errors.DockyardError):
                await context.abort(status_of(item), str(item))
            if isinstance(item, BaseException):
                await context.abort(grpc.StatusCode.INTERNAL, f"export: {item}")
            yield pb.ExportChunk(data=item)  # type: ignore[arg-type]

    async def Import(self, request_iterator: AsyncIterator[pb.ImportChunk], context: Any) -> pb.ImportResponse:
        """Store the archive's blobs and unpack its images under a transient lease, as a pull does:
        what a failed import wrote (blobs, snapshots) is swept unless something else keeps it."""
        ns = namespace_of(context)
        lid, lease = self._lease()
        try:
            images, first = await self._import_blobs(request_iterator, lease)
            out = []
            for im in images:
                name = im.name or f"{first['prefix'] or 'import@'}{im.config_digest}"
                if first["unpack"]:
                    await asyncio.to_thread(self._unpack_imported, ns, im.target.digest, lease)
                await asyncio.to_thread(self._name_image, ns, ImageRecord(name, im.target), first["prefix"])
                out.append(pb.ImportedImage(name=name, target=_desc_pb(im.target), config_digest=im.config_digest))
        except BaseException as err:
            self.s.leases.pop(lid, None)
            await self._sweep(lease, caused_by_full_disk(err))
            if isinstance(err, errors.DockyardError):
                await context.abort(status_of(err), str(err))
            if isinstance(err, Exception):  # a corrupt tar is the caller's input error
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"import: {err}")
            raise
        self.s.leases.pop(lid, None)
        return pb.ImportResponse(images=out)

    async def _import_blobs(self, request_iterator: AsyncIterator[pb.ImportChunk], lease: Lease
                            ) -> tuple[list[Any], dict[str, Any]]:
        """Feed the streamed archive to the importer; its images and the first chunk's options."""
        reader = _QueueReader()
        first: dict[str, Any] = {}

        def run() -> list[Any]:
            return import_archive(self.s.content, io.BufferedReader(reader, 1 << 20),
                                  parse_platform(first.get("platform", "")), lease)

        job = None
        try:
            async for req in request_iterator:
                if job is None:
                    first.update(platform=req.platform, unpack=req.unpack, prefix=req.dangling_prefix)
                    job = asyncio.ensure_future(asyncio.to_thread(run))
                if req.data:
                    await asyncio.to_thread(reader.q.put, req.data)
                if job.done():
                    break  # failed early: stop reading
        finally:
            await asyncio.to_thread(reader.q.put, None)
            if job is not None and not job.done():  # it reads to the end (early if the client went away)
                await asyncio.gather(asyncio.shield(job), return_exceptions=True)
        if job is None:
            raise errors.InvalidArgument("import: empty archive")
        return await job, first

    def _unpack_imported(self, ns: str, digest: str, lease: Lease) -> None:
        manifest = read_manifest(self.s.content, digest)
        lease.snapshots.update(oci_types.chain_ids(diff_ids(read_config(self.s.content, manifest))))
        with self.s.unpack_lock:
            unpack(self.s.content, cast(Snapshotter, self.s.snapshots(ns)), digest, work_dir=self.s.work_dir)
