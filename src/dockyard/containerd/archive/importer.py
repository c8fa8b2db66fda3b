"""Read a docker-archive or an OCI image layout tar (plain or compressed), streamed.

Every regular file goes into the content store as it passes (its digest is
computed on the way, so ``<id>/layer.tar`` of the old ``docker save`` format
needs no second read); small JSON files are also kept in memory. Each blob is
put under the operation's lease before it is committed, so a failure midway
leaves nothing that lease's sweep cannot see. At the end of
the tar the images are assembled from ``index.json`` (OCI layout, also written
by Docker 25+) and/or ``manifest.json`` (every ``docker save``): an archive's
manifests are used as they are when present, so digests survive a round trip;
the old format gets a Docker schema 2 manifest made for it.
"""

from __future__ import annotations

import json
import tarfile
import uuid
from dataclasses import dataclass
from typing import Any, BinaryIO

from dockyard import errors
from dockyard.containerd.archive.exporter import ANNOTATION_IMAGE_NAME
from dockyard.containerd.content.store import ContentStore, commit_idempotent
from dockyard.containerd.diff.compression import detect
from dockyard.containerd.images.manifest import Platform, read_manifest
from dockyard.containerd.remotes.pull import Lease
from dockyard.oci import image as oci
from dockyard.oci.reference import parse
from dockyard.types import Descriptor

_CHUNK = 1 << 20
_JSON_MAX = 8 << 20


@dataclass(frozen=True)
class Imported:
    name: str  # full reference, or "" when the archive names none
    target: Descriptor
    config_digest: str


def _store_member(store: ContentStore, tf: tarfile.TarFile, member: tarfile.TarInfo,
                  lease: Lease) -> tuple[str, bytes | None]:
    src = tf.extractfile(member)
    assert src is not None
    keep = member.size <= _JSON_MAX and not member.name.endswith(".tar")
    kept: list[bytes] = []
    w = store.writer(f"import-{uuid.uuid4().hex}", member.size)
    try:
        while chunk := src.read(_CHUNK):
            w.write(chunk)
            if keep:
                kept.append(chunk)
        digest = w.digest()
        lease.digests.add(digest)
        commit_idempotent(w, member.size, digest)
    except BaseException:
        w.abort()
        raise
    finally:
        w.close()
    return digest, (b"".join(kept) if keep else None)


def _store_manifest(store: ContentStore, manifest: bytes, lease: Lease) -> Descriptor:
    mdesc = oci.descriptor_for(oci.MEDIA_TYPE_DOCKER_MANIFEST, manifest)
    lease.digests.add(mdesc.digest)
    w = store.writer(f"import-{mdesc.digest}", mdesc.size, mdesc.digest)
    try:
        if w.offset:
            w.truncate(0)
        w.write(manifest)
        commit_idempotent(w, mdesc.size, mdesc.digest)
    except BaseException:
        w.abort()
        raise
    finally:
        w.close()
    return Descriptor(mdesc.media_type, mdesc.digest, mdesc.size)


def _layer_type(store: ContentStore, digest: str) -> str:
    with store.open(digest) as f:
        kind = detect(f.read(16))
    return {"gzip": oci.MEDIA_TYPE_DOCKER_LAYER_GZIP, "zstd": oci.MEDIA_TYPE_DOCKER_LAYER_ZSTD}.get(
        kind, oci.MEDIA_TYPE_DOCKER_LAYER)


def _name_of(desc: dict[str, Any]) -> str:
    ann = desc.get("annotations") or {}
    for key in (ANNOTATION_IMAGE_NAME, oci.ANNOTATION_REF_NAME):
        value = ann.get(key, "")
        if value and ("/" in value or ":" in value):  # a bare tag ("latest") names no repository
            try:
                return str(parse(value))
            except errors.InvalidArgument:
                continue
    return ""


def import_archive(store: ContentStore, src: BinaryIO, platform: Platform | None = None,
                   lease: Lease | None = None) -> list[Imported]:
    """Store every blob of the archive under ``lease``; return the images it holds (unnamed ones
    with name "")."""
    lease = lease if lease is not None else Lease()
    paths: dict[str, tuple[str, int]] = {}  # member path -> (digest, size)
    docs: dict[str, bytes] = {}
    try:
        tf = tarfile.open(fileobj=src, mode="r|*", bufsize=1 << 20)  # 10 KiB reads by default
    except tarfile.TarError as err:
        raise errors.InvalidArgument(f"archive: not a tar: {err}") from err
    with tf:
        for member in tf:
            name = member.name.removeprefix("./")
            if not member.isfile():
                continue
            digest, data = _store_member(store, tf, member, lease)
            paths[name] = (digest, member.size)
            if data is not None:
                docs[name] = data
    out: list[Imported] = []
    seen_configs: set[str] = set()
    if "index.json" in docs:
        index = json.loads(docs["index.json"])
        for d in index.get("manifests") or []:
            desc = Descriptor.from_oci(d)
            if not store.exists(desc.digest):
                raise errors.InvalidArgument(f"archive: index.json names {desc.digest}, which is not in the archive")
            m = read_manifest(store, desc.digest, platform)
            target = Descriptor(desc.media_type, desc.digest, desc.size)
            seen_configs.add(m.config.digest)
            out.append(Imported(_name_of(d), target, m.config.digest))
    if "manifest.json" in docs:
        for entry in json.loads(docs["manifest.json"]):
            try:
                cfg_digest, cfg_size = paths[entry["Config"]]
                layers = [paths[p] for p in entry.get("Layers") or []]
            except KeyError as err:
                raise errors.InvalidArgument(f"archive: manifest.json names {err}, which is not in the archive") \
                    from None
            tags = [str(parse(t)) for t in entry.get("RepoTags") or []]
            known = [i for i in out if i.config_digest == cfg_digest]
            if known:  # the OCI layout already made this image; manifest.json may add tags
                named = [i for i in known if i.name]
                extra = [Imported(t, known[0].target, cfg_digest) for t in tags if t not in {i.name for i in named}]
                out = [i for i in out if i.config_digest != cfg_digest] + (named + extra or [known[0]])
                continue
            manifest = oci.canonical_json({
                "schemaVersion": 2, "mediaType": oci.MEDIA_TYPE_DOCKER_MANIFEST,
                "config": {"mediaType": oci.MEDIA_TYPE_DOCKER_CONFIG, "digest": cfg_digest, "size": cfg_size},
                "layers": [{"mediaType": _layer_type(store, d), "digest": d, "size": s} for d, s in layers]})
            target = _store_manifest(store, manifest, lease)
            out += [Imported(t, target, cfg_digest) for t in tags] or [Imported("", target, cfg_digest)]
    if not out:
        raise errors.InvalidArgument("archive: neither manifest.json nor index.json found: not an image archive")
    return out
