"""The few registry calls signing needs, from the client side (the CLI never goes through the daemon
for them, as docker's trust commands talk to their server directly): resolve a tag to its manifest
digest, read and write the ``.sig`` attachment and its blobs. HTTPS, or plain HTTP to a loopback
registry (as dockerd treats 127.0.0.0/8) and to one on the daemon's insecure list; bearer tokens when
the registry asks for them, anonymous or for the credentials given (an ``AuthConfig``: username and
password, which also answer a Basic challenge, a registry token, or an identity token exchanged for an
access token at the realm as docker's OAuth2 refresh).
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from dockyard import errors
from dockyard.oci.digest import sha256_digest
from dockyard.oci.registryhost import api_host
from dockyard.oci.registryhost import is_insecure as plain_http

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json"])
REF = re.compile(r"^(?P<host>[^/]+)/(?P<repo>[a-z0-9._/-]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")


def split(reference: str) -> tuple[str, str, str, str]:
    """``host[:port]/repo[:tag][@digest]`` → (host, repo, tag, digest); the host part is required."""
    m = REF.match(reference)
    if not m or ("." not in m["host"] and ":" not in m["host"] and m["host"] != "localhost"):
        raise errors.InvalidArgument(f"{reference!r}: give the registry host (host[:port]/repository[:tag])")
    tag = m["tag"] or ("" if m["digest"] else "latest")
    return m["host"], m["repo"], tag, m["digest"] or ""


Sink = Callable[[int, int], None]  # (bytes so far, Content-Length or 0), called as a body arrives
CHUNK = 64 << 10


def _read(resp: http.client.HTTPResponse, sink: Sink | None) -> bytes:
    if sink is None:
        return resp.read()
    total = int(resp.getheader("Content-Length") or 0)
    parts: list[bytes] = []
    done = 0
    while chunk := resp.read(CHUNK):
        parts.append(chunk)
        done += len(chunk)
        sink(done, total)
    return b"".join(parts)


class Registry:
    def __init__(self, host: str, repo: str, auth: dict[str, Any] | None = None,
                 insecure: Sequence[str] = ()) -> None:
        self.host, self.repo = api_host(host), repo  # docker.io's API is Docker Hub's host
        self.secure = not plain_http(self.host, insecure)
        auth = auth or {}
        self.token = str(auth.get("registrytoken") or "")
        self.identity_token = str(auth.get("identitytoken") or "")  # an OAuth2 refresh token (docker login)
        self.basic = ""  # the credentials as a Basic header, sent where a challenge asks for them
        if auth.get("username") or auth.get("password"):
            pair = f"{auth.get('username') or ''}:{auth.get('password') or ''}".encode()
            self.basic = "Basic " + base64.b64encode(pair).decode()
        self.use_basic = False

    def _conn(self, host: str | None = None, secure: bool | None = None) -> http.client.HTTPConnection:
        host = host or self.host
        if self.secure if secure is None else secure:
            return http.client.HTTPSConnection(host, timeout=60, context=ssl.create_default_context())
        return http.client.HTTPConnection(host, timeout=60)

    def _request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                 sink: Sink | None = None) -> tuple[int, dict[str, str], bytes]:
        for attempt in range(2):
            hdrs = dict(headers or {})
            if self.token:
                hdrs["Authorization"] = f"Bearer {self.token}"
            elif self.use_basic:
                hdrs["Authorization"] = self.basic
            conn = self._conn()
            try:
                conn.request(method, path, body, hdrs)
                resp = conn.getresponse()
                got = {k.lower(): v for k, v in resp.getheaders()}
                data = _read(resp, sink if resp.status == 200 else None)
            except OSError as err:
                raise errors.Unavailable(f"registry {self.host}: {err}") from None
            finally:
                conn.close()
            challenge = got.get("www-authenticate", "")
            if resp.status == 401 and attempt == 0 and self.basic and challenge.lower().startswith("basic "):
                self.use_basic = True
                continue
            if resp.status == 401 and attempt == 0 and self._fetch_token(challenge):
                continue
            return resp.status, got, data
        raise errors.PermissionDenied(f"registry {self.host}: unauthorized")

    def _fetch_token(self, challenge: str) -> bool:
        if not challenge.lower().startswith("bearer "):
            return False
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = urllib.parse.urlsplit(params.get("realm", ""))
        if not realm.netloc:
            return False
        service, scope = params.get("service", ""), f"repository:{self.repo}:pull,push"
        self.token = self._refresh(realm, service, scope) if self.identity_token else ""
        if not self.token:
            query = urllib.parse.urlencode({"service": service, "scope": scope})
            doc = self._token_call(realm, "GET", f"{realm.path}?{query}", None,
                                   {"Authorization": self.basic} if self.basic else {})[1]
            self.token = doc.get("token") or doc.get("access_token") or ""
        return bool(self.token)

    def _refresh(self, realm: urllib.parse.SplitResult, service: str, scope: str) -> str:
        """An access token for the identity token, as docker's OAuth2 exchange: a POST of
        ``grant_type=refresh_token`` to the realm; "" if the realm refuses it (the GET is tried then)."""
        form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": self.identity_token,
                                       "service": service, "scope": scope, "client_id": "dockyard"}).encode()
        status, doc = self._token_call(realm, "POST", realm.path, form,
                                       {"Content-Type": "application/x-www-form-urlencoded"})
        return str(doc.get("access_token") or doc.get("token") or "") if status == 200 else ""

    def _token_call(self, realm: urllib.parse.SplitResult, method: str, path: str, body: bytes | None,
                    headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        conn = self._conn(realm.netloc, realm.scheme == "https")
        try:
            conn.request(method, path, body, headers)
            resp = conn.getresponse()
            doc = json.loads(resp.read() or b"{}")
        except (OSError, ValueError) as err:
            raise errors.Unavailable(f"registry {self.host}: token: {err}") from None
        finally:
            conn.close()
        return resp.status, doc if isinstance(doc, dict) else {}

    def _fail(self, what: str, status: int, data: bytes) -> errors.DockyardError:
        msg = f"registry {self.host}: {what}: HTTP {status}: {data[:200].decode(errors='replace')}"
        if status in (401, 403):
            return errors.PermissionDenied(msg)
        return errors.NotFound(msg) if status == 404 else errors.Internal(msg)

    def manifest(self, ref: str) -> tuple[bytes, str, str]:
        """(manifest bytes, its digest, its media type) of a tag or digest."""
        status, headers, data = self._request("GET", f"/v2/{self.repo}/manifests/{ref}", headers={"Accept": MANIFEST_TYPES})
        if status != 200:
            raise self._fail(f"manifest {self.repo}:{ref}", status, data)
        digest = sha256_digest(data)
        if ref.startswith("sha256:") and ref != digest:
            raise errors.InvalidArgument(f"registry {self.host}: manifest {ref} has digest {digest}")
        return data, digest, headers.get("content-type", "")

    def blob(self, digest: str, sink: Sink | None = None) -> bytes:
        """A blob, checked against its digest; ``sink(done, total)`` told as it arrives."""
        status, _, data = self._request("GET", f"/v2/{self.repo}/blobs/{digest}", sink=sink)
        if status != 200:
            raise self._fail(f"blob {digest}", status, data)
        if sha256_digest(data) != digest:
            raise errors.InvalidArgument(f"registry {self.host}: blob {digest} does not match its digest")
        return data

    def put_blob(self, data: bytes) -> None:
        digest = sha256_digest(data)
        status, _, _ = self._request("HEAD", f"/v2/{self.repo}/blobs/{digest}")
        if status == 200:
            return
        status, headers, body = self._request("POST", f"/v2/{self.repo}/blobs/uploads/")
        if status != 202 or "location" not in headers:
            raise self._fail("start upload", status, body)
        loc = urllib.parse.urlsplit(headers["location"])
        query = f"{loc.query}&" if loc.query else ""
        status, _, body = self._request("PUT", f"{loc.path}?{query}digest={digest}", data,
                                        {"Content-Type": "application/octet-stream"})
        if status != 201:
            raise self._fail(f"upload {digest}", status, body)

    def put_manifest(self, tag: str, data: bytes, media_type: str) -> None:
        status, _, body = self._request("PUT", f"/v2/{self.repo}/manifests/{tag}", data, {"Content-Type": media_type})
        if status != 201:
            raise self._fail(f"push manifest {tag}", status, body)


def manifest_json(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError:
        raise errors.InvalidArgument("registry: manifest is not JSON") from None
    return doc if isinstance(doc, dict) else {}
