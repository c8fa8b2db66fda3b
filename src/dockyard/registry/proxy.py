"""Pull-through cache: what the local store lacks is fetched from an upstream registry.

Tags are asked upstream on every pull (so a moved tag is seen), falling back
to the local copy when upstream is unreachable; digests and blobs are served
locally once fetched. Upstream bytes are verified against their digest before
they are published, exactly like a push. Upstream token auth (the Bearer
challenge) is followed with the configured credentials, or anonymously.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from dockyard import errors
from dockyard.registry import manifest as mf
from dockyard.registry.metadata import ManifestRow

if TYPE_CHECKING:
    from dockyard.registry.app import Registry

ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


class Upstream:
    def __init__(self, url: str, username: str | None = None, password: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._basic = None
        if username is not None:
            self._basic = "Basic " + base64.b64encode(f"{username}:{password or ''}".encode()).decode()
        self._session: aiohttp.ClientSession | None = None
        self._tokens: dict[str, str] = {}

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _token(self, challenge: str, scope: str) -> str | None:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", None)
        if realm is None:
            return None
        params.setdefault("scope", scope)
        headers = {"Authorization": self._basic} if self._basic else {}
        async with self.session().get(realm, params=params, headers=headers) as r:
            if r.status != 200:
                return None
            body = await r.json(content_type=None)
        return body.get("token") or body.get("access_token")

    async def request(self, method: str, path: str, name: str, headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        """Send, following one auth challenge; the caller reads and releases the response."""
        headers = dict(headers or {})
        scope = f"repository:{name}:pull"
        if name in self._tokens:
            headers["Authorization"] = "Bearer " + self._tokens[name]
        elif self._basic:
            headers["Authorization"] = self._basic
        r = await self.session().request(method, self.url + path, headers=headers)
        if r.status == 401:
            challenge = r.headers.get("WWW-Authenticate", "")
            r.release()
            if challenge.lower().startswith("bearer"):
                token = await self._token(challenge, scope)
                if token:
                    self._tokens[name] = token
                    headers["Authorization"] = "Bearer " + token
            r = await self.session().request(method, self.url + path, headers=headers)
        return r

    # -- the Registry's hooks ---------------------------------------------------------
    async def manifest(self, reg: Registry, name: str, ref: str) -> ManifestRow | None:
        try:
            r = await self.request("GET", f"/v2/{name}/manifests/{ref}", name, {"Accept": ACCEPT})
        except (aiohttp.ClientError, OSError):
            return None
        async with r:
            if r.status != 200:
                return None
            body = await r.read()
            ctype = r.headers.get("Content-Type")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if ":" in ref and ref != digest:
            return None
        parsed = mf.parse(body, ctype)
        reg.put_manifest_bytes(name, body, digest, parsed)
        if ":" not in ref:
            reg.meta.set_tag(name, ref, digest)
        return reg.meta.manifest(name, digest)

    async def blob(self, reg: Registry, name: str, digest: str) -> bool:
        if not reg.store.exists(digest):
            try:
                r = await self.request("GET", f"/v2/{name}/blobs/{digest}", name)
            except (aiohttp.ClientError, OSError):
                return False
            async with r:
                if r.status != 200:
                    return False
                w = reg.store.writer(f"proxy-{uuid.uuid4().hex}")
                try:
                    async for chunk in r.content.iter_chunked(1 << 20):
                        w.write(chunk)
                    w.commit(None, digest)
                except errors.AlreadyExists:
                    pass
                except errors.FailedPrecondition:
                    w.abort()
                    return False
                finally:
                    w.close()
        reg.meta.link_blob(name, digest)
        return True

    async def tags(self, request: web.Request, name: str) -> web.Response:
        qs = ("?" + request.query_string) if request.query_string else ""
        r = await self.request("GET", f"/v2/{name}/tags/list{qs}", name)
        async with r:
            body = await r.read()
            headers = {"Content-Type": r.headers.get("Content-Type", "application/json")}
            if "Link" in r.headers:
                headers["Link"] = r.headers["Link"]
            return web.Response(status=r.status, body=body, headers=headers)


