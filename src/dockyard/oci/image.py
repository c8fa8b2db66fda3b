"""OCI image-spec and Docker schema 2 vocabulary, plus pure helpers (no I/O).

The builders return canonical JSON bytes (sorted keys, no spaces) so the same
inputs always give the same digest: image IDs and manifest digests are then
reproducible, which the build cache and ``docker save``/``load`` rely on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.oci.digest import sha256_digest, validate
from dockyard.types import Descriptor

# OCI image-spec media types
MEDIA_TYPE_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_TYPE_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_TYPE_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_TYPE_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MEDIA_TYPE_OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
MEDIA_TYPE_OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
MEDIA_TYPE_OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
MEDIA_TYPE_OCI_EMPTY = "application/vnd.oci.empty.v1+json"

# Docker image manifest v2, schema 2
MEDIA_TYPE_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_TYPE_DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_TYPE_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_TYPE_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MEDIA_TYPE_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MEDIA_TYPE_DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
MEDIA_TYPE_DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

MANIFEST_TYPES = frozenset({MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST})
INDEX_TYPES = frozenset({MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_MANIFEST_LIST})
CONFIG_TYPES = frozenset({MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_DOCKER_CONFIG})
LAYER_TYPES = frozenset(
    {
        MEDIA_TYPE_OCI_LAYER,
        MEDIA_TYPE_OCI_LAYER_GZIP,
        MEDIA_TYPE_OCI_LAYER_ZSTD,
        MEDIA_TYPE_OCI_LAYER_NONDIST,
        MEDIA_TYPE_OCI_LAYER_NONDIST_GZIP,
        MEDIA_TYPE_OCI_LAYER_NONDIST_ZSTD,
        MEDIA_TYPE_DOCKER_LAYER,
        MEDIA_TYPE_DOCKER_LAYER_GZIP,
        MEDIA_TYPE_DOCKER_LAYER_ZSTD,
        MEDIA_TYPE_DOCKER_FOREIGN_LAYER,
    }
)

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CREATED = "org.opencontainers.image.created"


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON: sorted keys, compact separators, UTF-8 (not ASCII-escaped)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """OCI ChainIDs of a layer stack: the snapshot names of each prefix of the stack.

    ChainID(L1) = DiffID(L1); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
    """
    out: list[str] = []
    for diff_id in diff_ids:
        validate(diff_id)
        if not out:
            out.append(diff_id)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {diff_id}".encode()).hexdigest())
    return out


def chain_id(diff_ids: Sequence[str]) -> str:
    """ChainID of the whole stack ("" for an image with no layers)."""
    ids = chain_ids(diff_ids)
    return ids[-1] if ids else ""


def image_id(config_bytes: bytes) -> str:
    """Docker's image ID: the digest of the config blob, exactly as stored."""
    return sha256_digest(config_bytes)


def make_config(
    diff_ids: Sequence[str],
    *,
    architecture: str = "amd64",
    os: str = "linux",
    config: Mapping[str, Any] | None = None,
    history: Sequence[Mapping[str, Any]] | None = None,
    created: str | None = None,
    variant: str | None = None,
) -> bytes:
    """An OCI image config (canonical JSON) whose rootfs lists ``diff_ids``."""
    doc: dict[str, Any] = {
        "architecture": architecture,
        "os": os,
        "config": dict(config or {}),
        "rootfs": {"type": "layers", "diff_ids": [validate(d) for d in diff_ids]},
    }
    if variant:
        doc["variant"] = variant
    if created:
        doc["created"] = created
    if history:
        doc["history"] = [dict(h) for h in history]
    return canonical_json(doc)


def make_manifest(
    config_desc: Descriptor,
    layer_descs: Sequence[Descriptor],
    annotations: Mapping[str, str] | None = None,
    *,
    media_type: str = MEDIA_TYPE_OCI_MANIFEST,
) -> bytes:
    """An image manifest (OCI by default; Docker schema 2 with ``media_type``)."""
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config_desc.to_oci(),
        "layers": [d.to_oci() for d in layer_descs],
    }
    if annotations:
        doc["annotations"] = dict(annotations)
    return canonical_json(doc)


def make_index(
    manifests: Sequence[Descriptor],
    annotations: Mapping[str, str] | None = None,
    *,
    media_type: str = MEDIA_TYPE_OCI_INDEX,
) -> bytes:
    """An image index / manifest list (canonical JSON)."""
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [d.to_oci() for d in manifests],
    }
    if annotations:
        doc["annotations"] = dict(annotations)
    return canonical_json(doc)


def descriptor_for(media_type: str, data: bytes, annotations: Mapping[str, str] | None = None) -> Descriptor:
    """Descriptor of an in-memory blob."""
    return Descriptor(media_type, sha256_digest(data), len(data), dict(annotations or {}))


def is_layer_type(media_type: str) -> bool:
    return media_type in LAYER_TYPES


def layer_compression(media_type: str) -> str:
    """Compression implied by a layer media type: "gzip", "zstd" or "none"."""
    if media_type.endswith("+gzip") or media_type.endswith(".tar.gzip"):
        return "gzip"
    if media_type.endswith("+zstd") or media_type.endswith(".tar.zstd"):
        return "zstd"
    return "none"
