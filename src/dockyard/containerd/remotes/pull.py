"""Pull: resolve a reference, fetch its blobs into the content store, unpack as they land.

Order of work, chosen for speed and crash safety:

* The manifest (and the index it came from) and the config are fetched first:
  they are small and say what else is needed.
* Layers download concurrently (3 at a time, as dockerd), each into an ingest
  named by its digest, so a pull cut by a crash or a dropped connection resumes
  with an HTTP Range request where the bytes on disk end.
* Unpacking is pipelined: each layer is extracted (in a thread) while it
  downloads. Where the snapshotter can stack snapshots at commit (overlay), up
  to four layers extract at once, each into a snapshot of its own, and are
  committed in chain order; otherwise (native) layer N starts once N-1 is
  committed.
* Every blob is held by a lease until the image record names it, so a garbage
  collection that runs during the pull does not take it away.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from dockyard import errors
from dockyard.containerd.content.store import WRITER_WAIT, ContentStore, commit_idempotent, open_writer
from dockyard.containerd.images.manifest import Platform, select_manifest
from dockyard.containerd.remotes.progress import Emit, Event, Throttle, short
from dockyard.containerd.remotes.registry import Repository
from dockyard.containerd.remotes.tail import DownloadRestarted, Tail
from dockyard.oci import image as oci
from dockyard.types import Descriptor

LABEL_SOURCE = "containerd.io/distribution.source."
CONCURRENCY = 3
EXTRACT_CONCURRENCY = 4
RETRIES = 3
_CHUNK = 1 << 20


@dataclass
class Lease:
    """What an operation in progress (or a client's named lease) holds against garbage collection."""

    digests: set[str] = field(default_factory=set)
    snapshots: set[str] = field(default_factory=set)
    id: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    created_at: int = 0  # unix ns
    expires_at: int = 0  # unix ns; 0: never

    def expired(self, now_ns: int) -> bool:
        return bool(self.expires_at) and self.expires_at <= now_ns


@dataclass(frozen=True)
class PullResult:
    target: Descriptor  # the platform manifest
    resolved: Descriptor  # what the reference names: the image record's target (an index, for multi-platform)
    config: Descriptor
    layers: list[Descriptor]
    diff_ids: list[str]


def source_label(host: str) -> str:
    return LABEL_SOURCE + host


def _mark_source(store: ContentStore, digest: str, host: str, path: str) -> None:
    """Remember where a blob came from, for cross-repository mounts at push time."""
    key = source_label(host)
    try:
        old = store.info(digest).labels.get(key, "")
        paths = sorted(set(filter(None, old.split(","))) | {path})
        store.update(digest, {key: ",".join(paths)}, [f"labels.{key}"])
    except errors.DockyardError:
        pass  # labels help later pushes; the pull stands without them


async def _write_small(store: ContentStore, desc: Descriptor, data: bytes) -> None:
    def run() -> None:
        if store.exists(desc.digest):
            return
        try:
            w = open_writer(store, f"pull-{desc.digest}", len(data), desc.digest)
        except errors.AlreadyExists:  # a concurrent pull wrote it while this one waited
            return
        try:
            if w.offset:
                w.truncate(0)
            w.write(data)
            commit_idempotent(w, len(data), desc.digest)
        finally:
            w.close()

    await asyncio.to_thread(run)


async def fetch_blob(store: ContentStore, repo: Repository, desc: Descriptor, emit: Emit,
                     throttle: Throttle, tail: Tail | None = None) -> None:
    """Download ``desc`` into the store, resuming a partial ingest with a Range request.

    With ``tail``, an extractor can follow the ingest as it grows; it is told
    when the blob is verified, or why not.
    """
    own = tail is None
    tail = tail or Tail()
    try:
        await _fetch_blob(store, repo, desc, emit, throttle, tail)
    except BaseException as err:
        tail.fail(err)
        raise
    finally:
        if own:
            tail.close()
    tail.finish()


@dataclass
class _Held:
    """Another pull's ingest of a blob, waited for: as long as it grows, at most ``WRITER_WAIT``
    seconds without growing (as ``open_writer`` waits)."""

    offset: int | None = None
    since: float = 0.0

    def stalled(self, offset: int) -> bool:
        now = time.monotonic()
        if offset != self.offset:  # the first look, or it grew (or started again)
            self.offset, self.since = offset, now
        return now - self.since >= WRITER_WAIT


def _ingest_offset(store: ContentStore, ref: str) -> int:
    try:
        return store.status(ref).offset
    except errors.NotFound:
        return -1


async def _fetch_blob(store: ContentStore, repo: Repository, desc: Descriptor, emit: Emit,
                      throttle: Throttle, tail: Tail) -> None:
    ref = f"pull-{desc.digest}"
    lid = short(desc.digest)
    attempt = 0
    held = _Held()
    while True:
        if await asyncio.to_thread(store.exists, desc.digest):
            return
        try:
            writer = await asyncio.to_thread(store.writer, ref, desc.size, desc.digest)
        except errors.AlreadyExists:  # committed by a concurrent pull since the check above
            return
        except errors.Unavailable:  # another pull is writing this blob: wait for it (no attempt spent)
            if held.stalled(await asyncio.to_thread(_ingest_offset, store, ref)):
                raise
            await asyncio.sleep(0.05)
            continue
        try:
            offset = writer.offset
            if offset > desc.size:
                await asyncio.to_thread(writer.truncate, 0)
                offset = 0
            path = getattr(writer, "data_path", None)
            if path is not None:
                tail.open(path, offset)
            if offset < desc.size or desc.size == 0:
                resp = await repo.open_blob(desc.digest, offset)
                try:
                    if resp.status == 416 or (offset and resp.status == 200):
                        await asyncio.to_thread(writer.truncate, 0)  # no ranges here: start over
                        offset = 0
                        if path is not None:
                            tail.open(path, 0)
                        if resp.status == 416:
                            resp.release()
                            resp = await repo.open_blob(desc.digest, 0)
                    current = offset
                    buf = bytearray()  # ~1 MiB per thread hop: the socket hands out 64 KiB at a time
                    async for chunk in resp.content.iter_any():
                        buf += chunk
                        if len(buf) >= _CHUNK:
                            await asyncio.to_thread(writer.write, bytes(buf))
                            current += len(buf)
                            tail.advance(current)
                            buf.clear()
                            if throttle.due(lid):
                                emit(Event(lid, "Downloading", current, desc.size))
                    if buf:
                        await asyncio.to_thread(writer.write, bytes(buf))
                        tail.advance(current + len(buf))
                finally:
                    resp.release()
            emit(Event(lid, "Downloading", desc.size, desc.size))
            emit(Event(lid, "Verifying Checksum"))
            await asyncio.to_thread(commit_idempotent, writer, desc.size, desc.digest)
            return
        except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionError) as err:
            if attempt == RETRIES:
                raise errors.Unavailable(f"blob {desc.digest}: download failed: {err}") from err
            attempt += 1
            emit(Event(lid, "Retrying", writer.offset, desc.size))
        except errors.FailedPrecondition:
            await asyncio.to_thread(writer.abort)  # wrong bytes: never resume from them
            raise
        finally:
            await asyncio.to_thread(writer.close)


