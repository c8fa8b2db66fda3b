"""The builder: runs a parsed Dockerfile's stages into an image, step by cached step.

``Builder`` (one per engine) is the builder's side of containerd: it receives and loads a
build's context, keeps image states (config blobs, cache roots, snapshots of a state's layer
chain) and finishes an image; ``build.Build`` runs one Dockerfile's stages, each instruction
by its family's module in ``steps/`` (as moby's dispatchers): ``from_`` (FROM, ONBUILD
triggers), ``run`` (RUN, its container through containerd), ``copy`` (COPY, ADD) and
``metadata`` (ARG, ENV, LABEL, WORKDIR, USER, EXPOSE, VOLUME, CMD, ENTRYPOINT, HEALTHCHECK,
SHELL, STOPSIGNAL, ONBUILD, MAINTAINER). Every step, metadata-only ones included, is looked up
in the build cache first, so a rebuild of an unchanged Dockerfile reuses every state and
produces the same image ID. Nothing is mounted in the engine. Only the stages the target needs
are built; independent ones in parallel.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.api import pb
from dockyard.buildcontext.dockerignore import Matcher
from dockyard.builder import instructions as ins
from dockyard.builder.build import Build
from dockyard.builder.cache import BuildCache
from dockyard.builder.context import ContextDir, FileTree, private_dir, read_payload
from dockyard.builder.contexts import ContextCache
from dockyard.builder.layers import Piece, chunks
from dockyard.builder.mounts import CacheDirs
from dockyard.builder.receive import Limits, receive
from dockyard.builder.squash import squash
from dockyard.builder.state import (
    DANGLING,
    LAYER_COMPRESSION,
    BuildFailed,
    BuildOptions,
    State,
    arch,
    manifest,
)
from dockyard.containerd.client import LABEL_GC_ROOT
from dockyard.oci import image as oci_image
from dockyard.oci import reference
from dockyard.timefmt import rfc3339

log = logging.getLogger("dockyard.builder")

MAX_DOCKERFILE = 16 << 20


@dataclass
class Loaded:
    """A build's context (less what ``without_ignored`` took out) and its parsed Dockerfile."""

    ctx: FileTree
    df: ins.Dockerfile


def without_ignored(ctx: FileTree, dockerfile: str) -> FileTree:
    """dockerd's ``removeDockerfile``: with a .dockerignore in the context, it and the Dockerfile
    are dropped from what COPY sees when its patterns exclude them. A new tree over the same
    files: the received one may be kept for the next build (``contexts``)."""
    ignore = ctx.entries.get(".dockerignore")
    if ignore is None or not ignore.info.isreg():
        return ctx
    matcher = Matcher.from_text(read_payload(ignore.data, 1 << 20).decode("utf-8", "replace"))
    drop = {n for n in (".dockerignore", ctx.norm(dockerfile)) if matcher.excluded(n)}
    if not drop:
        return ctx
    out = FileTree(ctx.store)
    out.entries = {k: e for k, e in ctx.entries.items() if k not in drop}
    return out


