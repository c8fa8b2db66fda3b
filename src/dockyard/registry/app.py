"""The OCI Distribution Spec v1.1 routes, on aiohttp.

Repository names contain slashes, so one catch-all route takes ``/v2/...`` and
``_dispatch`` splits the path with the spec's endpoint patterns (end-1 ...
end-13). Every handler is small and synchronous in what it touches (SQLite, the
content store) except the body copies, which stream; commits (fsync) run in a
thread so a 1 GB layer does not stall other clients.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import itertools
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from dockyard import errors
from dockyard.containerd.content.local import LocalContentStore, LocalWriter
from dockyard.oci import image as oci
from dockyard.oci.digest import Digester, algorithm_of, is_valid
from dockyard.registry import manifest as mf
from dockyard.registry.auth import Authorizer, Identity, Scope
from dockyard.registry.blobsend import blob_response
from dockyard.registry.errors import RegistryError, from_dockyard
from dockyard.registry.metadata import ManifestRow, Metadata

NAME_RE = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*")
TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
MAX_MANIFEST = 4 << 20
_BATCH = 4 << 20  # body bytes per write+hash thread hop (see _copy_body)
API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}

_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(.+)/tags/list$"), "tags"),
    (re.compile(r"^(.+)/manifests/([^/]+)$"), "manifest"),
    (re.compile(r"^(.+)/blobs/uploads/?$"), "upload_start"),
    (re.compile(r"^(.+)/blobs/uploads/([^/]+)$"), "upload"),
    (re.compile(r"^(.+)/blobs/([^/]+)$"), "blob"),
    (re.compile(r"^(.+)/referrers/([^/]+)$"), "referrers"),
]
_WRITE_METHODS = {"PUT", "POST", "PATCH", "DELETE"}
_FRAMING = {"content-length", "transfer-encoding"}  # set by aiohttp from the body, never by a handler
_CATALOG_PAGE = 1000
log = logging.getLogger("dockyard.registry")
IDENTITY = web.RequestKey("identity", Identity)  # who made the request, for handlers that care


def _digest_arg(value: str) -> str:
    if not is_valid(value):
        raise RegistryError("DIGEST_INVALID", f"invalid digest {value!r}")
    return value


def _int_arg(request: web.Request, key: str) -> int | None:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise RegistryError("UNSUPPORTED", f"invalid {key}={raw!r}", status=400)
    return int(raw)


def _write_batch(w: LocalWriter, chunks: list[bytes]) -> None:
    for chunk in chunks:
        w.write(chunk)


def _head(headers: dict[str, str], length: int) -> web.StreamResponse:
    """A HEAD answer: the GET's headers and Content-Length, no body."""
    resp = web.StreamResponse(headers=headers)
    resp.content_length = length
    return resp


