"""Push: blobs first (skipping what the registry has, mounting what a sibling repository has),
then the manifest, then the index if the image is one.

Plain (uncompressed) layers, which the builder makes, are pushed gzipped, as Docker does: the
gzip copy is made once, stored, and found again by a label on the plain blob; the registry
gets a manifest naming the gzip layers (same diff_ids, same config, so the same image ID).

Per blob, in order of cost: ``HEAD`` (already there: nothing to send), a
cross-repository mount from a repository of the same registry the blob was
pulled from (``containerd.io/distribution.source.<host>`` labels), then an
upload: one ``PUT`` for blobs up to ``chunk_size``, ``PATCH`` chunks above it
(a failed chunk costs a chunk, not the blob).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from dockyard.containerd.content.store import ContentStore, write_blob
from dockyard.containerd.diff.compression import GZIP
from dockyard.containerd.diff.layer import write_layer
from dockyard.containerd.remotes.progress import Emit, Event, Throttle, short
from dockyard.containerd.remotes.pull import _mark_source, source_label
from dockyard.containerd.remotes.registry import Repository
from dockyard.errors import NotFound
from dockyard.oci import image as oci
from dockyard.types import Descriptor

CONCURRENCY = 3
CHUNK_SIZE = 64 << 20
_READ = 1 << 20


async def _read_chunks(store: ContentStore, digest: str, start: int, length: int) -> AsyncIterator[bytes]:
    f = await asyncio.to_thread(store.open, digest)
    try:
        await asyncio.to_thread(f.seek, start)
        left = length
        while left > 0:
            chunk = await asyncio.to_thread(f.read, min(_READ, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        f.close()


async def push_blob(store: ContentStore, repo: Repository, desc: Descriptor, emit: Emit, throttle: Throttle,
                    chunk_size: int = CHUNK_SIZE, quiet: bool = False) -> str:
    """Make ``desc`` present in ``repo``; returns how: exists, mounted, pushed."""
    lid = short(desc.digest)
    say = (lambda e: None) if quiet else emit
    if await repo.blob_exists(desc.digest):
        say(Event(lid, "Layer already exists"))
        return "exists"
    host = repo.endpoint.host
    info = await asyncio.to_thread(store.info, desc.digest)
    sources = [s for s in info.labels.get(source_label(host), "").split(",") if s and s != repo.path]
    location = ""
    for source in sources[:1]:
        mounted, location = await repo.start_upload(mount=desc.digest, source=source)
        if mounted:
            say(Event(lid, "Mounted from", detail=source))
            await asyncio.to_thread(_mark_source, store, desc.digest, host, repo.path)
            return "mounted"
    if not location:
        _, location = await repo.start_upload()
    sent = 0

    def progress(n: int) -> None:
        nonlocal sent
        sent += n
        if throttle.due(lid, sent >= desc.size):
            say(Event(lid, "Pushing", sent, desc.size))

    if desc.size <= chunk_size:
        def body() -> AsyncIterator[bytes]:
            async def gen() -> AsyncIterator[bytes]:
                async for c in _read_chunks(store, desc.digest, 0, desc.size):
                    progress(len(c))
                    yield c
            return gen()

        await repo.put_blob(location, desc.digest, desc.size, body)
    else:
        start = 0
        while start < desc.size:
            n = min(chunk_size, desc.size - start)
            data = b"".join([c async for c in _read_chunks(store, desc.digest, start, n)])
            location = await repo.patch_chunk(location, start, data)
            start += n
            progress(n)
        await repo.finish_upload(location, desc.digest)
    say(Event(lid, "Pushed"))
    await asyncio.to_thread(_mark_source, store, desc.digest, host, repo.path)
    return "pushed"


async def push_manifest(store: ContentStore, repo: Repository, desc: Descriptor, emit: Emit, throttle: Throttle,
                        chunk_size: int) -> None:
    """Push one image manifest's config and layers, then the manifest by digest."""
    doc: dict[str, Any] = json.loads(await asyncio.to_thread(store.read_all, desc.digest))
    layers = [Descriptor.from_oci(d) for d in doc.get("layers") or []]
    config = Descriptor.from_oci(doc["config"])
    for layer in layers:
        emit(Event(short(layer.digest), "Preparing"))
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(layer: Descriptor) -> None:
        async with sem:
            await push_blob(store, repo, layer, emit, throttle, chunk_size)

    await asyncio.gather(*(one(layer) for layer in layers))
    await push_blob(store, repo, config, emit, throttle, chunk_size, quiet=True)


