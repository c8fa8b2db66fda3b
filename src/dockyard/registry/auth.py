"""Who may do what: htpasswd Basic auth, and token auth with a built-in token server.

Token auth follows Docker Hub's flow: a request without a valid token gets
``401`` and ``WWW-Authenticate: Bearer realm=...,service=...,scope=...``; the
client asks the realm (our own ``/token`` endpoint) for a token with Basic
credentials, or none for anonymous pull, and retries with ``Bearer <jwt>``.

Tokens are JWTs signed with **HS256**. The token server and the registry are
the same process and share one secret (``<root>/token.key``, 0600, made on
first start), so there is no public key to distribute and verifying costs a
single HMAC. A split deployment would want ES256; nothing else would change.

Permissions come from ACL rules (config file ``acl``): ``account`` is a user
name, ``"*"`` (any authenticated user) or ``""`` (anonymous); ``name`` is a
glob over repository names; ``actions`` a subset of pull, push, delete, ``*``.
Without rules, authenticated users may do everything, anonymous users may
pull only with ``anonymous_pull``.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import os
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt

from dockyard.registry.errors import RegistryError

ISSUER = "dockyard-registry"
TOKEN_TTL = 300


@dataclass(frozen=True)
class Rule:
    account: str
    name: str
    actions: frozenset[str]


@dataclass(frozen=True)
class Scope:
    type: str          # "repository" or "registry"
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"

    @classmethod
    def parse(cls, text: str) -> Scope:
        """``repository:name:pull,push``; the name may itself contain ':' (a registry host with a port)."""
        typ, _, rest = text.partition(":")
        name, _, actions = rest.rpartition(":")
        if not typ or not name:
            raise RegistryError("UNAUTHORIZED", f"invalid scope {text!r}", status=400)
        return cls(typ, name, frozenset(a for a in actions.split(",") if a))


class Htpasswd:
    """An htpasswd file of bcrypt hashes, re-read when it changes.

    bcrypt costs ~100 ms a check and Docker sends credentials on every request,
    so successful checks are remembered by (user, sha256(password), hash).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._mtime = -1.0
        self._users: dict[str, bytes] = {}
        self._ok: set[tuple[str, str, bytes]] = set()
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        mtime = self.path.stat().st_mtime
        if mtime == self._mtime:
            return
        users = {}
        for line in self.path.read_text().splitlines():
            user, sep, hashed = line.strip().partition(":")
            if sep and user and not user.startswith("#"):
                users[user] = hashed.encode()
        self._users, self._mtime, self._ok = users, mtime, set()

    def check(self, user: str, password: str) -> bool:
        with self._lock:
            self._load()
            hashed = self._users.get(user)
            if hashed is None or not hashed.startswith((b"$2y$", b"$2a$", b"$2b$")):
                return False
            key = (user, hashlib.sha256(password.encode()).hexdigest(), hashed)
            if key in self._ok:
                return True
        # bcrypt's $2y$ is $2b$ under another name
        if not bcrypt.checkpw(password.encode(), b"$2b$" + hashed[4:]):
            return False
        with self._lock:
            self._ok.add(key)
        return True


def hash_password(password: str, rounds: int = 10) -> str:
    """An htpasswd line's hash part ($2y$, as ``htpasswd -B`` writes)."""
    return "$2y$" + bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()[4:]


@dataclass
class Identity:
    account: str                        # "" = anonymous
    granted: list[Scope] | None = None  # from a token; None = decide by ACL


