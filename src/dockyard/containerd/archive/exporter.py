"""Write images as one tar that is both an OCI image layout and a docker-archive.

As ``docker save`` does since Docker 25: blobs under ``blobs/sha256/<hex>``,
``oci-layout`` and ``index.json`` (the OCI layout, which ``skopeo`` reads as
``oci-archive:``) plus ``manifest.json`` naming each image's config and layers
by those same paths (what ``docker load`` of any version reads). Layers are
written as stored (compressed); ``docker load`` decompresses them. The tar is
streamed: nothing is staged on disk.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterable
from typing import Any, BinaryIO

from dockyard.containerd.content.store import ContentStore
from dockyard.containerd.images.manifest import Platform, read_manifest
from dockyard.oci import image as oci
from dockyard.oci.reference import parse
from dockyard.types import Descriptor

ANNOTATION_IMAGE_NAME = "io.containerd.image.name"


def _blob_path(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    return f"blobs/{algo}/{hexpart}"


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    tf.addfile(ti, io.BytesIO(data))


def export_images(store: ContentStore, images: Iterable[tuple[str, Descriptor]], out: BinaryIO,
                  platform: Platform | None = None) -> None:
    """Write ``images`` ((full name, target descriptor) pairs; names may repeat targets) to ``out``."""
    tf = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 20)
    written: set[str] = set()
    dirs: set[str] = set()

    def blob(digest: str) -> None:
        if digest in written:
            return
        written.add(digest)
        path = _blob_path(digest)
        for d in ("blobs", path.rsplit("/", 1)[0]):
            if d not in dirs:
                dirs.add(d)
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
        info = store.info(digest)
        ti = tarfile.TarInfo(path)
        ti.size, ti.mode = info.size, 0o444
        with store.open(digest) as f:
            tf.addfile(ti, f)

    index: list[dict[str, Any]] = []
    docker_manifest: dict[str, dict[str, Any]] = {}  # config digest -> manifest.json entry
    for name, target in images:
        ref = parse(name) if not name.startswith("moby-dangling@") else None
        m = read_manifest(store, target.digest, platform)
        for layer in m.layers:
            blob(layer.digest)
        blob(m.config.digest)
        if target.digest != m.digest:
            blob(m.digest)
        blob(target.digest)
        desc = target.to_oci()
        if ref is not None:
            ann = {ANNOTATION_IMAGE_NAME: str(ref)}
            if ref.tag:
                ann[oci.ANNOTATION_REF_NAME] = ref.tag
            desc["annotations"] = {**desc.get("annotations", {}), **ann}
        index.append(desc)
        entry = docker_manifest.setdefault(m.config.digest, {
            "Config": _blob_path(m.config.digest), "RepoTags": [],
            "Layers": [_blob_path(x.digest) for x in m.layers]})
        if ref is not None and ref.tag:
            entry["RepoTags"].append(ref.familiar())
    _add_bytes(tf, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    _add_bytes(tf, "index.json", json.dumps({"schemaVersion": 2, "mediaType": oci.MEDIA_TYPE_OCI_INDEX,
                                             "manifests": index}).encode())
    _add_bytes(tf, "manifest.json", json.dumps(list(docker_manifest.values())).encode())
    tf.close()
