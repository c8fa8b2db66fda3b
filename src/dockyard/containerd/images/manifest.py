"""Read manifests, indexes and configs out of the content store.

Both OCI and Docker schema 2 are accepted; an index or manifest list is
resolved to one platform (the host's by default, linux/amd64 as fallback).
"""

from __future__ import annotations

import json
import platform as _platform
from dataclasses import dataclass
from typing import Any

from dockyard.containerd.content.store import ContentStore
from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci import image as oci
from dockyard.types import Descriptor

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64", "i686": "386", "i386": "386"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform() -> Platform:
    machine = _platform.machine().lower()
    return Platform("linux", _ARCH.get(machine, machine))


@dataclass(frozen=True)
class Manifest:
    """A parsed image manifest with the digest it was read from."""

    digest: str
    media_type: str
    config: Descriptor
    layers: list[Descriptor]
    annotations: dict[str, str]


def _load_json(store: ContentStore, digest: str) -> dict[str, Any]:
    try:
        doc = json.loads(store.read_all(digest))
    except json.JSONDecodeError as err:
        raise InvalidArgument(f"content {digest}: not valid JSON: {err}") from err
    if not isinstance(doc, dict):
        raise InvalidArgument(f"content {digest}: not a JSON object")
    return doc


def _media_type(doc: dict[str, Any]) -> str:
    mt = doc.get("mediaType")
    if isinstance(mt, str) and mt:
        return mt
    if "manifests" in doc:
        return oci.MEDIA_TYPE_OCI_INDEX
    if "layers" in doc and "config" in doc:
        return oci.MEDIA_TYPE_OCI_MANIFEST
    raise InvalidArgument("document is neither a manifest nor an index")


def select_manifest(index: dict[str, Any], want: Platform | None = None) -> Descriptor:
    """Pick the manifest for ``want`` (host by default, then linux/amd64)."""
    candidates = [Descriptor.from_oci(d) for d in index.get("manifests") or []]
    prefs = [want] if want else [host_platform(), Platform("linux", "amd64")]
    for pref in prefs:
        for desc in candidates:
            p = desc.platform or {}
            if p.get("os") == pref.os and p.get("architecture") == pref.architecture and (not pref.variant or p.get("variant") == pref.variant):
                if desc.media_type in oci.MANIFEST_TYPES or not desc.media_type:
                    return desc
    raise NotFound(f"no manifest for platform {', '.join(str(p) for p in prefs)} in index")


def _select_present(store: ContentStore, index: dict[str, Any], want: Platform | None) -> str:
    """The platform's manifest; without ``want``, the first one here if the host's was never pulled.

    An image record keeps the index it was pulled by (containerd semantics), but
    only the platform pulled is in the store: ``pull --platform linux/arm64`` on
    an amd64 host must still find its manifest.
    """
    try:
        chosen = select_manifest(index, want)
        if want is not None or store.exists(chosen.digest):
            return chosen.digest
    except NotFound:
        if want is not None:
            raise
    for d in index.get("manifests") or []:
        desc = Descriptor.from_oci(d)
        if (desc.media_type in oci.MANIFEST_TYPES or not desc.media_type) and store.exists(desc.digest):
            return desc.digest
    return select_manifest(index, want).digest  # nothing here: the error names the host platform


def read_manifest(store: ContentStore, digest: str, platform: Platform | None = None) -> Manifest:
    """The image manifest at ``digest``, following an index to one platform."""
    for _ in range(4):  # nested indexes are legal but shallow in practice
        doc = _load_json(store, digest)
        mt = _media_type(doc)
        if mt in oci.INDEX_TYPES:
            digest = _select_present(store, doc, platform)
            continue
        if mt not in oci.MANIFEST_TYPES:
            raise InvalidArgument(f'content {digest}: unsupported manifest media type "{mt}"')
        return Manifest(
            digest=digest,
            media_type=mt,
            config=Descriptor.from_oci(doc["config"]),
            layers=[Descriptor.from_oci(d) for d in doc.get("layers") or []],
            annotations=dict(doc.get("annotations") or {}),
        )
    raise InvalidArgument(f"content {digest}: indexes nested too deeply")


def read_config(store: ContentStore, manifest: Manifest) -> dict[str, Any]:
    """The image config JSON of ``manifest``."""
    return _load_json(store, manifest.config.digest)


def diff_ids(config: dict[str, Any]) -> list[str]:
    rootfs = config.get("rootfs") or {}
    ids = rootfs.get("diff_ids") or []
    if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
        raise InvalidArgument("image config: rootfs.diff_ids is not a list of digests")
    return list(ids)
