"""Push: blobs first (skipping what the registry has, mounting what a sibling repository has),
then the manifest, then the index if the image is one.

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

from dockyard.containerd.content.store import ContentStore
from dockyard.containerd.remotes.progress import Emit, Event, Throttle, short
from dockyard.containerd.remotes.pull import _mark_source, source_label
from dockyard.containerd.remotes.registry import Repository
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


async def push(store: ContentStore, repo: Repository, target: Descriptor, tag: str, emit: Emit,
               chunk_size: int = CHUNK_SIZE) -> Descriptor:
    """Push the image whose record points at ``target`` and name it ``tag`` (or its digest)."""
    throttle = Throttle()
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