UnpackLayer = Callable[..., bool]  # (layer, diff_id, chain, parent, check_only[, tail]) -> present


class Unpacker(Protocol):
    """What a pull needs of an unpacker (images/unpack.py ``LayerUnpacker``); all calls block.

    ``parallel``: ``extract`` may run for several layers at once, before their
    parents are committed, and returns a handle that ``commit`` puts on the
    parent (in chain order) and ``discard`` drops. Otherwise ``extract`` is
    called in order, on a committed parent, and commits itself.
    """

    parallel: bool

    def present(self, chain: str) -> bool: ...

    def extract(self, layer: Descriptor, diff_id: str, chain: str, parent: str, tail: Tail | None) -> Any: ...

    def commit(self, handle: Any, parent: str) -> None: ...

    def discard(self, handle: Any) -> None: ...


class _CallUnpacker:
    """An ``UnpackLayer`` function as a sequential ``Unpacker``."""

    parallel = False

    def __init__(self, fn: UnpackLayer) -> None:
        self.fn = fn

    def present(self, chain: str) -> bool:
        return self.fn(None, "", chain, "", True)

    def extract(self, layer: Descriptor, diff_id: str, chain: str, parent: str, tail: Tail | None) -> Any:
        self.fn(layer, diff_id, chain, parent, False, tail)
        return None

    def commit(self, handle: Any, parent: str) -> None:
        pass

    def discard(self, handle: Any) -> None:
        pass