@dataclass
class Upload:
    """An upload session between requests: no open file, only the running hash of its bytes.

    Each request opens the ingest, writes, and closes it again, resuming from
    ``digester`` so nothing is read back; ``None`` (a session from before a
    restart) means the next request re-reads what is on disk once.
    """

    ref: str
    digester: Digester | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Registry:
    """The server's state: the shared content store, metadata, auth and open uploads."""

    def __init__(self, root: Path, authz: Authorizer | None = None, read_only: bool = False,
                 proxy: Any = None, token_path: str = "/token", upload_ttl: float = 3600.0,
                 sparse_manifests: bool = False) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.store = LocalContentStore(self.root / "content")
        self.meta = Metadata(self.root / "metadata.db")
        self.authz = authz or Authorizer()
        self.read_only = read_only
        self.proxy = proxy
        self.token_path = token_path
        self.uploads: dict[str, Upload] = {}
        self.upload_ttl = upload_ttl  # seconds an upload session may sit idle before it is removed
        self.sparse_manifests = sparse_manifests  # an image manifest may name layers never pushed
        # body writes and commits (fsync) run here, not on the loop (warmed at startup)
        self._io = ThreadPoolExecutor(max_workers=8, thread_name_prefix="registry-io")

    def close(self) -> None:
        self.uploads.clear()
        self._io.shutdown(wait=True)
        self.meta.close()
        self.store.close()

    # -- app -----------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors], client_max_size=MAX_MANIFEST)
        app.router.add_route("*", "/v2", self._dispatch)
        app.router.add_route("*", "/v2/{tail:.*}", self._dispatch)
        if self.authz.mode == "token":
            app.router.add_route("GET", self.token_path, self._token)
            app.router.add_route("POST", self.token_path, self._token)
        app.on_response_prepare.append(self._api_header)
        app.on_startup.append(self._warm_io)
        app.cleanup_ctx.append(self._purging)
        if self.proxy is not None:
            app.on_cleanup.append(lambda _app: self.proxy.close())
        return app

    async def _warm_io(self, _app: web.Application) -> None:
        """Start the threads before the first request needs them.

        Ours for uploads, the loop's default one for FileResponse's open/stat.
        """
        loop = asyncio.get_running_loop()
        await asyncio.gather(loop.run_in_executor(self._io, int), loop.run_in_executor(None, int))

    @staticmethod
    async def _api_header(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(API_VERSION)

    @web.middleware
    async def _errors(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        try:
            return await handler(request)
        except RegistryError as err:
            return self._error_response(err)
        except errors.DockyardError as err:
            return self._error_response(from_dockyard(err))

    @staticmethod
    def _error_response(err: RegistryError) -> web.Response:
        """The one place error answers are made: the length is always the body's own."""
        headers = {k: v for k, v in err.headers.items() if k.lower() not in _FRAMING}
        return web.json_response(err.body(), status=err.status, headers=headers)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        method = request.method
        if tail in ("", "/"):
            self.authz.authorize(request.headers.get("Authorization", ""), None)
            return web.json_response({})
        if tail == "_catalog":
            ident = self.authz.authorize(request.headers.get("Authorization", ""),
                                         Scope("registry", "catalog", frozenset({"*"})))
            return self._catalog(request, ident)
        for pattern, kind in _ROUTES:
            m = pattern.match(tail)
            if m is None:
                continue
            name = m.group(1)
            if not NAME_RE.fullmatch(name) or len(name) > 255:
                raise RegistryError("NAME_INVALID", f"invalid repository name {name!r}")
            if method in _WRITE_METHODS:
                if self.read_only:
                    raise RegistryError("UNSUPPORTED", "the registry is in read-only mode")
                if self.proxy is not None:
                    raise RegistryError("UNSUPPORTED", "a pull-through cache does not accept pushes")
            actions = {"GET": {"pull"}, "HEAD": {"pull"}, "DELETE": {"delete"}}.get(method, {"pull", "push"})
            ident = self.authz.authorize(request.headers.get("Authorization", ""),
                                         Scope("repository", name, frozenset(actions)))
            handler = getattr(self, f"_{kind}_{method.lower()}", None)
            if handler is None:
                raise RegistryError("UNSUPPORTED", f"{method} not supported here", status=405)
            request[IDENTITY] = ident
            return await handler(request, *m.groups())
        raise RegistryError("NAME_UNKNOWN", f"no route for /v2/{tail}", status=404)

    # -- token server --------------------------------------------------------------------
    async def _token(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        if request.method == "POST":
            form = await request.post()
            if form.get("grant_type") == "password":
                creds = f"{form.get('username', '')}:{form.get('password', '')}".encode()
                header = "Basic " + base64.b64encode(creds).decode()
            scopes_raw = str(form.get("scope", "")).split()
        else:
            scopes_raw = [s for v in request.query.getall("scope", []) for s in v.split(" ") if s]
        scopes = [Scope.parse(s) for s in scopes_raw]
        try:
            return web.json_response(self.authz.issue(header, scopes))
        except RegistryError as err:
            return self._error_response(RegistryError("UNAUTHORIZED", err.message))

    # -- catalog and tags ----------------------------------------------------------------
    @staticmethod
    def _paged(items: list[str], n: int | None, path: str) -> tuple[list[str], dict[str, str]]:
        """Cut to ``n`` (the query asked for n+1 to know whether more follow) and add the Link."""
        if n == 0:
            return [], {}
        if n is not None and len(items) > n:
            items = items[:n]
            return items, {"Link": f'<{path}?n={n}&last={items[-1] if items else ""}>; rel="next"'}
        return items, {}

    def _catalog(self, request: web.Request, ident: Identity) -> web.Response:
        """The repositories after ``last`` that ``ident`` may pull, ``n`` (+1, to know of more) at most."""
        n, last = _int_arg(request, "n"), request.query.get("last")
        visible = (r for r in self._repositories_after(last) if self.authz.may(ident, r, "pull"))
        wanted = list(visible) if n is None else list(itertools.islice(visible, n + 1))
        repos, headers = self._paged(wanted, n, "/v2/_catalog")
        return web.json_response({"repositories": repos}, headers=headers)

    def _repositories_after(self, last: str | None) -> Iterator[str]:
        while True:
            page = self.meta.repositories(_CATALOG_PAGE, last)
            yield from page
            if len(page) < _CATALOG_PAGE:
                return
            last = page[-1]

    async def _tags_get(self, request: web.Request, name: str) -> web.Response:
        n, last = _int_arg(request, "n"), request.query.get("last")
        if self.proxy is not None:
            return await self.proxy.tags(request, name)
        if not self.meta.repo_exists(name):
            raise RegistryError("NAME_UNKNOWN", f"repository {name} not known")
        tags, headers = self._paged(self.meta.tags(name, None if n is None else n + 1, last), n, f"/v2/{name}/tags/list")
        return web.json_response({"name": name, "tags": tags}, headers=headers)

    # -- manifests -------------------------------------------------------------------------
    async def _resolve(self, name: str, ref: str) -> ManifestRow:
        if ":" in ref:
            digest = _digest_arg(ref)
            row = self.meta.manifest(name, digest)
            if row is None and self.proxy is not None:
                row = await self.proxy.manifest(self, name, ref)
        else:
            if not TAG_RE.fullmatch(ref):  # no tag can have that name: unknown, as the spec's suite wants
                raise RegistryError("MANIFEST_UNKNOWN", f"manifest unknown: {name}:{ref}")
            row = None
            if self.proxy is not None:
                row = await self.proxy.manifest(self, name, ref)
            if row is None:
                digest_or_none = self.meta.resolve_tag(name, ref)
                row = self.meta.manifest(name, digest_or_none) if digest_or_none else None
        if row is None or not self.store.exists(row.digest):
            raise RegistryError("MANIFEST_UNKNOWN", f"manifest unknown: {name}:{ref}")
        return row

    async def _manifest_get(self, request: web.Request, name: str, ref: str) -> web.Response:
        row = await self._resolve(name, ref)
        body = self.store.read_all(row.digest)
        return web.Response(body=body, headers={"Content-Type": row.media_type, "Docker-Content-Digest": row.digest})

    async def _manifest_head(self, request: web.Request, name: str, ref: str) -> web.StreamResponse:
        row = await self._resolve(name, ref)
        return _head({"Content-Type": row.media_type, "Docker-Content-Digest": row.digest}, row.size)

    async def _manifest_put(self, request: web.Request, name: str, ref: str) -> web.Response:
        is_digest = ":" in ref
        tags = ([] if is_digest else [ref]) + request.query.getall("tag", [])  # ?tag=: tags of a push by digest
        for tag in tags:
            if not TAG_RE.fullmatch(tag):
                raise RegistryError("TAG_INVALID", f"invalid tag {tag!r}")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise RegistryError("MANIFEST_INVALID", "manifest too large", status=413) from None
        algorithm = algorithm_of(_digest_arg(ref)) if is_digest else "sha256"
        digest = f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"
        if is_digest and ref != digest:
            raise RegistryError("DIGEST_INVALID", f"manifest digest {digest} does not match {ref}")
        parsed = mf.parse(body, request.headers.get("Content-Type"))
        # an index's children need not be here (a sparse index: the spec lets a registry accept
        # it; gc marks the children that exist, a pull of a missing one is MANIFEST_UNKNOWN);
        # an image's layers need not be either with --sparse-manifests, its config always
        for blob in parsed.blobs[:1] if self.sparse_manifests else parsed.blobs:
            if not self.meta.blob_linked(name, blob) or not self.store.exists(blob):
                raise RegistryError("MANIFEST_BLOB_UNKNOWN", f"blob unknown to registry: {blob}", detail={"digest": blob})
        self.put_manifest_bytes(name, body, digest, parsed)
        for tag in tags:
            self.meta.set_tag(name, tag, digest)
        headers = CIMultiDict({"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest})
        if parsed.subject:
            headers["OCI-Subject"] = parsed.subject
        if is_digest:
            for tag in tags:
                headers.add("OCI-Tag", tag)
        return web.Response(status=201, headers=headers)

    def put_manifest_bytes(self, name: str, body: bytes, digest: str, parsed: mf.Parsed) -> None:
        """Store a verified manifest (as a blob) and record it; also used by the pull-through cache."""
        if not self.store.exists(digest):
            try:
                with self.store.writer(f"manifest-{digest}-{uuid.uuid4().hex}") as w:
                    w.write(body)
                    w.commit(len(body), digest)
            except errors.AlreadyExists:
                pass
        self.meta.put_manifest(ManifestRow(
            name, digest, parsed.media_type, len(body), parsed.artifact_type, parsed.subject,
            json.dumps(parsed.annotations) if parsed.annotations else None, parsed.blobs + parsed.children))

    async def _manifest_delete(self, request: web.Request, name: str, ref: str) -> web.Response:
        if ":" in ref:
            if not self.meta.delete_manifest(name, _digest_arg(ref)):
                raise RegistryError("MANIFEST_UNKNOWN", f"manifest unknown: {ref}")
        else:
            if not TAG_RE.fullmatch(ref) or not self.meta.delete_tag(name, ref):
                raise RegistryError("MANIFEST_UNKNOWN", f"tag unknown: {ref}")
        return web.Response(status=202)

    # -- referrers ---------------------------------------------------------------------------
    async def _referrers_get(self, request: web.Request, name: str, digest: str) -> web.Response:
        _digest_arg(digest)
        want = request.query.get("artifactType")
        descriptors = []
        for row in self.meta.referrers(name, digest):
            if want is not None and row.artifact_type != want:
                continue
            d: dict[str, Any] = {"mediaType": row.media_type, "digest": row.digest, "size": row.size}
            if row.artifact_type:
                d["artifactType"] = row.artifact_type
            if row.annotations:
                d["annotations"] = json.loads(row.annotations)
            descriptors.append(d)
        headers = {"Content-Type": oci.MEDIA_TYPE_OCI_INDEX}
        if want is not None:
            headers["OCI-Filters-Applied"] = "artifactType"
        body = json.dumps({"schemaVersion": 2, "mediaType": oci.MEDIA_TYPE_OCI_INDEX, "manifests": descriptors})
        return web.Response(body=body.encode(), headers=headers)

    # -- blobs -------------------------------------------------------------------------------
    async def _blob_path(self, name: str, digest: str) -> Path:
        _digest_arg(digest)
        if not (self.meta.blob_linked(name, digest) and self.store.exists(digest)):
            if self.proxy is None or not await self.proxy.blob(self, name, digest):
                raise RegistryError("BLOB_UNKNOWN", f"blob unknown to registry: {digest}", detail={"digest": digest})
        with self.store.open(digest) as f:  # content store layout: blobs/sha256/<hex>
            return Path(f.name)

    async def _blob_get(self, request: web.Request, name: str, digest: str) -> web.StreamResponse:
        path = await self._blob_path(name, digest)
        return await blob_response(request, path, {"Content-Type": "application/octet-stream",
                                                   "Docker-Content-Digest": digest, "Accept-Ranges": "bytes"},
                                   self._io)

    async def _blob_head(self, request: web.Request, name: str, digest: str) -> web.StreamResponse:
        path = await self._blob_path(name, digest)
        return _head({"Content-Type": "application/octet-stream", "Docker-Content-Digest": digest,
                      "Accept-Ranges": "bytes"}, path.stat().st_size)

    async def _blob_delete(self, request: web.Request, name: str, digest: str) -> web.Response:
        _digest_arg(digest)
        if not self.meta.unlink_blob(name, digest):
            raise RegistryError("BLOB_UNKNOWN", f"blob unknown to registry: {digest}")
        return web.Response(status=202)

    # -- uploads -----------------------------------------------------------------------------
    def _upload_headers(self, name: str, upload_id: str, offset: int) -> dict[str, str]:
        return {"Location": f"/v2/{name}/blobs/uploads/{upload_id}", "Docker-Upload-UUID": upload_id,
                "Range": f"0-{max(offset - 1, 0)}"}

    def _done(self, name: str, digest: str) -> web.Response:
        self.meta.link_blob(name, digest)
        return web.Response(status=201, headers={"Location": f"/v2/{name}/blobs/{digest}",
                                                 "Docker-Content-Digest": digest})

    def _may_pull(self, request: web.Request, repo: str) -> bool:
        try:
            self.authz.authorize(request.headers.get("Authorization", ""), Scope("repository", repo, frozenset({"pull"})))
        except RegistryError:
            return False
        return True

    async def _upload_start_post(self, request: web.Request, name: str) -> web.Response:
        mount, source = request.query.get("mount"), request.query.get("from")
        if mount and source and is_valid(mount) and NAME_RE.fullmatch(source):
            if self.meta.blob_linked(source, mount) and self.store.exists(mount) and self._may_pull(request, source):
                return self._done(name, mount)
        digest = request.query.get("digest")
        upload_id = str(uuid.uuid4())
        self.meta.new_upload(upload_id, name)
        # no ingest yet: the first write makes it, and this empty hash covers it
        self.uploads[upload_id] = Upload(f"upload-{upload_id}", Digester())
        if digest is not None:  # monolithic: POST with the whole blob
            return await self._finish(request, name, upload_id, _digest_arg(digest))
        return web.Response(status=202, headers=self._upload_headers(name, upload_id, 0))

    def _session(self, name: str, upload_id: str) -> Upload:
        """The live session ``upload_id`` of ``name``; an idle one past the TTL is removed here."""
        row = self.meta.upload(upload_id)
        if row is None or row[0] != name:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"blob upload unknown: {upload_id}")
        up = self.uploads.get(upload_id)
        if up is None:
            up = self.uploads[upload_id] = Upload(f"upload-{upload_id}")
        if row[1] < time.time() - self.upload_ttl and not up.lock.locked():
            self._drop(upload_id)
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"blob upload unknown: {upload_id} (expired)")
        self.meta.touch_upload(upload_id)
        return up

    def _offset(self, up: Upload) -> int:
        if up.digester is not None:
            return up.digester.size
        try:
            return self.store.status(up.ref).offset
        except errors.NotFound:
            return 0

    def _forget(self, upload_id: str) -> None:
        self.uploads.pop(upload_id, None)
        self.meta.end_upload(upload_id)

    def _drop(self, upload_id: str) -> None:
        """End the session and delete its bytes."""
        self._forget(upload_id)
        with contextlib.suppress(errors.NotFound):  # a session that never got a byte has no ingest
            self.store.abort(f"upload-{upload_id}")

    @contextlib.asynccontextmanager
    async def _ingest(self, up: Upload) -> AsyncIterator[LocalWriter]:
        """The session's ingest, open for this request only; its running hash is kept after."""
        loop = asyncio.get_running_loop()
        w = await loop.run_in_executor(self._io, functools.partial(self.store.writer, up.ref, resume=up.digester))
        try:
            yield w
        finally:
            up.digester = w.digester
            w.close()

    async def _purging(self, _app: web.Application) -> AsyncIterator[None]:
        """Remove idle upload sessions, at start and then every half TTL (at most a minute)."""
        task = asyncio.create_task(self._purge_loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _purge_loop(self) -> None:
        while True:
            try:
                await self.purge_uploads()
            except Exception:  # noqa: BLE001 - a failed pass (disk, database busy) is retried at the next
                log.exception("purging idle uploads failed")
            await asyncio.sleep(min(self.upload_ttl / 2, 60.0))

    async def purge_uploads(self) -> int:
        """End the sessions idle for longer than the TTL and delete their bytes; returns how many."""
        expired = [u for u in self.meta.uploads_idle_since(time.time() - self.upload_ttl)
                   if u not in self.uploads or not self.uploads[u].lock.locked()]
        for upload_id in expired:
            self._forget(upload_id)
        await asyncio.get_running_loop().run_in_executor(self._io, self._abort_ingests, expired)
        return len(expired)

    def _abort_ingests(self, upload_ids: list[str]) -> None:
        for upload_id in upload_ids:
            with contextlib.suppress(errors.NotFound):
                self.store.abort(f"upload-{upload_id}")

    def _check_range(self, request: web.Request, name: str, upload_id: str, offset: int) -> None:
        """A ``Content-Range`` must continue the upload exactly (else 416, the upload unchanged)."""
        crange = request.headers.get("Content-Range")
        if not crange:
            return
        headers = self._upload_headers(name, upload_id, offset)
        m = re.fullmatch(r"(?:bytes[ =])?(\d+)-(\d+)(?:/\S+)?", crange.strip())
        if m is None or int(m.group(1)) != offset or int(m.group(2)) < int(m.group(1)):
            raise RegistryError("BLOB_UPLOAD_INVALID", f"Content-Range {crange!r} does not continue at {offset}",
                                status=416, headers=headers)
        length = request.content_length
        if length is not None and length != int(m.group(2)) - int(m.group(1)) + 1:
            raise RegistryError("SIZE_INVALID", "Content-Range and Content-Length disagree", status=416,
                                headers=headers)

    async def _copy_body(self, request: web.Request, w: LocalWriter) -> None:
        """Stream the body into the ingest, receiving and writing+hashing in parallel.

        The loop gathers the chunks aiohttp already holds (no re-slicing, no
        join) and hands them to one thread hop at a time: when ``_BATCH``
        bytes are gathered, or when the socket has nothing more and the
        thread is idle (so a stalled client's bytes are on disk, and a fast
        one's batches grow while the thread is busy). ``os.write`` and sha256
        drop the GIL, so on two cores the socket is drained while the
        previous batch is written and hashed. At most one batch per upload is
        in flight: writes stay in order and memory stays bounded.
        """
        loop = asyncio.get_running_loop()
        content = request.content
        pending: asyncio.Future[None] | None = None
        batch: list[bytes] = []
        size = 0
        try:
            while True:
                chunk = content.read_nowait()
                if not chunk:
                    if batch and (pending is None or pending.done()):
                        if pending is not None:
                            await pending  # done: only re-raises a write error
                        pending = loop.run_in_executor(self._io, _write_batch, w, batch)
                        batch, size = [], 0
                    chunk = await content.readany()
                    if not chunk:
                        break
                batch.append(chunk)
                size += len(chunk)
                if size >= _BATCH:
                    if pending is not None:
                        await pending
                    pending = loop.run_in_executor(self._io, _write_batch, w, batch)
                    batch, size = [], 0
        finally:
            if pending is not None:
                await pending  # the thread is still writing into w: never leave before it is done
        if batch:
            _write_batch(w, batch)  # a tail that came with the end of the body

    async def _upload_get(self, request: web.Request, name: str, upload_id: str) -> web.Response:
        up = self._session(name, upload_id)
        return web.Response(status=204, headers=self._upload_headers(name, upload_id, self._offset(up)))

    async def _upload_patch(self, request: web.Request, name: str, upload_id: str) -> web.Response:
        up = self._session(name, upload_id)
        async with up.lock:
            self._check_range(request, name, upload_id, self._offset(up))
            async with self._ingest(up) as w:
                await self._copy_body(request, w)
            self.meta.touch_upload(upload_id)
            return web.Response(status=202, headers=self._upload_headers(name, upload_id, self._offset(up)))

    async def _upload_put(self, request: web.Request, name: str, upload_id: str) -> web.Response:
        self._session(name, upload_id)
        digest = request.query.get("digest")
        if digest is None:
            raise RegistryError("DIGEST_INVALID", "digest parameter missing")
        return await self._finish(request, name, upload_id, _digest_arg(digest))

    async def _finish(self, request: web.Request, name: str, upload_id: str, digest: str) -> web.Response:
        """Take the last bytes, verify, publish: the blob is visible only after this."""
        up = self._session(name, upload_id)
        async with up.lock:
            self._check_range(request, name, upload_id, self._offset(up))
            async with self._ingest(up) as w:
                await self._copy_body(request, w)
                try:
                    await asyncio.get_running_loop().run_in_executor(self._io, w.commit, None, digest)
                except errors.AlreadyExists:
                    pass  # verified, and someone published the same bytes first
                except errors.FailedPrecondition as err:
                    w.abort()
                    self._forget(upload_id)
                    raise RegistryError("DIGEST_INVALID", f"provided digest did not match uploaded content: {err}") from None
            self._forget(upload_id)
        return self._done(name, digest)

    async def _upload_delete(self, request: web.Request, name: str, upload_id: str) -> web.Response:
        up = self._session(name, upload_id)
        async with up.lock:
            self._drop(upload_id)
        return web.Response(status=204)