# a plain layer's media type -> its gzip one
_GZIP_OF = {oci.MEDIA_TYPE_OCI_LAYER: oci.MEDIA_TYPE_OCI_LAYER_GZIP,
            oci.MEDIA_TYPE_DOCKER_LAYER: oci.MEDIA_TYPE_DOCKER_LAYER_GZIP}
LABEL_GZIP = "dockyard.push.gzip"  # on a plain layer blob: the digest of the gzip copy pushes send


def gzipped_for_push(store: ContentStore, target: Descriptor) -> tuple[Descriptor, bytes]:
    """The manifest ``target`` with its plain layers replaced by gzip copies (made and stored
    once), and its bytes; ``target`` itself when it has no plain layer. The copy is
    deterministic, so pushing the same image twice sends the same manifest."""
    body = store.read_all(target.digest)
    doc = json.loads(body)
    layers = doc.get("layers") or []
    if not any(isinstance(lay, dict) and lay.get("mediaType") in _GZIP_OF for lay in layers):
        return target, body
    out = []
    for lay in layers:
        media_type = lay.get("mediaType")
        if media_type not in _GZIP_OF:
            out.append(lay)
            continue
        digest, size = _gzip_copy(store, lay["digest"])
        out.append({**lay, "mediaType": _GZIP_OF[media_type], "digest": digest, "size": size})
    new_body = oci.canonical_json({**doc, "layers": out})
    return Descriptor(target.media_type, write_blob(store, new_body), len(new_body)), new_body


def _gzip_copy(store: ContentStore, digest: str) -> tuple[str, int]:
    known = store.info(digest).labels.get(LABEL_GZIP, "")
    if known:
        try:
            return known, store.info(known).size
        except NotFound:
            pass  # collected since (GC keeps only what images name): made again
    with store.open(digest) as f:
        desc, _ = write_layer(f, store, GZIP)
    store.update(digest, {LABEL_GZIP: desc.digest}, [f"labels.{LABEL_GZIP}"])
    return desc.digest, desc.size


async def push(store: ContentStore, repo: Repository, target: Descriptor, tag: str, emit: Emit,
               chunk_size: int = CHUNK_SIZE) -> Descriptor:
    """Push the image whose record points at ``target`` and name it ``tag`` (or its digest)."""
    throttle = Throttle()
    if target.media_type not in oci.INDEX_TYPES:
        target, body = await asyncio.to_thread(gzipped_for_push, store, target)
    else:
        body = await asyncio.to_thread(store.read_all, target.digest)
    if target.media_type in oci.INDEX_TYPES:
        index = json.loads(body)
        for m in index.get("manifests") or []:
            child = Descriptor.from_oci(m)
            if not await asyncio.to_thread(store.exists, child.digest):
                continue  # a platform never pulled: the registry must already have it, or the PUT says so
            await push_manifest(store, repo, child, emit, throttle, chunk_size)
            await repo.put_manifest(child.digest, child.media_type, await asyncio.to_thread(store.read_all,
                                                                                           child.digest))
    else:
        await push_manifest(store, repo, target, emit, throttle, chunk_size)
    await repo.put_manifest(tag or target.digest, target.media_type, body)
    await asyncio.to_thread(_mark_source, store, target.digest, repo.endpoint.host, repo.path)
    emit(Event("", "Done", detail=target.digest, total=len(body), target=target))
    return target