def _extract(unpacker: Unpacker, layer: Descriptor, diff_id: str, chain: str, parent: str, tail: Tail) -> Any:
    """Extract ``layer`` while it downloads; from the committed blob if it could not be followed (blocks)."""
    if tail.wait_started():
        try:
            return unpacker.extract(layer, diff_id, chain, parent, tail)
        except DownloadRestarted:
            pass  # the server ignored Range: extract again once the blob is whole
    tail.wait_verified()  # raises the download's error
    return unpacker.extract(layer, diff_id, chain, parent, None)


async def _unpack_parallel(unpacker: Unpacker, emit: Emit, layers: list[Descriptor], diff_ids: list[str],
                           chains: list[str], missing: list[int], jobs: Sequence[asyncio.Future[None]],
                           tails: list[Tail]) -> None:
    """Extract the ``missing`` layers a few at once (each as it downloads); commit in chain order.

    Extraction threads have a pool of their own: they block on downloads that
    need the default executor's threads for their writes. Whatever ends the
    pull, every extraction is waited for and its snapshot removed unless
    committed.
    """
    loop = asyncio.get_running_loop()
    limit = getattr(unpacker, "concurrency", EXTRACT_CONCURRENCY)
    pool = ThreadPoolExecutor(max_workers=max(1, min(limit, len(missing))),
                              thread_name_prefix="dockyard-extract")

    def run(i: int) -> Any:
        loop.call_soon_threadsafe(emit, Event(short(layers[i].digest), "Extracting", 0, layers[i].size))
        return _extract(unpacker, layers[i], diff_ids[i], chains[i], chains[i - 1] if i else "", tails[i])

    futures: dict[int, Future[Any]] = {i: pool.submit(run, i) for i in missing}
    consumed: set[int] = set()
    try:
        for i in missing:
            handle = await asyncio.wrap_future(futures[i])
            consumed.add(i)  # commit removes the snapshot itself if it fails
            await asyncio.to_thread(unpacker.commit, handle, chains[i - 1] if i else "")
            lid = short(layers[i].digest)
            emit(Event(lid, "Extracting", layers[i].size, layers[i].size))
            emit(Event(lid, "Pull complete"))
    except BaseException:
        for job, tail in zip(jobs, tails):
            job.cancel()
            tail.fail(asyncio.CancelledError())  # no-op for a finished download; frees a waiting extractor
        raise
    finally:
        for fut in futures.values():
            fut.cancel()  # not started yet: never will
        await asyncio.to_thread(wait, list(futures.values()))
        for i, fut in futures.items():
            if i not in consumed and not fut.cancelled() and fut.exception() is None:
                await asyncio.to_thread(unpacker.discard, fut.result())
        pool.shutdown(wait=False)


