"""One repository of one registry, over the distribution HTTP API v2.

Every request goes through ``request``: it adds what the authorizer has for
the host, answers a 401 challenge once, and turns an error body
(``{"errors": [{"code": "MANIFEST_UNKNOWN", ...}]}``) into the matching
``dockyard.errors`` kind with the registry's code in the message, so the user
reads ``MANIFEST_UNKNOWN: manifest unknown`` and not an HTTP status.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urljoin

import aiohttp

from dockyard import errors
from dockyard.containerd.remotes.auth import Authorizer, scope_for
from dockyard.containerd.remotes.hosts import Endpoint
from dockyard.oci import image as oci
from dockyard.oci.reference import Reference
from dockyard.types import Descriptor

SCHEMA1_TYPES = frozenset({
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
})
ACCEPT = ", ".join([oci.MEDIA_TYPE_OCI_INDEX, oci.MEDIA_TYPE_DOCKER_MANIFEST_LIST, oci.MEDIA_TYPE_OCI_MANIFEST,
                    oci.MEDIA_TYPE_DOCKER_MANIFEST, "application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.1"])

CODES: dict[str, type[errors.DockyardError]] = {
    "UNAUTHORIZED": errors.PermissionDenied,
    "DENIED": errors.PermissionDenied,
    "MANIFEST_UNKNOWN": errors.NotFound,
    "NAME_UNKNOWN": errors.NotFound,
    "BLOB_UNKNOWN": errors.NotFound,
    "BLOB_UPLOAD_UNKNOWN": errors.NotFound,
    "TOOMANYREQUESTS": errors.Unavailable,
    "UNSUPPORTED": errors.NotImplementedYet,
    "MANIFEST_INVALID": errors.InvalidArgument,
    "MANIFEST_BLOB_UNKNOWN": errors.InvalidArgument,
    "DIGEST_INVALID": errors.InvalidArgument,
    "SIZE_INVALID": errors.InvalidArgument,
    "NAME_INVALID": errors.InvalidArgument,
    "TAG_INVALID": errors.InvalidArgument,
    "BLOB_UPLOAD_INVALID": errors.InvalidArgument,
}
_BY_STATUS: dict[int, tuple[str, type[errors.DockyardError]]] = {
    401: ("UNAUTHORIZED", errors.PermissionDenied),
    403: ("DENIED", errors.PermissionDenied),
    404: ("NAME_UNKNOWN", errors.NotFound),
    429: ("TOOMANYREQUESTS", errors.Unavailable),
}


async def error_of(resp: aiohttp.ClientResponse, what: str) -> errors.DockyardError:
    """The registry's error, by its code name; falls back on the HTTP status."""
    try:
        body = await resp.json(content_type=None)
        first = (body.get("errors") or [])[0]
        code, message = str(first.get("code", "")), str(first.get("message", ""))
    except Exception:  # a proxy's HTML page, an empty body: the status is all there is
        code, message = "", ""
    if code:
        kind = CODES.get(code, errors.Internal if resp.status >= 500 else errors.InvalidArgument)
        return kind(f"{what}: {code}: {message or code.lower()}")
    name, kind = _BY_STATUS.get(resp.status, ("", errors.Unavailable if resp.status >= 500 else errors.Internal))
    return kind(f"{what}: {name or 'HTTP ' + str(resp.status)}: {resp.reason or ''}".rstrip(": "))


def timeout() -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)


