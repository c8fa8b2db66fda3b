"""Sigstore signatures of images: the simple-signing payload, its ECDSA signature, and the cosign
attachment layout in a registry (as containers/image reads and writes it with
``use-sigstore-attachments``).

The payload is ``{"critical": {"identity": {"docker-reference": REF}, "image": {"docker-manifest-digest":
DIGEST}, "type": "cosign container image signature"}, "optional": {...}}``; its ECDSA P-256 SHA-256
signature (ASN.1 DER, base64) travels in the layer annotation ``dev.cosignproject.cosign/signature`` of
an OCI manifest tagged ``sha256-<hex>.sig`` in the image's repository, one layer per signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from dockyard import errors

PAYLOAD_TYPE = "cosign container image signature"
PAYLOAD_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def attachment_tag(manifest_digest: str) -> str:
    algo, _, hexd = manifest_digest.partition(":")
    return f"{algo}-{hexd}.sig"


def payload(reference: str, manifest_digest: str, creator: str = "dockyard") -> bytes:
    return json.dumps({"critical": {"identity": {"docker-reference": reference},
                                    "image": {"docker-manifest-digest": manifest_digest}, "type": PAYLOAD_TYPE},
                       "optional": {"creator": creator, "timestamp": int(time.time())}},
                      separators=(",", ":")).encode()


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


@dataclass
class Signature:
    payload: bytes
    signature: str  # base64
    media_type: str = PAYLOAD_MEDIA_TYPE

    def claims(self) -> dict[str, Any]:
        """The payload's critical section, checked for shape (not for trust: see ``verify``)."""
        try:
            doc = json.loads(self.payload)
            crit = doc["critical"]
            if crit["type"] != PAYLOAD_TYPE:
                raise errors.InvalidArgument(f"signature: payload type {crit['type']!r}")
            return {"reference": str(crit["identity"]["docker-reference"]),
                    "digest": str(crit["image"]["docker-manifest-digest"]), "optional": doc.get("optional") or {}}
        except (ValueError, KeyError, TypeError):
            raise errors.InvalidArgument("signature: malformed simple-signing payload") from None

    def verify(self, key: ec.EllipticCurvePublicKey, manifest_digest: str) -> dict[str, Any]:
        """The claims, if ``key`` signed this payload and the payload names ``manifest_digest``."""
        if self.media_type != PAYLOAD_MEDIA_TYPE:
            raise errors.InvalidArgument(f"signature: media type {self.media_type!r}")
        try:
            key.verify(base64.b64decode(self.signature), self.payload, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            raise errors.PermissionDenied("signature: not made by this key") from None
        claims = self.claims()
        if claims["digest"] != manifest_digest:
            raise errors.PermissionDenied(f"signature: signs {claims['digest']}, not {manifest_digest}")
        return claims


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def attachment_manifest(signatures: list[Signature], blobs: dict[str, bytes]) -> bytes:
    """The OCI manifest of the ``.sig`` tag; every blob it needs is added to ``blobs`` (digest → bytes)."""
    layers = []
    for s in signatures:
        d = digest_of(s.payload)
        blobs[d] = s.payload
        layers.append({"mediaType": s.media_type, "size": len(s.payload), "digest": d,
                       "annotations": {SIGNATURE_ANNOTATION: s.signature}})
    config = json.dumps({"architecture": "", "os": "", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [entry["digest"] for entry in layers]}}).encode()
    blobs[digest_of(config)] = config
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": digest_of(config)},
                       "layers": layers}).encode()


def parse_attachment(manifest: bytes) -> list[tuple[str, str, str]]:
    """(media type, payload digest, base64 signature) of each layer of a ``.sig`` manifest."""
    try:
        doc = json.loads(manifest)
        return [(entry["mediaType"], entry["digest"], (entry.get("annotations") or {}).get(SIGNATURE_ANNOTATION, ""))
                for entry in doc["layers"]]
    except (ValueError, KeyError, TypeError):
        raise errors.InvalidArgument("signature attachment: malformed manifest") from None