class Builder:
    """One per engine; ``build`` is re-entrant (each call has its own stages)."""

    def __init__(self, engine: Any, cache: BuildCache) -> None:
        self.engine = engine
        self.cd = engine.cd
        self.cache = cache
        self._layer_trees: dict[str, FileTree] = {}
        self._blobs: set[str] | None = None
        self._configs: dict[str, bytes] = {}
        self._behind: set[asyncio.Task[Any]] = set()
        self._config_writes: dict[str, asyncio.Task[Any]] = {}  # config digest -> its write, while pending
        self._record_writes: dict[str, asyncio.Task[Any]] = {}  # cache key -> its entry's write, while pending
        # (state, COPY as expanded, its files' metadata and idents) -> the digest of the layer it
        # makes: a rebuild that COPYs the same big files does not hash them again
        self.copy_digests: dict[str, str] = {}
        self.contexts = ContextCache()
        # received contexts (builder.context.ContextDir); a restart forgets what it kept
        self.context_root = Path(getattr(engine, "data_root", "/var/lib/dockyard")) / "builder" / "contexts"
        shutil.rmtree(self.context_root, ignore_errors=True)
        self.cache_dirs = CacheDirs(Path(getattr(engine, "data_root", "/var/lib/dockyard")) / "builder")

    # -- entry ---------------------------------------------------------------------

    def context_limits(self) -> Limits:
        """The limits of a context received now: the daemon's (``--build-context-limit``,
        ``--build-context-max-files``), and never more bytes than the disk has free."""
        size = int(getattr(self.engine, "build_context_limit", 0) or Limits.size)
        files = int(getattr(self.engine, "build_context_max_files", 0) or Limits.files)
        private_dir(self.context_root)
        st = os.statvfs(self.context_root)
        free = st.f_bavail * st.f_frsize
        if free < size:
            return Limits(free, files, why=f"the free space under {self.context_root}")
        return Limits(size, files)

    async def receive_context(self, chunks: AsyncIterable[bytes]) -> FileTree:
        """The context tar of a build, streamed into a directory of its own (see
        ``receive.receive``); the caller releases ``tree.store`` when the build is done."""
        store = ContextDir(self.context_root)
        try:
            return await receive(chunks, store, self.context_limits())
        except BaseException:
            store.release()
            raise

    def load(self, ctx: FileTree, opts: BuildOptions, context_token: str = "") -> Loaded:
        """dockerd's ``Detect``, before any output: the context completed (``context_token``, from
        ``POST /build/context``: the tar then lacked the files the daemon kept from the last build of
        that context, see ``contexts``), the Dockerfile found and parsed, then the Dockerfile and the
        .dockerignore taken out of the context when the .dockerignore excludes them (they served the
        build; COPY does not see them). Refusals here are a 400, not a stream error."""
        if context_token:
            ctx = self.contexts.assemble(context_token, ctx)
        name = opts.dockerfile or "Dockerfile"
        path = ctx.norm(name)
        if path not in ctx.entries and name == "Dockerfile":
            path = "dockerfile"  # dockerd's fallback for the default name
        entry = ctx.entries.get(path)
        if entry is None or not entry.info.isreg():
            raise errors.InvalidArgument(f"Cannot locate specified Dockerfile: {name}")
        if entry.info.size > MAX_DOCKERFILE:
            raise errors.InvalidArgument(f"the Dockerfile is larger than {MAX_DOCKERFILE >> 20} MiB")
        text = read_payload(entry.data)
        if not text:
            raise errors.InvalidArgument(f"the Dockerfile ({name}) cannot be empty")
        if opts.platform and opts.platform not in (f"linux/{arch()}", "linux", arch()):
            raise errors.InvalidArgument(f"platform {opts.platform} is not supported here: only linux/{arch()}")
        df = ins.parse_dockerfile(text, filename=name)
        return Loaded(without_ignored(ctx, path), df)

    async def build(self, loaded: Loaded, opts: BuildOptions, emit: Callable[[str], None],
                    secrets: dict[str, bytes] | None = None) -> str:
        """Build and tag; returns the image ID. ``emit`` receives Docker's classic progress text
        (a RUN's stderr wrapped in dockerd's red markers, ``STDERR_START`` ... ``STDERR_END``).

        ``loaded.ctx``: the received context (``load``); its files' idents name their bytes
        by where they came from, so a COPY of the same files onto the same state reuses the
        layer digest it computed before instead of hashing them again."""
        self._blobs = None
        listing = asyncio.ensure_future(self.has_blobs([]))  # containerd walks its store while we parse
        run = Build(self, loaded.df, loaded.ctx, opts, emit)
        run.secrets = secrets or {}
        await listing
        state = await run.execute()
        if opts.squash:
            state = await squash(self, state, run.bases[run.target.index])
        image = await self._finish(state, opts, emit)
        self.cache.built(run.keys, image)  # the entries live while an image built through them does
        return image

    async def _finish(self, state: State, opts: BuildOptions, emit: Callable[[str], None]) -> str:
        if opts.labels:
            state = State(copy.deepcopy(state.config), list(state.layers))
            state.cfg["Labels"] = {**(state.cfg.get("Labels") or {}), **opts.labels}
            state.id = await self.write_config(state)
        data = manifest(state)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()

        async def store_manifest() -> None:
            if not await self.has_blobs([digest]):
                try:
                    await self.cd.write_blob(data, expected=digest)
                except errors.AlreadyExists:
                    pass

        # the image needs its config, its manifest, and its layers published (they are written behind)
        await asyncio.gather(self.config_stored(state.id), store_manifest(),
                             *(self.cd.content.Info(pb.ContentInfoRequest(digest=lay["digest"])) for lay in state.layers))
        target = pb.Descriptor(media_type=oci_image.MEDIA_TYPE_OCI_MANIFEST, digest=digest, size=len(data))
        names = [str(reference.parse(t)) for t in opts.tags] or [DANGLING + state.id]
        for n in names:
            try:
                cur = await self.cd.images.Get(pb.GetImageRequest(name=n))
                if cur.target.digest == digest:
                    continue  # a fully cached rebuild: the record is already right
            except errors.NotFound:
                pass
            await self.cd.images.Put(pb.Image(name=n, target=target))
        try:
            await self.cd.snapshots.Stat(pb.SnapshotKey(key=state.chain_id))
        except errors.NotFound:
            await self.cd.images.Unpack(pb.UnpackRequest(name=names[0]))
        emit(f"Successfully built {state.id.removeprefix('sha256:')[:12]}\n")
        for t in opts.tags:
            emit(f"Successfully tagged {reference.parse(t).familiar()}\n")
        return state.id

    # -- states ----------------------------------------------------------------------

    async def write_config(self, state: State) -> str:
        data = oci_image.canonical_json(state.config)
        info = await self.cd.write_blob(data)
        self.remember_config(str(info.digest), data)
        return str(info.digest)

    async def blob_size(self, digest: str) -> int | None:
        """The stored blob's size, or None when the content store does not have it."""
        try:
            info = await self.cd.content.Info(pb.ContentInfoRequest(digest=digest))
        except errors.NotFound:
            return None
        if self._blobs is not None:
            self._blobs.add(digest)
        return int(info.size)

    def behind(self, write: Awaitable[Any], index: dict[str, asyncio.Task[Any]] | None = None,
               name: str = "") -> asyncio.Task[Any]:
        """Run ``write`` (storing a step's config, or its GC root and cache entry) while the build
        goes on: each is a few fsyncs in containerd, ~7 ms a step that no later step waits for.
        Whoever needs one of them waits for just that one (``config_stored``, a cache lookup of
        the key); a GC waits for all (``flush``). A cache entry is put only once its blobs are
        stored, so a crash loses entries, never leaves one that points at nothing."""
        task = asyncio.ensure_future(write)
        self._behind.add(task)
        if index is not None:
            index[name] = task

        def done(t: asyncio.Task[Any]) -> None:
            self._behind.discard(t)
            if index is not None and index.get(name) is t:
                del index[name]
            if not t.cancelled() and t.exception() is not None:
                log.warning("builder: storing %s failed: %s", name or "a step record", t.exception())

        task.add_done_callback(done)
        return task

    async def flush(self) -> None:
        """Wait for every write ``behind`` started (before a GC: its roots must be there)."""
        while self._behind:
            await asyncio.gather(*list(self._behind), return_exceptions=True)

    def store_config_behind(self, write: Awaitable[Any], digest: str) -> asyncio.Task[Any]:
        """``behind`` for the write of config blob ``digest`` (``config_stored`` waits for it)."""
        return self.behind(write, self._config_writes, digest)

    def store_record_behind(self, write: Awaitable[Any], key: str) -> asyncio.Task[Any]:
        """``behind`` for the write of cache entry ``key`` (``record_stored`` waits for it)."""
        return self.behind(write, self._record_writes, key)

    async def record_stored(self, key: str) -> None:
        """Wait until another build's pending write of cache entry ``key`` ends (its failure
        is the writer's to log: the entry is then just a miss)."""
        task = self._record_writes.get(key)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def config_stored(self, digest: str) -> None:
        """Wait until the config blob ``digest`` written behind is stored (raises its failure)."""
        task = self._config_writes.get(digest)
        if task is not None:
            await asyncio.shield(task)

    async def has_blobs(self, digests: list[str]) -> bool:
        """Whether every blob is in the content store (one List per build, then a set lookup):
        a cache entry whose blobs GC or fsck removed is a miss, never a broken image."""
        if self._blobs is None:
            resp = await self.cd.content.List(pb.ListContentRequest())
            self._blobs = {i.digest for i in resp.infos}
        if all(d in self._blobs for d in digests):
            return True
        self._blobs = None  # something is gone: re-list next time rather than trust the stale set
        return False

    async def write_root(self, key: str, state: State) -> str:
        """A manifest naming the entry's config and layers, labelled as a GC root."""
        doc = {"schemaVersion": 2, "mediaType": oci_image.MEDIA_TYPE_OCI_MANIFEST,
               "config": {"mediaType": oci_image.MEDIA_TYPE_OCI_CONFIG, "digest": state.id,
                          "size": len(oci_image.canonical_json(state.config))},
               "layers": state.layers, "annotations": {"org.dockyard.build-cache.key": key}}
        data = oci_image.canonical_json(doc)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        try:
            await self.cd.write_blob(data, expected=digest, labels={LABEL_GC_ROOT: "build-cache"})
        except errors.AlreadyExists:
            pass
        if self._blobs is not None:
            self._blobs.update([digest, state.id] + [lay["digest"] for lay in state.layers])
        return digest

    async def images_deleted(self, images: list[str]) -> None:
        """``ImageService.deleted_hooks``: the cache entries that built only these images go (their roots
        deleted; the image deletion's GC then collects what only they kept)."""
        await self.release(self.cache.images_deleted(images), collect=False)

    async def release(self, roots: list[str], collect: bool = True) -> None:
        """Delete cache roots, then (``collect``) collect what only they kept."""
        for r in roots:
            try:
                await self.cd.content.Delete(pb.DeleteContentRequest(digest=r))
            except errors.NotFound:
                pass
        self._blobs = None
        if roots and collect:
            await self.cd.gc()

    async def load_state(self, config_digest: str, layers: list[dict[str, Any]]) -> State | None:
        data = self._configs.get(config_digest)
        if data is None:
            await self.flush()
            try:
                data = await self.cd.read_blob(config_digest)
            except errors.NotFound:
                return None
            self.remember_config(config_digest, data)
        return State(json.loads(data), layers, config_digest)

    def remember_config(self, digest: str, data: bytes) -> None:
        """Configs are immutable by digest: keep recent ones, so a cached step reads no blob."""
        if len(self._configs) > 1024:
            self._configs.clear()
        self._configs[digest] = data

    async def ensure_snapshot(self, state: State) -> str:
        """The committed snapshot of the state's chain, unpacked from its layers if needed."""
        chain = state.chain_id
        if not state.layers:
            return ""
        try:
            await self.cd.snapshots.Stat(pb.SnapshotKey(key=chain))
            return chain
        except errors.NotFound:
            pass
        ids = state.config.get("rootfs", {}).get("diff_ids", [])
        parent = oci_image.chain_id(ids[:-1])
        if len(ids) == len(state.layers):
            try:
                if parent:
                    await self.cd.snapshots.Stat(pb.SnapshotKey(key=parent))
                # only the top layer is missing (a COPY that reused a stored blob): apply just it
                return await self.cd.apply_layer(state.layers[-1], ids[-1], parent)
            except errors.NotFound:
                pass
        await self.config_stored(state.id)  # the unpack reads the state's config blob
        data = manifest(state)
        info = await self.cd.write_blob(data)
        name = f"{DANGLING}{state.id}"
        temp = False
        try:
            await self.cd.images.Get(pb.GetImageRequest(name=name))
        except errors.NotFound:
            temp = True
            await self.cd.images.Put(pb.Image(name=name, target=pb.Descriptor(
                media_type=oci_image.MEDIA_TYPE_OCI_MANIFEST, digest=info.digest, size=len(data))))
        try:
            await self.cd.images.Unpack(pb.UnpackRequest(name=name))
        finally:
            if temp:
                await self.cd.images.Delete(pb.DeleteImageRequest(name=name))
        return chain

    async def tree_of(self, state: State) -> FileTree:
        """The state's filesystem merged from its layer blobs (COPY --from, existing dirs)."""
        key = state.chain_id
        if key in self._layer_trees:
            return self._layer_trees[key]
        tree = FileTree()
        for layer in state.layers:
            tree.add_tar(await self.cd.read_blob(layer["digest"]))
        if len(self._layer_trees) > 8:
            self._layer_trees.clear()
        self._layer_trees[key] = tree
        return tree

    async def store_layer(self, state: State, parts: list[Piece], diff_id: str, what: str
                           ) -> dict[str, Any]:
        """The layer descriptor of the tar ``parts`` (digest ``diff_id``) on top of ``state``.

        Build layers are plain tars, so their blob digest is their diff_id: a layer stored
        before (a rebuild, or the same files onto another parent) is reused as it is, and a
        RUN that needs its snapshot has it applied then. A new one is stored, and its snapshot
        made, while it streams to containerd."""
        size = await self.blob_size(diff_id)
        if size is not None:
            return {"mediaType": oci_image.MEDIA_TYPE_OCI_LAYER, "digest": diff_id, "size": size}
        parent = await self.ensure_snapshot(state)
        resp = await self.cd.import_layer(chunks(parts), unpack_onto=parent, compression=LAYER_COMPRESSION,
                                            behind=True)
        if resp.diff_id != diff_id:
            raise errors.Internal(f"{what}: the stored layer {resp.diff_id} is not the planned {diff_id}")
        return {"mediaType": resp.layer.media_type, "digest": resp.layer.digest, "size": resp.layer.size}

    async def drop(self, key: str) -> None:
        """Remove the snapshot ``key`` (an active one a failed or duplicate step left), if it is there."""
        try:
            await self.cd.snapshots.Remove(pb.SnapshotKey(key=key))
        except errors.DockyardError:
            pass