async def pull(store: ContentStore, repo: Repository, platform: Platform | None, emit: Emit, lease: Lease,
               unpacker: Unpacker | UnpackLayer | None) -> PullResult:
    """Fetch the image ``repo.ref`` names; unpack with ``unpacker`` if given."""
    up: Unpacker | None = _CallUnpacker(unpacker) if callable(unpacker) else unpacker
    ref = repo.ref
    desc, body = await repo.get_manifest(ref.digest or ref.tag)
    lease.digests.add(desc.digest)
    emit(Event("", "Resolved", target=desc, detail=desc.digest))
    await _write_small(store, desc, body)
    resolved = desc
    doc: dict[str, Any] = json.loads(body)
    if desc.media_type in oci.INDEX_TYPES:
        chosen = select_manifest(doc, platform)
        mdesc, body = await repo.get_manifest(chosen.digest, chosen.media_type)
        lease.digests.add(mdesc.digest)
        await _write_small(store, mdesc, body)
        desc, doc = mdesc, json.loads(body)
    if desc.media_type not in oci.MANIFEST_TYPES:
        raise errors.InvalidArgument(f"{ref}: unsupported manifest media type {desc.media_type!r}")
    config = Descriptor.from_oci(doc["config"])
    layers = [Descriptor.from_oci(d) for d in doc.get("layers") or []]
    for layer in layers:
        if layer.media_type and layer.media_type not in oci.LAYER_TYPES:
            raise errors.InvalidArgument(f"layer {layer.digest}: unsupported media type {layer.media_type!r}")
    lease.digests.update([config.digest, *(x.digest for x in layers)])
    throttle = Throttle()
    await fetch_blob(store, repo, config, lambda e: None, throttle)
    cfg = json.loads(await asyncio.to_thread(store.read_all, config.digest))
    diff_ids = list((cfg.get("rootfs") or {}).get("diff_ids") or [])
    if len(diff_ids) != len(layers):
        raise errors.InvalidArgument(f"{ref}: {len(layers)} layers but {len(diff_ids)} diff_ids in the config")
    chains = oci.chain_ids(diff_ids)
    lease.snapshots.update(chains)
    host, path = repo.endpoint.host, ref.path

    # Layers whose snapshot already exists need neither download nor extraction.
    present = [up is not None and await asyncio.to_thread(up.present, c) for c in chains]
    for layer, here in zip(layers, present):
        emit(Event(short(layer.digest), "Already exists" if here else "Pulling fs layer"))
    sem = asyncio.Semaphore(CONCURRENCY)
    tails = [Tail() for _ in layers]

    async def download(layer: Descriptor, here: bool, tail: Tail) -> None:
        if here:
            tail.finish()
            return
        async with sem:
            if await asyncio.to_thread(store.exists, layer.digest):
                tail.finish()
                emit(Event(short(layer.digest), "Download complete"))
                return
            await fetch_blob(store, repo, layer, emit, throttle, tail)
            emit(Event(short(layer.digest), "Download complete"))

    jobs = [asyncio.ensure_future(download(layer, here, t)) for layer, here, t in zip(layers, present, tails)]
    # An extraction blocks on its download, whose writes need the default executor: never take
    # one of its threads (a few pulls at once would hold them all and wait for themselves).
    extract_pool: ThreadPoolExecutor | None = None
    loop = asyncio.get_running_loop()
    try:
        missing = [i for i, here in enumerate(present) if not here]
        in_order = up if up is not None and not (up.parallel and len(missing) > 1) else None
        if up is not None and in_order is None:
            await _unpack_parallel(up, emit, layers, diff_ids, chains, missing, jobs, tails)
        parent = ""
        for layer, diff_id, chain, here, job, tail in zip(layers, diff_ids, chains, present, jobs, tails):
            if in_order is not None and not here:
                lid = short(layer.digest)
                emit(Event(lid, "Extracting", 0, layer.size))
                extract_pool = extract_pool or ThreadPoolExecutor(max_workers=1, thread_name_prefix="dockyard-extract")
                handle = await loop.run_in_executor(extract_pool, _extract, in_order, layer, diff_id, chain,
                                                    parent, tail)
                await asyncio.to_thread(in_order.commit, handle, parent)
                emit(Event(lid, "Extracting", layer.size, layer.size))
                emit(Event(lid, "Pull complete"))
            await job
            parent = chain
    finally:
        for job, tail in zip(jobs, tails):
            job.cancel()
            tail.fail(asyncio.CancelledError())  # no-op for a finished download; frees a waiting extractor
        await asyncio.gather(*jobs, return_exceptions=True)
        for tail in tails:
            tail.close()
        if extract_pool is not None:
            extract_pool.shutdown(wait=False)
    for d in dict.fromkeys([resolved.digest, desc.digest, config.digest, *(x.digest for x in layers)]):
        await asyncio.to_thread(_mark_source, store, d, host, path)
    return PullResult(desc, resolved, config, layers, diff_ids)
