"""Parse pushed manifests: what they are, what they reference, what they refer to.

The registry never rewrites a manifest; it only needs its media type, the
digests it depends on (config + layers, or child manifests of an index), its
``subject`` (for referrers) and its artifact type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dockyard.oci import image as oci
from dockyard.oci.digest import is_valid
from dockyard.registry.errors import RegistryError

DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")
_FOREIGN = frozenset({oci.MEDIA_TYPE_DOCKER_FOREIGN_LAYER, oci.MEDIA_TYPE_OCI_LAYER_NONDIST,
                      oci.MEDIA_TYPE_OCI_LAYER_NONDIST_GZIP, oci.MEDIA_TYPE_OCI_LAYER_NONDIST_ZSTD})
SUPPORTED = oci.MANIFEST_TYPES | oci.INDEX_TYPES


@dataclass(frozen=True)
class Parsed:
    media_type: str
    blobs: tuple[str, ...]       # config + layers: must be blobs of the repository (the config only, sparse)
    children: tuple[str, ...]    # index entries (a sparse index: they need not be in the repository)
    subject: str | None
    artifact_type: str | None
    annotations: dict[str, str] | None

    @property
    def is_index(self) -> bool:
        return self.media_type in oci.INDEX_TYPES


def _descriptor(d: Any, where: str) -> str:
    if not isinstance(d, dict) or not isinstance(d.get("digest"), str) or not is_valid(d["digest"]):
        raise RegistryError("MANIFEST_INVALID", f"manifest invalid: {where}: bad descriptor")
    if not isinstance(d.get("size"), int) or d["size"] < 0:
        raise RegistryError("MANIFEST_INVALID", f"manifest invalid: {where}: bad size")
    if not isinstance(d.get("mediaType"), str):
        raise RegistryError("MANIFEST_INVALID", f"manifest invalid: {where}: missing mediaType")
    return d["digest"]


def parse(body: bytes, content_type: str | None) -> Parsed:
    """Validate the manifest's JSON and shape; raises MANIFEST_INVALID (or UNSUPPORTED for schema 1)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise RegistryError("MANIFEST_INVALID", f"manifest invalid: {err}") from None
    if not isinstance(doc, dict):
        raise RegistryError("MANIFEST_INVALID", "manifest invalid: not a JSON object")
    declared = doc.get("mediaType")
    ctype = (content_type or "").split(";")[0].strip() or None
    if ctype in DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise RegistryError("MANIFEST_INVALID", "Docker schema 1 manifests are not supported")
    if declared is not None and ctype is not None and declared != ctype:
        raise RegistryError("MANIFEST_INVALID", f"manifest invalid: mediaType {declared} does not match Content-Type {ctype}")
    media_type = declared or ctype
    if media_type is None:
        media_type = oci.MEDIA_TYPE_OCI_INDEX if "manifests" in doc else oci.MEDIA_TYPE_OCI_MANIFEST
    if media_type not in SUPPORTED:
        raise RegistryError("MANIFEST_INVALID", f"manifest invalid: unsupported media type {media_type}")
    if doc.get("schemaVersion") != 2:
        raise RegistryError("MANIFEST_INVALID", "manifest invalid: schemaVersion must be 2")
    subject = None
    if doc.get("subject") is not None:
        subject = _descriptor(doc["subject"], "subject")
    annotations = doc.get("annotations") if isinstance(doc.get("annotations"), dict) else None
    artifact_type = doc.get("artifactType") if isinstance(doc.get("artifactType"), str) else None
    if media_type in oci.INDEX_TYPES:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise RegistryError("MANIFEST_INVALID", "manifest invalid: index without manifests")
        children = tuple(_descriptor(d, f"manifests[{i}]") for i, d in enumerate(entries))
        return Parsed(media_type, (), children, subject, artifact_type, annotations)
    config: Any = doc.get("config")  # a dict once _descriptor has checked it
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise RegistryError("MANIFEST_INVALID", "manifest invalid: layers must be a list")
    blobs = [_descriptor(config, "config")]
    for i, d in enumerate(layers):
        digest = _descriptor(d, f"layers[{i}]")
        if d["mediaType"] not in _FOREIGN:  # foreign layers live elsewhere (their urls)
            blobs.append(digest)
    if artifact_type is None:  # the spec's rule for referrers: fall back to the config's type
        artifact_type = config.get("mediaType")
    return Parsed(media_type, tuple(blobs), (), subject, artifact_type, annotations)