async def prune(builder: Builder, all: bool = True) -> tuple[int, int]:
    """``builder prune``: drop cache entries, release their GC roots (containerd then collects
    the blobs and snapshots only they kept) and empty the cache mounts. (entries, bytes)."""
    n, size, roots = builder.cache.prune()
    await builder.release(roots)
    size += await asyncio.to_thread(builder.cache_dirs.prune)
    return n, size


def disk_usage(builder: Builder) -> list[dict[str, Any]]:
    """Build cache records for ``GET /system/df`` (its ``BuildCache`` field): one per cached
    step that made a layer, plus one for all cache mounts, in Docker's BuildCache shape."""
    out: list[dict[str, Any]] = []
    for key, size, created, last_used, _layers in builder.cache.records():
        out.append({"ID": key[:25], "Parent": "", "Parents": None, "Type": "regular",
                    "Description": "build step", "InUse": False, "Shared": False, "Size": size,
                    "CreatedAt": _rfc(created), "LastUsedAt": _rfc(last_used), "UsageCount": 1})
    n, size = builder.cache_dirs.usage()
    if n:
        out.append({"ID": "cache-mounts", "Parent": "", "Parents": None, "Type": "exec.cachemount",
                    "Description": f"{n} RUN --mount=type=cache directories", "InUse": False, "Shared": True,
                    "Size": size, "CreatedAt": _rfc(time.time()), "LastUsedAt": None, "UsageCount": n})
    return out


def _rfc(t: float) -> str:
    return rfc3339(t * 1e9)


def open_cache(data_root: Path) -> BuildCache:
    return BuildCache(data_root / "builder" / "cache.db")


__all__ = ["BuildFailed", "BuildOptions", "Builder", "State", "disk_usage", "open_cache", "prune"]
