"""A signature policy in containers-policy.json(5) format, as skopeo and podman read it.

``{"default": [REQ...], "transports": {"docker": {SCOPE: [REQ...]}}}``; a requirement is
``insecureAcceptAnything``, ``reject`` or ``sigstoreSigned`` (``keyPath`` or ``keyData``, an optional
``signedIdentity``). Every requirement of the chosen list must hold. The scope is the most specific
of ``host/repo:tag`` (or ``@digest``), ``host/repo``, its parent namespaces, ``host``, a
``*.domain`` wildcard, then the transport's ``""`` entry, then ``default``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from dockyard import errors
from dockyard.trust import keys
from dockyard.trust.sigstore import Signature

IDENTITIES = ("matchRepoDigestOrExact", "matchExact", "matchRepository")


@dataclass
class Requirement:
    type: str
    key_name: str = ""  # the keyPath, or "keyData", for messages
    key: ec.EllipticCurvePublicKey | None = None
    identity: str = "matchRepoDigestOrExact"

    def describe(self) -> str:
        return f"sigstoreSigned by {self.key_name}" if self.type == "sigstoreSigned" else self.type


@dataclass
class Image:
    """What a policy judges: ``host/repo`` and the tag or digest it was asked for, the manifest digest."""
    name: str
    tag: str
    digest: str
    manifest_digest: str = ""

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


@dataclass
class Policy:
    default: list[Requirement]
    docker: dict[str, list[Requirement]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Policy:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise errors.InvalidArgument(f"signature policy {path}: {err}") from None
        return cls.parse(doc, str(path))

    @classmethod
    def parse(cls, doc: Any, where: str = "signature policy") -> Policy:
        if not isinstance(doc, dict) or "default" not in doc:
            raise errors.InvalidArgument(f"{where}: a JSON object with a \"default\" list is required")
        transports = doc.get("transports") or {}
        if not isinstance(transports, dict):
            raise errors.InvalidArgument(f"{where}: \"transports\" is not an object")
        docker = transports.get("docker") or {}
        if not isinstance(docker, dict):
            raise errors.InvalidArgument(f"{where}: \"transports.docker\" is not an object")
        return cls(_requirements(doc["default"], f"{where}: default"),
                   {scope: _requirements(reqs, f"{where}: transports.docker[{scope!r}]")
                    for scope, reqs in docker.items()})

    def scope(self, image: Image) -> tuple[str, list[Requirement]]:
        """The scope naming ``image`` most specifically (as a message names it) and its requirements."""
        for candidate in _scopes(image):
            if candidate in self.docker:
                return f"transports.docker[{candidate!r}]", self.docker[candidate]
        return "default", self.default

    def needs_signatures(self, image: Image) -> bool:
        return any(r.type == "sigstoreSigned" for r in self.scope(image)[1])

    def check(self, image: Image, signatures: Callable[[], list[Signature]]) -> None:
        """Raise PermissionDenied naming the image and the requirement it fails; ``signatures`` is
        called (once) only if a requirement needs them, and ``image.manifest_digest`` must be set then."""
        where, reqs = self.scope(image)
        found: list[Signature] | None = None
        for req in reqs:
            if req.type == "insecureAcceptAnything":
                continue
            if req.type == "reject":
                raise errors.PermissionDenied(f"image {image} is refused by the signature policy ({where}: reject)")
            found = signatures() if found is None else found
            problem = _unverified(req, image, found)
            if problem:
                raise errors.PermissionDenied(
                    f"image {image} is refused by the signature policy ({where}: {req.describe()}): {problem}")


def _requirements(reqs: Any, where: str) -> list[Requirement]:
    if not isinstance(reqs, list) or not reqs:
        raise errors.InvalidArgument(f"{where}: a non-empty list of requirements is required")
    return [_requirement(r, where) for r in reqs]


def _requirement(req: Any, where: str) -> Requirement:
    kind = req.get("type") if isinstance(req, dict) else None
    if kind in ("insecureAcceptAnything", "reject"):
        return Requirement(kind)
    if kind != "sigstoreSigned":
        raise errors.InvalidArgument(f"{where}: unsupported requirement type {kind!r} "
                                     "(insecureAcceptAnything, reject, sigstoreSigned)")
    identity = (req.get("signedIdentity") or {"type": "matchRepoDigestOrExact"}).get("type")
    if identity not in IDENTITIES:
        raise errors.InvalidArgument(f"{where}: unsupported signedIdentity {identity!r} ({', '.join(IDENTITIES)})")
    if ("keyPath" in req) == ("keyData" in req):
        raise errors.InvalidArgument(f"{where}: sigstoreSigned needs exactly one of keyPath, keyData")
    if "keyPath" in req:
        name = str(req["keyPath"])
        try:
            pem = Path(name).read_bytes()
        except OSError as err:
            raise errors.InvalidArgument(f"{where}: keyPath: {err}") from None
    else:
        name = "keyData"
        try:
            pem = base64.b64decode(str(req["keyData"]), validate=True)
        except ValueError:
            raise errors.InvalidArgument(f"{where}: keyData is not base64") from None
    try:
        key = keys.load_public_key(pem)
    except errors.InvalidArgument as err:
        raise errors.InvalidArgument(f"{where}: {name}: {err}") from None
    return Requirement("sigstoreSigned", name, key, identity)


def _scopes(image: Image) -> list[str]:
    out = [str(image)] if image.tag or image.digest else []
    parts = image.name.split("/")
    out += ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]
    host = parts[0].split(":")[0]
    labels = host.split(".")
    out += ["*." + ".".join(labels[n:]) for n in range(1, len(labels))]
    return out + [""]


def _identity_matches(req: Requirement, image: Image, signed: str) -> bool:
    if req.identity == "matchRepository" or (req.identity == "matchRepoDigestOrExact" and image.digest):
        return _repository(signed) == image.name
    return signed == str(image)


def _repository(ref: str) -> str:
    name = ref.split("@")[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    return name[:colon] if colon > slash else name


def _unverified(req: Requirement, image: Image, signatures: list[Signature]) -> str:
    """"" if a signature by ``req``'s key over the manifest names the image, else why not."""
    if not signatures:
        return "no signatures"
    assert req.key is not None
    problems = []
    for sig in signatures:
        try:
            claims = sig.verify(req.key, image.manifest_digest)
        except errors.DockyardError as err:
            problems.append(str(err))
            continue
        if _identity_matches(req, image, claims["reference"]):
            return ""
        problems.append(f"signature: names {claims['reference']}, not {image} ({req.identity})")
    return "; ".join(dict.fromkeys(problems))
