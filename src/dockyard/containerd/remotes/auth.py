"""Registry authentication: the ``WWW-Authenticate`` challenge flow.

A request goes out anonymously (or with what worked for the host before). On a
401 the challenge says what to do: ``Basic`` -> resend with the user's
credentials; ``Bearer realm=...,service=...,scope=...`` -> fetch a token from
the realm (with Basic credentials, a refresh token, or anonymously) and resend
with it. Tokens are cached per (host, scope) for the life of one operation;
credentials are never stored by containerd.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from dockyard import errors

_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # OAuth2 refresh token
    registry_token: str = ""  # a bearer token, sent as is

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def __bool__(self) -> bool:
        return bool(self.username or self.identity_token or self.registry_token)


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: basic, bearer
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` (one or several challenges, RFC 7235)."""
    out: list[Challenge] = []
    pos = 0
    header = header.strip()
    while pos < len(header):
        m = re.match(r"\s*,?\s*([A-Za-z][A-Za-z0-9_-]*)\s*", header[pos:])
        if not m:
            break
        scheme = m.group(1).lower()
        pos += m.end()
        params: dict[str, str] = {}
        while pos < len(header):
            pm = _PARAM.match(header, pos)
            if not pm:
                break
            value = pm.group(2) if pm.group(2) is not None else pm.group(3)
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
            pos = pm.end()
            cm = re.match(r"\s*,\s*", header[pos:])
            if not cm:
                break
            pos += cm.end()
            if not _PARAM.match(header, pos):  # next thing is a new scheme
                break
        out.append(Challenge(scheme, params))
    return out


def scope_for(path: str, actions: str) -> str:
    return f"repository:{path}:{actions}"


class Authorizer:
    """Holds what answers each host's challenge for one pull or push."""

    def __init__(self, creds: Credentials | None = None) -> None:
        self.creds = creds or Credentials()
        self._header: dict[tuple[str, str], str] = {}  # (host, scope) -> Authorization value
        self._basic_hosts: set[str] = set()

    def header(self, host: str, scope: str) -> str | None:
        if host in self._basic_hosts:
            return self.creds.basic()
        return self._header.get((host, scope))

    async def answer(self, session: Any, host: str, scope: str, www_authenticate: str) -> bool:
        """Handle a 401; True when a retry with new credentials makes sense."""
        challenges = parse_challenges(www_authenticate)
        for ch in challenges:
            if ch.scheme == "bearer":
                token = await self._fetch_token(session, ch, scope)
                key = (host, scope)
                value = f"Bearer {token}"
                if self._header.get(key) == value:
                    return False  # the same token was refused: retrying cannot help
                self._header[key] = value
                return True
            if ch.scheme == "basic":
                if not self.creds.username or host in self._basic_hosts:
                    return False
                self._basic_hosts.add(host)
                return True
        return False

    async def _fetch_token(self, session: Any, ch: Challenge, scope: str) -> str:
        if self.creds.registry_token:
            return self.creds.registry_token
        realm = ch.params.get("realm")
        if not realm:
            raise errors.PermissionDenied("UNAUTHORIZED: bearer challenge without a realm")
        service = ch.params.get("service", "")
        scopes = sorted({s for x in (ch.params.get("scope", ""), scope) for s in x.split(" ") if s})
        if self.creds.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": self.creds.identity_token,
                    "service": service, "scope": " ".join(scopes), "client_id": "dockyard"}
            async with session.post(realm, data=form) as resp:
                if resp.status == 200:
                    body = await resp.json(content_type=None)
                    return str(body.get("access_token") or body.get("token"))
        params = [("service", service)] if service else []
        params += [("scope", s) for s in scopes]
        headers = {"Authorization": self.creds.basic()} if self.creds.username else {}
        async with session.get(realm, params=params, headers=headers) as resp:
            if resp.status in (401, 403):
                raise errors.PermissionDenied(
                    "UNAUTHORIZED: the token server refused the credentials" if self.creds
                    else "UNAUTHORIZED: authentication required")
            if resp.status != 200:
                raise errors.Unavailable(f"token server {realm}: HTTP {resp.status}")
            body = await resp.json(content_type=None)
        token = body.get("token") or body.get("access_token")
        if not token:
            raise errors.PermissionDenied("UNAUTHORIZED: the token server answered without a token")
        return str(token)