class Repository:
    """``<endpoint>/v2/<path>/...`` with authentication; one per pull or push."""

    def __init__(self, session: aiohttp.ClientSession, endpoint: Endpoint, ref: Reference,
                 auth: Authorizer, push: bool = False) -> None:
        self.session = session
        self.endpoint = endpoint
        self.ref = ref
        self.path = ref.path
        self.auth = auth
        self.scope = scope_for(ref.path, "pull,push" if push else "pull")

    def url(self, tail: str) -> str:
        return f"{self.endpoint.base}/v2/{self.path}/{tail}"

    def absolute(self, location: str) -> str:
        return urljoin(self.endpoint.base + "/", location)

    async def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                      data: Any = None, body_factory: Callable[[], Any] | None = None,
                      ok: tuple[int, ...] = (200,), what: str = "", scope: str | None = None) -> aiohttp.ClientResponse:
        """Send, answering one auth challenge; returns an open response whose status is in ``ok``."""
        scope = self.scope if scope is None else scope
        for attempt in range(2):
            hdrs = dict(headers or {})
            authz = self.auth.header(self.endpoint.host, scope)
            if authz:
                hdrs["Authorization"] = authz
            payload = body_factory() if body_factory is not None else data
            try:
                resp = await self.session.request(method, url, headers=hdrs, data=payload, allow_redirects=True)
            except aiohttp.ClientConnectorError as err:
                raise errors.Unavailable(f"{what or url}: cannot reach {self.endpoint.base}: {err.os_error}") from err
            except aiohttp.ClientError as err:
                raise errors.Unavailable(f"{what or url}: {err}") from err
            if resp.status == 401 and attempt == 0:
                challenge = resp.headers.get("WWW-Authenticate", "")
                resp.release()
                if challenge and await self.auth.answer(self.session, self.endpoint.host, scope, challenge):
                    continue
                raise errors.PermissionDenied(
                    f"{what or url}: UNAUTHORIZED: authentication required" if not self.auth.creds
                    else f"{what or url}: UNAUTHORIZED: incorrect username or password")
            if resp.status in ok:
                return resp
            try:
                raise await error_of(resp, what or f"{method} {url}")
            finally:
                resp.release()
        raise errors.PermissionDenied(f"{what or url}: UNAUTHORIZED: authentication required")

    # -- pull ---------------------------------------------------------------

    async def get_manifest(self, ref: str, media_type_hint: str = "") -> tuple[Descriptor, bytes]:
        """GET a manifest or index by tag or digest; the digest is verified when one was asked for."""
        resp = await self.request("GET", self.url(f"manifests/{ref}"), headers={"Accept": ACCEPT},
                                  what=f"{self.ref.name}:{ref}" if not ref.startswith("sha256:")
                                  else f"{self.ref.name}@{ref}")
        try:
            body = await resp.read()
            media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
            header_digest = resp.headers.get("Docker-Content-Digest", "")
        finally:
            resp.release()
        if media_type in SCHEMA1_TYPES or (media_type in ("", "application/json") and b'"schemaVersion": 1' in body):
            raise errors.InvalidArgument(
                f"{self.ref}: the image is in Docker image manifest v2 schema 1 format, which is deprecated and "
                "not supported; the image must be pushed again in schema 2 or OCI format")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if ref.startswith("sha256:") and digest != ref:
            raise errors.FailedPrecondition(f"{self.ref.name}@{ref}: the registry sent content of digest {digest}")
        if header_digest and header_digest.startswith("sha256:") and header_digest != digest:
            raise errors.FailedPrecondition(f"{self.ref}: Docker-Content-Digest {header_digest} != content {digest}")
        if media_type not in oci.MANIFEST_TYPES | oci.INDEX_TYPES:
            media_type = media_type_hint or _sniff(body)
        return Descriptor(media_type, digest, len(body)), body

    async def open_blob(self, digest: str, offset: int = 0) -> aiohttp.ClientResponse:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        return await self.request("GET", self.url(f"blobs/{digest}"), headers=headers, ok=(200, 206, 416),
                                  what=f"blob {digest}")

    # -- push ---------------------------------------------------------------

    async def blob_exists(self, digest: str) -> bool:
        resp = await self.request("HEAD", self.url(f"blobs/{digest}"), ok=(200, 404), what=f"blob {digest}")
        resp.release()
        return resp.status == 200

    async def start_upload(self, mount: str = "", source: str = "") -> tuple[bool, str]:
        """POST an upload; with ``mount``/``source`` ask for a cross-repository mount first.

        Returns (mounted, upload location)."""
        url = self.url("blobs/uploads/")
        if mount:
            url += f"?mount={mount}&from={source}"
        scope = f"{self.scope} repository:{source}:pull" if mount else ""
        resp = await self.request("POST", url, ok=(201, 202), what=f"upload to {self.ref.name}", scope=scope or None)
        resp.release()
        return resp.status == 201, self.absolute(resp.headers.get("Location", ""))

    async def put_blob(self, location: str, digest: str, size: int, chunks: Callable[[], AsyncIterator[bytes]]
                       ) -> None:
        """Monolithic upload: one PUT carries the whole blob."""
        sep = "&" if "?" in location else "?"
        resp = await self.request("PUT", f"{location}{sep}digest={digest}", body_factory=chunks,
                                  headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                                  ok=(201, 204), what=f"blob {digest}")
        resp.release()

    async def patch_chunk(self, location: str, start: int, data: bytes) -> str:
        """Chunked upload: one PATCH; returns the next location."""
        resp = await self.request("PATCH", location, data=data, ok=(202,), what="upload chunk",
                                  headers={"Content-Type": "application/octet-stream",
                                           "Content-Range": f"{start}-{start + len(data) - 1}",
                                           "Content-Length": str(len(data))})
        resp.release()
        return self.absolute(resp.headers.get("Location", location))

    async def finish_upload(self, location: str, digest: str) -> None:
        sep = "&" if "?" in location else "?"
        resp = await self.request("PUT", f"{location}{sep}digest={digest}", data=b"", ok=(201, 204),
                                  headers={"Content-Length": "0"}, what=f"blob {digest}")
        resp.release()

    async def put_manifest(self, ref: str, media_type: str, body: bytes) -> str:
        resp = await self.request("PUT", self.url(f"manifests/{ref}"), data=body, ok=(200, 201, 202),
                                  headers={"Content-Type": media_type}, what=f"manifest {self.ref.name}:{ref}")
        resp.release()
        return resp.headers.get("Docker-Content-Digest", "")


def _sniff(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError as err:
        raise errors.InvalidArgument(f"manifest is not JSON: {err}") from err
    if doc.get("mediaType"):
        return str(doc["mediaType"])
    return oci.MEDIA_TYPE_OCI_INDEX if "manifests" in doc else oci.MEDIA_TYPE_OCI_MANIFEST