@dataclass
class Authorizer:
    """Decides per request; ``mode`` is "none", "basic" or "token"."""

    mode: str = "none"
    htpasswd: Htpasswd | None = None
    realm: str = ""
    service: str = "dockyard-registry"
    secret: bytes = b""
    anonymous_pull: bool = False
    rules: list[Rule] = field(default_factory=list)

    # -- ACL ---------------------------------------------------------------------
    def allowed_actions(self, account: str, scope_type: str, name: str) -> frozenset[str]:
        if scope_type == "registry":
            return frozenset({"*"}) if account and name == "catalog" else frozenset()
        if not self.rules:
            if account:
                return frozenset({"pull", "push", "delete"})
            return frozenset({"pull"}) if self.anonymous_pull else frozenset()
        out: set[str] = set()
        for rule in self.rules:
            who = rule.account == account or (rule.account == "*" and account)
            if who and fnmatch.fnmatchcase(name, rule.name):
                out |= {"pull", "push", "delete"} if "*" in rule.actions else rule.actions
        if not account and self.anonymous_pull:
            out.add("pull")
        return frozenset(out)

    def may(self, ident: Identity, name: str, action: str) -> bool:
        """Whether the ACL lets ``ident`` do ``action`` on repository ``name`` (filters the catalog)."""
        if self.mode == "none":
            return True
        return action in self.allowed_actions(ident.account, "repository", name)

    # -- requests ------------------------------------------------------------------
    def _basic(self, header: str) -> str | None:
        """The user named by valid Basic credentials; None if absent; raises if wrong."""
        if not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise RegistryError("UNAUTHORIZED", "malformed credentials") from None
        if self.htpasswd is None or not self.htpasswd.check(user, password):
            raise RegistryError("UNAUTHORIZED", "invalid username or password")
        return user

    def identify(self, header: str) -> Identity | None:
        """Who sent the request (None: nobody said; the challenge decides)."""
        if self.mode == "basic":
            user = self._basic(header)
            return Identity(user) if user is not None else None
        if self.mode == "token" and header.lower().startswith("bearer "):
            return self.verify(header[7:].strip())
        return None

    def challenge(self, scope: Scope | None, error: str | None = None) -> str:
        if self.mode == "basic":
            return f'Basic realm="{self.service}"'
        parts = [f'realm="{self.realm}"', f'service="{self.service}"']
        if scope is not None:
            parts.append(f'scope="{scope}"')
        if error:
            parts.append(f'error="{error}"')
        return "Bearer " + ",".join(parts)

    def authorize(self, header: str, need: Scope | None) -> Identity:
        """Raise UNAUTHORIZED (with the challenge) or DENIED unless the request may go on."""
        if self.mode == "none":
            return Identity("admin")
        try:
            ident = self.identify(header)
        except RegistryError as err:
            raise RegistryError("UNAUTHORIZED", err.message,
                                headers={"WWW-Authenticate": self.challenge(need, "invalid_token")}) from None
        if need is None:  # /v2/: any valid identity; anonymous only if it may pull
            if ident is None and not self.anonymous_pull:
                raise RegistryError("UNAUTHORIZED", "authentication required",
                                    headers={"WWW-Authenticate": self.challenge(None)})
            return ident or Identity("")
        if ident is None:
            ident = Identity("")
            if self.mode == "token" or not self.allowed_actions("", need.type, need.name) >= need.actions:
                raise RegistryError("UNAUTHORIZED", "authentication required",
                                    detail=[{"Type": need.type, "Name": need.name, "Action": a} for a in sorted(need.actions)],
                                    headers={"WWW-Authenticate": self.challenge(need)})
        if ident.granted is not None:
            have: set[str] = set()
            for s in ident.granted:
                if s.type == need.type and s.name == need.name:
                    have |= s.actions
            if "*" in have or have >= need.actions:
                return ident
            raise RegistryError("UNAUTHORIZED", "insufficient scope",
                                headers={"WWW-Authenticate": self.challenge(need, "insufficient_scope")})
        if not self.allowed_actions(ident.account, need.type, need.name) >= need.actions:
            raise RegistryError("DENIED", f"requested access to the resource is denied: {need}")
        return ident

    # -- tokens ------------------------------------------------------------------
    def issue(self, auth_header: str, scopes: list[Scope]) -> dict[str, Any]:
        """The token server: authenticate (Basic or anonymous), grant what the ACL allows."""
        # lazy: 44 ms of CPU (PyJWT's import, measured) on every registry start; only token auth uses it
        import jwt

        account = self._basic(auth_header) or ""
        granted = []
        for s in scopes:
            allowed = self.allowed_actions(account, s.type, s.name)
            acts = s.actions if "*" in allowed else s.actions & allowed
            if acts:
                granted.append({"type": s.type, "name": s.name, "actions": sorted(acts)})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": account, "aud": self.service, "iat": now, "nbf": now - 1,
                  "exp": now + TOKEN_TTL, "jti": uuid.uuid4().hex, "access": granted}
        token = jwt.encode(claims, self.secret, algorithm="HS256")
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return {"token": token, "access_token": token, "expires_in": TOKEN_TTL, "issued_at": issued}

    def verify(self, token: str) -> Identity:
        # lazy: 44 ms of CPU (PyJWT's import, measured) on every registry start; only token auth uses it
        import jwt

        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], audience=self.service, issuer=ISSUER)
        except jwt.PyJWTError as err:
            raise RegistryError("UNAUTHORIZED", f"invalid token: {err}") from None
        granted = [Scope(a.get("type", ""), a.get("name", ""), frozenset(a.get("actions", [])))
                   for a in claims.get("access", []) if isinstance(a, dict)]
        return Identity(claims.get("sub", ""), granted)


def load_secret(path: Path) -> bytes:
    """The HS256 key: read, or made once (0600) so tokens survive a restart."""
    path = Path(path)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()
