"""The builder: runs a parsed Dockerfile's stages into an image, step by cached step.

Each step turns an image state (config + layers) into the next. Every step, metadata-only
ones included, is looked up in the build cache first, so a rebuild of an unchanged
Dockerfile reuses every state and produces the same image ID. RUN runs as a container
through containerd (snapshot on the parent chain, task, wait) and its change becomes a layer
through Diff.CreateLayer, the same path as ``commit``; COPY/ADD build their layer as a tar
here from the context (or another stage's layers) and import it, so nothing is mounted in
the engine. Only the stages the target needs are built; independent ones in parallel.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import io
import json
import logging
import os
import posixpath
import shutil
import tarfile
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_hex
from typing import Any

from dockyard import errors
from dockyard.api import pb
from dockyard.builder import instructions as ins
from dockyard.builder.cache import BuildCache
from dockyard.builder.context import (
    ContextDir,
    FileTree,
    Limits,
    OnDisk,
    Payload,
    is_archive,
    open_payload,
    payload_chunks,
    private_dir,
    read_payload,
    receive,
)
from dockyard.builder.parser import ParseError, parse
from dockyard.builder.shell_lex import ShellLex
from dockyard.oci import image as oci_image

log = logging.getLogger("dockyard.builder")

DEFAULT_SHELL = ["/bin/sh", "-c"]
DANGLING = "moby-dangling@"
# Build layers are stored as plain tars, as Docker's image store keeps them: compressing a
# 20 MB COPY costs more than the rest of its step, and a build is read back locally (the next
# RUN's snapshot, `save`, `run`) far more often than it is pushed. A plain layer is a valid OCI
# layer (application/vnd.oci.image.layer.v1.tar), so push, save and load take it as it is.
LAYER_COMPRESSION = "none"
MAX_DOCKERFILE = 16 << 20
STDERR_START, STDERR_END = "\x1b[91m", "\x1b[0m"  # dockerd's stderr writer, around each write


@dataclass
class BuildOptions:
    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    no_cache: bool = False
    pull: bool = False
    target: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    cache_from: list[str] = field(default_factory=list)
    platform: str = ""
    remove: bool = True
    network_mode: str = ""  # the RUN containers' HostConfig.NetworkMode ("" is the default bridge)
    extra_hosts: list[str] = field(default_factory=list)  # "host:ip", added to their /etc/hosts


@dataclass
class Loaded:
    """A build's context (less what ``without_ignored`` took out) and its parsed Dockerfile."""

    ctx: FileTree
    df: ins.Dockerfile


def without_ignored(ctx: FileTree, dockerfile: str) -> FileTree:
    """dockerd's ``removeDockerfile``: with a .dockerignore in the context, it and the Dockerfile
    are dropped from what COPY sees when its patterns exclude them. A new tree over the same
    files: the received one may be kept for the next build (``contexts``)."""
    from dockyard.builder.dockerignore import Matcher

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


@dataclass
class State:
    """An image state: the OCI config document and the layer descriptors under it."""

    config: dict[str, Any]
    layers: list[dict[str, Any]]
    id: str = ""

    @property
    def cfg(self) -> dict[str, Any]:
        return self.config.setdefault("config", {})

    @property
    def chain_id(self) -> str:
        return oci_image.chain_id(self.config.get("rootfs", {}).get("diff_ids", []))


class BuildFailed(errors.InvalidArgument):
    """A step failed; the message is what the client shows (Docker's wording where it has one)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _now() -> str:
    from dockyard.engine.images import rfc3339

    return rfc3339()


def _arch() -> str:
    from dockyard.engine.images import arch

    return arch()


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()


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
        from dockyard.builder.contexts import ContextCache

        self.contexts = ContextCache()
        # received contexts (builder.context.ContextDir); a restart forgets what it kept
        self.context_root = Path(getattr(engine, "data_root", "/var/lib/dockyard")) / "builder" / "contexts"
        shutil.rmtree(self.context_root, ignore_errors=True)
        from dockyard.builder.mounts import CacheDirs

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
        ``context.receive``); the caller releases ``tree.store`` when the build is done."""
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
        if opts.platform and opts.platform not in (f"linux/{_arch()}", "linux", _arch()):
            raise errors.InvalidArgument(f"platform {opts.platform} is not supported here: only linux/{_arch()}")
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
        run = _Run(self, loaded.df, loaded.ctx, opts, emit)
        run.secrets = secrets or {}
        await listing
        state = await run.execute()
        return await self._finish(state, opts, emit)

    async def _finish(self, state: State, opts: BuildOptions, emit: Callable[[str], None]) -> str:
        from dockyard.oci import reference

        if opts.labels:
            state = State(copy.deepcopy(state.config), list(state.layers))
            state.cfg["Labels"] = {**(state.cfg.get("Labels") or {}), **opts.labels}
            state.id = await self.write_config(state)
        manifest = {"schemaVersion": 2, "mediaType": oci_image.MEDIA_TYPE_OCI_MANIFEST,
                    "config": {"mediaType": oci_image.MEDIA_TYPE_OCI_CONFIG, "digest": state.id,
                               "size": len(oci_image.canonical_json(state.config))},
                    "layers": state.layers}
        data = oci_image.canonical_json(manifest)
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
        self._remember_config(str(info.digest), data)
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
        from dockyard.containerd.gc import LABEL_GC_ROOT

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

    async def release(self, roots: list[str]) -> None:
        """Delete cache roots, then collect what only they kept."""
        for r in roots:
            try:
                await self.cd.content.Delete(pb.DeleteContentRequest(digest=r))
            except errors.NotFound:
                pass
        self._blobs = None
        if roots:
            await self.cd.gc()

    async def load_state(self, config_digest: str, layers: list[dict[str, Any]]) -> State | None:
        data = self._configs.get(config_digest)
        if data is None:
            await self.flush()
            try:
                data = await self.cd.read_blob(config_digest)
            except errors.NotFound:
                return None
            self._remember_config(config_digest, data)
        return State(json.loads(data), layers, config_digest)

    def _remember_config(self, digest: str, data: bytes) -> None:
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
        manifest = {"schemaVersion": 2, "mediaType": oci_image.MEDIA_TYPE_OCI_MANIFEST,
                    "config": {"mediaType": oci_image.MEDIA_TYPE_OCI_CONFIG, "digest": state.id,
                               "size": len(oci_image.canonical_json(state.config))},
                    "layers": state.layers}
        data = oci_image.canonical_json(manifest)
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

    # -- RUN -------------------------------------------------------------------------

    async def run_container(self, state: State, argv: list[str], env: list[str], emit: Callable[[str], None],
                            network: str = "", mounts: list[Any] | None = None,
                            sources: dict[int, tuple[FileTree, str]] | None = None,
                            secrets: dict[str, bytes] | None = None,
                            then: Callable[[str], Awaitable[Any]] | None = None,
                            extra_hosts: list[str] | None = None) -> tuple[str, int, Any]:
        """Run ``argv`` on the state's filesystem; returns (snapshot key, exit code, what ``then``
        made). ``then(key)`` (committing the change) runs once the command exited with 0, while
        the task and the container record are deleted: it reads only the snapshot's upper dir.

        ``network``: a container's ``NetworkMode``, as the classic builder gives its RUN
        containers. ``""``/``default``/``bridge``: the daemon's default bridge (a namespace of its
        own when the daemon has no bridge); ``none``: an empty network namespace; ``host``: the
        host's; ``container:<id>``; or a user network's name or ID (its DNS included).
        ``extra_hosts``: ``host:ip`` lines for its /etc/hosts."""
        from dockyard.builder import mounts as run_mounts
        from dockyard.engine import spec as specs

        id = token_hex(32)
        emit(f" ---> Running in {id[:12]}\n")
        parent = await self.ensure_snapshot(state)
        key = f"build-{id}"
        cfg = state.cfg
        config = {"Cmd": argv, "Entrypoint": [], "Env": env, "WorkingDir": cfg.get("WorkingDir") or "/",
                  "User": cfg.get("User") or ""}
        networks = getattr(self.engine, "networks", None)
        mode = network or "default"
        if mode in ("default", "bridge"):
            mode = "bridge" if networks is not None and networks.default_enabled else "none"
        host = {"NetworkMode": mode, "ExtraHosts": list(extra_hosts or [])}
        spec = specs.build(id, config, host, {}, getattr(self.engine, "cgroup_parent", "dockyard"))
        net: dict[str, Any] | None = None
        attached = False
        net_dir = self.engine.exec_root / "builder" / "net" / id
        prepared = None
        try:
            if networks is not None:
                # a record shaped like a container's, so the network manager can give it an endpoint,
                # /etc/hosts, resolv.conf and hostname; its layer leaves those files out (MANAGED_FILES)
                net = {"Id": id, "Name": f"/build-{id[:12]}", "Config": {}, "HostConfig": host,
                       "NetworkSettings": {"Bridge": "", "SandboxID": "", "Ports": {}, "Networks": {}}}
                net_dir.mkdir(parents=True, exist_ok=True)
                networks.prepare(net, spec, None, net_dir, {})
                if net["NetworkSettings"].get("SandboxKey"):
                    await networks.attach(net)
                    attached = True
            if mounts:
                prepared = await run_mounts.prepare(
                    mounts, self.cache_dirs, self.engine.data_root / "builder" / "tmp" / id,
                    self.engine.exec_root / "builder" / "secrets" / id, secrets or {}, sources or {})
                spec["mounts"] += prepared.spec
            return await self._run_task(id, key, parent, state, spec, emit, then)
        finally:
            if prepared is not None:
                prepared.release(self.cache_dirs)
                shutil.rmtree(self.engine.data_root / "builder" / "tmp" / id, ignore_errors=True)
            if attached and networks is not None:
                await networks.detach(net)
            if net is not None:
                shutil.rmtree(net_dir, ignore_errors=True)

    async def _run_task(self, id: str, key: str, parent: str, state: State, spec: dict[str, Any],
                        emit: Callable[[str], None], then: Callable[[str], Awaitable[Any]] | None = None
                        ) -> tuple[str, int, Any]:
        from dockyard.engine.streams import _chunks, cancel_unawaited, gather_unawaited, open_fifo

        await self.cd.snapshots.Prepare(pb.PrepareSnapshotRequest(key=key, parent=parent))
        fifo_dir = self.engine.exec_root / "containers" / id
        fifo_dir.mkdir(parents=True, exist_ok=True)
        created = False
        follow: asyncio.Future[Any] | None = None
        try:
            await self.cd.containers.Create(pb.Container(
                id=id, image=state.id, snapshotter="overlayfs", snapshot_key=key, spec=json.dumps(spec).encode(),
                runtime="dockyard-runc"))
            created = True
            fds = [open_fifo(fifo_dir / "stdout"), open_fifo(fifo_dir / "stderr")]

            async def pump(fifo: Any, start: str = "", end: str = "") -> None:
                async for data in _chunks(fifo):
                    emit(start + data.decode("utf-8", errors="replace") + end)

            pumps = gather_unawaited(pump(fds[0]), pump(fds[1], STDERR_START, STDERR_END))
            try:
                mounts = await self.cd.snapshots.Mounts(pb.SnapshotKey(key=key))
                await self.cd.tasks.Create(pb.CreateTaskRequest(
                    container_id=id, rootfs=list(mounts.mounts), stdout=str(fifo_dir / "stdout"),
                    stderr=str(fifo_dir / "stderr"), terminal=False, start=True,
                    scratch=True))  # committed after the step, only ever a lower again
                try:
                    status = await self.cd.tasks.Wait(pb.TaskRequest(container_id=id))
                    code = int(status.exit_status)
                    if then is not None and code == 0:
                        follow = asyncio.ensure_future(then(key))
                finally:
                    await self.cd.tasks.Delete(pb.TaskRequest(container_id=id))
                await asyncio.wait_for(asyncio.shield(pumps), timeout=5)
            except BaseException:
                cancel_unawaited(pumps)
                for fifo in fds:  # a pump cancelled before it ran never closes its FIFO
                    fifo.close()
                raise
        except BaseException:
            if follow is not None:
                follow.cancel()
                await asyncio.gather(follow, return_exceptions=True)
            await self._drop(key)
            raise
        finally:
            if created:
                try:
                    await self.cd.containers.Delete(pb.DeleteContainerRequest(id=id))
                except errors.DockyardError:
                    pass  # the container record is bookkeeping only; the snapshot is what matters
            for p in (fifo_dir / "stdout", fifo_dir / "stderr"):
                p.unlink(missing_ok=True)
            try:
                fifo_dir.rmdir()
            except OSError:
                pass
        emit(f" ---> Removed intermediate container {id[:12]}\n")
        try:
            made = await follow if follow is not None else None
        except BaseException:
            await self._drop(key)
            raise
        return key, code, made

    async def commit_snapshot(self, key: str) -> tuple[dict[str, Any], str]:
        """The snapshot's change as a layer (Diff.CreateLayer), then the snapshot committed under its chain."""
        from dockyard.engine.archive import MANAGED_FILES

        resp = await self.cd.create_layer(key, LAYER_COMPRESSION, exclude=MANAGED_FILES, behind=True)
        layer = {"mediaType": resp.layer.media_type, "digest": resp.layer.digest, "size": resp.layer.size}
        return layer, resp.diff_id

    async def _drop(self, key: str) -> None:
        try:
            await self.cd.snapshots.Remove(pb.SnapshotKey(key=key))
        except errors.DockyardError:
            pass


class _Run:
    """One build: the stage graph, global args, and progress numbering."""

    def __init__(self, b: Builder, df: ins.Dockerfile, ctx: FileTree, opts: BuildOptions,
                 emit: Callable[[str], None]) -> None:
        self.b = b
        self.df = df
        self.ctx = ctx
        self.opts = opts
        self.emit = emit
        self.lex = ShellLex(df.escape)
        self.meta: dict[str, str] = {}
        self.used_args: set[str] = set()
        for a in df.meta_args:
            for k, default in a.args:
                v = opts.build_args.get(k, default)
                if k in opts.build_args:
                    self.used_args.add(k)
                if v is not None:
                    self.meta[k] = ins.expand(self.lex, v, self.meta, a.line, df_name(opts))
                else:
                    self.meta.setdefault(k, "")
        self.results: dict[int, asyncio.Task[State]] = {}
        target = df.stages[-1]
        if opts.target:
            t = df.stage(opts.target)
            if t is None:
                raise errors.InvalidArgument(f"failed to reach build target {opts.target} in Dockerfile")
            target = t
        self.target = target
        self.needed = self._needed(target)
        self.total = sum(1 + len(s.instructions) for s in df.stages if s.index in self.needed)
        self.step = 0
        self._sources: list[tuple[dict[str, Any], list[dict[str, Any]]]] | None = None
        self.secrets: dict[str, bytes] = {}
        self._cmd_stages: set[int] = set()  # stages whose own CMD an ENTRYPOINT must not clear

    def _deps(self, stage: ins.Stage) -> list[int]:
        out = []
        base = self._expand_meta(stage.base, stage.line)
        dep = self.df.stage(base)
        if dep is not None and dep.index < stage.index:
            out.append(dep.index)
        for i in stage.instructions:
            refs = [i.flags["from"]] if isinstance(i, ins.Copy) and i.flags.get("from") else []
            if isinstance(i, ins.Run):
                refs += [f.split("=", 1)[1] for m in i.flags.get("mount") or [] for f in m.split(",")
                         if f.strip().startswith("from=")]
            for ref in refs:
                src = self.df.stage(self._expand_meta(ref, i.line))
                if src is not None and src.index < stage.index:
                    out.append(src.index)
        return out

    def _needed(self, target: ins.Stage) -> set[int]:
        seen: set[int] = set()
        todo = [target.index]
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            todo += self._deps(self.df.stages[i])
        return seen

    def _expand_meta(self, word: str, line: int) -> str:
        return ins.expand(self.lex, word, self.meta, line, df_name(self.opts))

    async def execute(self) -> State:
        for s in self.df.stages:
            if s.index in self.needed:
                self.results[s.index] = asyncio.ensure_future(self._stage(s))
        try:
            await asyncio.gather(*self.results.values())
        except BaseException:
            for t in self.results.values():
                t.cancel()
            raise
        unused = sorted(k for k in self.opts.build_args if k not in self.used_args)
        if unused:
            self.emit(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        return self.results[self.target.index].result()

    def _announce(self, text: str) -> None:
        self.step += 1
        self.emit(f"Step {self.step}/{self.total} : {text}\n")

    async def _stage(self, stage: ins.Stage) -> State:
        base = self._expand_meta(stage.base, stage.line)
        dep = self.df.stage(base)
        if dep is not None and dep.index < stage.index:
            parent = await self.results[dep.index]
            state = State(copy.deepcopy(parent.config), list(parent.layers), parent.id)
        else:
            state = await self._base_image(base)
        self._announce(" ".join(["FROM", base] + (["AS", stage.name] if stage.name else [])))
        self.emit(f" ---> {short(state.id) if state.id else 'scratch'}\n")
        args: dict[str, str] = {}
        onbuild = list(state.cfg.get("OnBuild") or [])
        if onbuild:
            state.cfg["OnBuild"] = None
            self.emit(f"# Executing {len(onbuild)} build trigger{'s' if len(onbuild) > 1 else ''}\n")
            for expr in onbuild:
                node = parse(expr).ast.children[0]
                state = await self._instruction(state, ins.to_instruction(node), args, stage, announce=False)
        for inst in stage.instructions:
            self._announce(inst.original.strip())
            state = await self._instruction(state, inst, args, stage)
        if not state.id:
            state.id = await self.b.write_config(state)
        return state

    async def _base_image(self, ref: str) -> State:
        if ref == "scratch":
            cfg = {"architecture": _arch(), "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": []},
                   "history": []}
            return State(cfg, [], "")
        try:
            img = await self.b.engine.images.get(ref)
        except errors.NotFound:
            raise BuildFailed(f"pull access denied for {ref}: the image is not present locally and this daemon has "
                              "no registry to pull it from") from None
        if self.opts.pull:
            self.emit(f"[Warning] --pull: no registry is reachable; using the local image {ref}\n")
        config = copy.deepcopy(img.config)
        layers = [dict(lay) for lay in img.manifest.get("layers", [])]
        return State(config, layers, img.id)

    # -- one instruction -----------------------------------------------------------

    def _env(self, state: State, args: dict[str, str]) -> dict[str, str]:
        env = dict(args)
        for e in state.cfg.get("Env") or []:
            k, _, v = e.partition("=")
            env[k] = v
        return env

    def _x(self, word: str, env: dict[str, str], line: int) -> str:
        return ins.expand(self.lex, word, env, line, df_name(self.opts))

    async def _instruction(self, state: State, inst: ins.Instruction, args: dict[str, str], stage: ins.Stage,
                           announce: bool = True) -> State:
        env = self._env(state, args)
        if isinstance(inst, ins.Arg):
            for k, default in inst.args:
                if k in self.opts.build_args:
                    self.used_args.add(k)
                    v = self.opts.build_args[k]
                    args[k] = v if v is not None else self._x(default or "", env, inst.line)
                elif default is not None:
                    args[k] = self._x(default, env, inst.line)
                elif k in self.meta:
                    args[k] = self.meta[k]
                else:
                    args[k] = ""
            return state  # Docker's classic builder records ARG in no image
        if isinstance(inst, ins.Run):
            return await self._run(state, inst, env, args)
        if isinstance(inst, ins.Copy):
            return await self._copy(state, inst, env)
        return await self._meta(state, inst, env, stage)

    async def _cached(self, state: State, key_parts: list[str], make: Callable[[], Any],
                      created_by: str = "", metadata: bool = False) -> State:
        """The step's state from the build cache, or ``make()``'s. With ``cache_from`` the cache
        is limited to those images, as dockerd's classic builder limits it: a stored step counts
        only when its state is one of theirs (``_derived``), and a step their history made is
        taken from them (``_from_cache_images``; ``metadata``: a step with no layer of its own)."""
        key = _digest(state.id or "scratch", *key_parts)
        if not self.opts.no_cache:
            pending = self.b._record_writes.get(key)
            if pending is not None:  # another build is storing this very entry
                await asyncio.gather(pending, return_exceptions=True)
            hit = self.b.cache.get(key)
            if hit is not None and await self.b.has_blobs([hit[0], hit[2]] + [lay["digest"] for lay in hit[1]]):
                loaded = await self.b.load_state(hit[0], hit[1])
                if loaded is not None and (not self.opts.cache_from or self._derived(loaded,
                                                                                    await self._cache_sources())):
                    self.emit(" ---> Using cache\n")
                    self.emit(f" ---> {short(loaded.id)}\n")
                    return loaded
            if created_by:
                reused = await self._from_cache_images(state, created_by, make if metadata else None)
                if reused is not None:
                    self.emit(" ---> Using cache\n")
                    return await self._remember(key, state, reused)
        new: State = await make()
        return await self._remember(key, state, new)

    async def _remember(self, key: str, state: State, new: State) -> State:
        """Write the new state's config and its cache entry (with a GC root naming what it needs)."""
        data = oci_image.canonical_json(new.config)
        new.id = "sha256:" + hashlib.sha256(data).hexdigest()
        self.b._remember_config(new.id, data)
        size = sum(int(lay.get("size", 0)) for lay in new.layers[len(state.layers):])
        saved = State(new.config, list(new.layers), new.id)  # later steps copy, never change, a state

        async def store_config() -> None:
            try:
                await self.b.cd.write_blob(data, expected=saved.id)
            except errors.AlreadyExists:
                pass

        async def store_record() -> None:
            await config
            root = await self.b.write_root(key, saved)
            self.b.cache.put(key, saved.id, saved.layers, size, root)

        config = self.b.behind(store_config(), self.b._config_writes, saved.id)
        self.b.behind(store_record(), self.b._record_writes, key)
        self.emit(f" ---> {short(new.id)}\n")
        return new

    async def _cache_sources(self) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """The ``cache_from`` images found locally: (config, layers) each; missing ones are skipped."""
        if self._sources is None:
            self._sources = []
            for ref in self.opts.cache_from:
                try:
                    img = await self.b.engine.images.get(ref)
                except errors.NotFound:
                    self.emit(f"[Warning] --cache-from {ref}: no such local image\n")
                    continue
                self._sources.append((img.config, [dict(lay) for lay in img.manifest.get("layers", [])]))
        return self._sources

    @staticmethod
    def _derived(state: State, sources: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> bool:
        """Whether ``state`` is one of the states a source image was built through: its history
        and layers begin the source's (dockerd: the cached image is a parent of a source)."""
        hist = [h.get("created_by") for h in state.config.get("history") or []]
        ids = (state.config.get("rootfs") or {}).get("diff_ids") or []
        for cfg, _ in sources:
            src_hist = [h.get("created_by") for h in cfg.get("history") or []]
            src_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
            if src_hist[:len(hist)] == hist and len(src_hist) >= len(hist) and src_ids[:len(ids)] == ids:
                return True
        return False

    async def _from_cache_images(self, state: State, created_by: str,
                                 make: Callable[[], Any] | None = None) -> State | None:
        """``--cache-from``: the classic builder's match on an image's history and layers.

        A source image matches when its history starts with the state's (same ``created_by``
        and layers) and its next entry was made by the same instruction; the next state is the
        parent's config with that history entry and, for a layer step, the source's next layer.
        A metadata step (``make`` given) is made again (no container runs for one) and keeps the
        source's timestamp.
        """
        if not self.opts.cache_from:
            return None
        hist = state.config.get("history") or []
        diff_ids = (state.config.get("rootfs") or {}).get("diff_ids") or []
        for cfg, layers in await self._cache_sources():
            src_hist = cfg.get("history") or []
            src_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
            n = len(hist)
            if len(src_hist) <= n or src_ids[:len(diff_ids)] != diff_ids:
                continue
            if [h.get("created_by") for h in src_hist[:n]] != [h.get("created_by") for h in hist]:
                continue
            h = src_hist[n]
            if h.get("created_by") != created_by:
                continue
            empty = bool(h.get("empty_layer"))
            if not empty and len(src_ids) <= len(diff_ids):
                continue
            if make is not None:
                new = await make()
            else:
                new = self._next(state, created_by, empty)
                if not empty:
                    new.layers.append(layers[len(diff_ids)])
                    new.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(
                        src_ids[len(diff_ids)])
            new.config["created"] = new.config["history"][-1]["created"] = h.get("created") or new.config["created"]
            return new
        return None

    def _next(self, state: State, created_by: str, empty: bool) -> State:
        config = copy.deepcopy(state.config)
        config["created"] = _now()
        hist = {"created": config["created"], "created_by": created_by}
        if empty:
            hist["empty_layer"] = True
        config.setdefault("history", []).append(hist)
        config.setdefault("config", {})
        return State(config, list(state.layers))

    async def _meta(self, state: State, inst: ins.Instruction, env: dict[str, str], stage: ins.Stage) -> State:
        line = inst.line
        name = inst.name
        x = lambda w: self._x(w, env, line)

        def apply(cfg: dict[str, Any]) -> str:
            if isinstance(inst, ins.KeyValues):
                pairs = [(x(k), x(v)) for k, v in inst.pairs]
                if name == "env":
                    cur = [e for e in cfg.get("Env") or []]
                    for k, v in pairs:
                        cur = [e for e in cur if e.partition("=")[0] != k] + [f"{k}={v}"]
                    cfg["Env"] = cur
                else:
                    cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(pairs)}
                return f"{name.upper()} " + " ".join(f"{k}={v}" for k, v in pairs)
            if isinstance(inst, ins.CmdLike):
                argv = list(cfg.get("Shell") or DEFAULT_SHELL) + inst.cmd if inst.shell_form else list(inst.cmd)
                if name == "cmd":
                    cfg["Cmd"] = argv
                    self._cmd_stages.add(stage.index)
                elif name == "entrypoint":
                    cfg["Entrypoint"] = argv
                    if "Cmd" in cfg and not cmd_own:
                        cfg["Cmd"] = None  # only an inherited CMD is reset, as Docker does
                else:
                    cfg["Shell"] = list(inst.cmd)
                return f"{name.upper()} {json.dumps(argv)}"
            if isinstance(inst, ins.Words):
                vals = [x(a) for a in inst.args]
                if name == "workdir":
                    wd = vals[0]
                    if not wd.startswith("/"):
                        wd = posixpath.join(cfg.get("WorkingDir") or "/", wd)
                    cfg["WorkingDir"] = posixpath.normpath(wd)
                elif name == "user":
                    cfg["User"] = vals[0]
                elif name == "stopsignal":
                    cfg["StopSignal"] = vals[0]
                elif name == "maintainer":
                    self_maint = " ".join(inst.args)
                    state_maint.append(self_maint)
                elif name == "expose":
                    ports = dict(cfg.get("ExposedPorts") or {})
                    for v in " ".join(vals).split():
                        ports[v if "/" in v else f"{v}/tcp"] = {}
                    cfg["ExposedPorts"] = ports
                elif name == "volume":
                    vols = dict(cfg.get("Volumes") or {})
                    for v in vals:
                        if not v.strip():
                            raise ParseError("VOLUME specified can not be an empty string", line, line,
                                             df_name(self.opts))
                        vols[v] = {}
                    cfg["Volumes"] = vols
                return f"{name.upper()} {' '.join(vals)}"
            if isinstance(inst, ins.Healthcheck):
                hc: dict[str, Any] = {"Test": inst.test}
                for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                                  ("start-interval", "StartInterval")):
                    if inst.flags.get(flag):
                        hc[key] = ins.parse_duration(inst.flags[flag])
                if inst.flags.get("retries"):
                    hc["Retries"] = int(inst.flags["retries"])
                cfg["Healthcheck"] = hc
                return f"HEALTHCHECK {json.dumps(hc)}"
            if isinstance(inst, ins.Onbuild):
                cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [inst.expression]
                return f"ONBUILD {inst.expression}"
            raise ParseError(f"unsupported instruction {name.upper()}", line, line, df_name(self.opts))

        cmd_own = stage.index in self._cmd_stages
        state_maint: list[str] = []

        async def make() -> State:
            new = self._next(state, "", True)
            text = apply(new.cfg)
            if state_maint:
                new.config["author"] = state_maint[0]
            new.config["history"][-1]["created_by"] = f"/bin/sh -c #(nop)  {text}"
            if name == "workdir":
                await self._workdir_layer(state, new)
            return new

        key = ["meta", inst.original.strip(), json.dumps(sorted(env.items()))]
        if name == "entrypoint":
            key.append(f"own-cmd={cmd_own}")
        elif name == "cmd":
            self._cmd_stages.add(stage.index)  # also on a cache hit, where make() does not run
        # what its history entry will say: a cache_from image's history is matched on it
        created_by = f"/bin/sh -c #(nop)  {apply(copy.deepcopy(state.cfg))}" if self.opts.cache_from else ""
        return await self._cached(state, key, make, created_by=created_by, metadata=True)

    async def _workdir_layer(self, parent: State, new: State) -> None:
        """WORKDIR makes its directory when the parent lacks it: a layer of the missing dirs."""
        wd = FileTree.norm(new.cfg.get("WorkingDir") or "/")
        tree = await self.b.tree_of(parent) if parent.layers else FileTree()
        if not wd or tree.is_dir(wd):
            return
        items: list[tuple[tarfile.TarInfo, bytes]] = []
        parts = wd.split("/")
        for i in range(1, len(parts) + 1):
            path = "/".join(parts[:i])
            if i < len(parts) and tree.is_dir(path):
                continue
            ti = tarfile.TarInfo(path)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            ti.mtime = 0
            items.append((ti, b""))
        pieces = _tar_parts(items)
        diff_id = "sha256:" + _sha256(pieces)
        layer = await self._store_layer(parent, pieces, diff_id, "WORKDIR")
        del new.config["history"][-1]["empty_layer"]
        new.layers.append(layer)
        new.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(diff_id)

    async def _store_layer(self, state: State, parts: list[Piece], diff_id: str, what: str
                           ) -> dict[str, Any]:
        """The layer descriptor of the tar ``parts`` (digest ``diff_id``) on top of ``state``.

        Build layers are plain tars, so their blob digest is their diff_id: a layer stored
        before (a rebuild, or the same files onto another parent) is reused as it is, and a
        RUN that needs its snapshot has it applied then. A new one is stored, and its snapshot
        made, while it streams to containerd."""
        size = await self.b.blob_size(diff_id)
        if size is not None:
            return {"mediaType": oci_image.MEDIA_TYPE_OCI_LAYER, "digest": diff_id, "size": size}
        parent = await self.b.ensure_snapshot(state)
        resp = await self.b.cd.import_layer(_chunks(parts), unpack_onto=parent, compression=LAYER_COMPRESSION,
                                            behind=True)
        if resp.diff_id != diff_id:
            raise errors.Internal(f"{what}: the stored layer {resp.diff_id} is not the planned {diff_id}")
        return {"mediaType": resp.layer.media_type, "digest": resp.layer.digest, "size": resp.layer.size}

    async def _chown_ids(self, state: State, chown: str, line: int) -> tuple[int, int]:
        """``--chown=user[:group]``: numbers as given, names from the state's /etc/passwd and
        /etc/group (read from its layer blobs through containerd, never from a mount)."""
        user, _, group = chown.partition(":")
        tree: FileTree | None = None

        async def table(path: str) -> list[list[str]]:
            nonlocal tree
            if tree is None:
                tree = await self.b.tree_of(state) if state.layers else FileTree()
            e = tree.entries.get(tree.resolve(path))
            text = read_payload(e.data, 1 << 20).decode("utf-8", "replace") if e is not None else ""
            return [ln.split(":") for ln in text.splitlines() if ln and not ln.startswith("#")]

        def fail(what: str) -> BuildFailed:
            return BuildFailed(f"{df_name(self.opts)}:{line}: --chown={chown}: unable to find {what}")

        if user.isdigit():
            uid, primary = int(user), int(user)
        else:
            row = next((r for r in await table("etc/passwd") if r[0] == user and len(r) > 3), None)
            if row is None:
                raise fail(f"user {user}: no matching entries in passwd file")
            uid, primary = int(row[2]), int(row[3])
        if not group:
            return uid, primary
        if group.isdigit():
            return uid, int(group)
        grow = next((r for r in await table("etc/group") if r[0] == group and len(r) > 2), None)
        if grow is None:
            raise fail(f"group {group}: no matching entries in group file")
        return uid, int(grow[2])

    async def _run(self, state: State, inst: ins.Run, env: dict[str, str], args: dict[str, str]) -> State:
        from dockyard.builder.mounts import parse_mount

        line = inst.line
        mounts = []
        for raw in inst.flags.get("mount") or []:
            try:
                mounts.append(parse_mount(self._x(raw, env, line)))
            except (errors.InvalidArgument, ValueError) as err:
                raise BuildFailed(f"{df_name(self.opts)}:{line}: --mount={raw}: {err}") from None
        flag = inst.flags.get("network") or "default"
        if flag not in ("default", "none", "host"):
            raise BuildFailed(f"{df_name(self.opts)}:{line}: --network={flag}: expected none, host or default")
        network = flag if flag != "default" else self.opts.network_mode
        sources: dict[int, tuple[FileTree, str]] = {}
        mount_keys = []
        for i, m in enumerate(mounts):
            k = m.key()
            if m.type == "bind":
                if m.from_:
                    st = self.df.stage(m.from_)
                    tree = await self.b.tree_of(await self.results[st.index] if st is not None
                                                else await self._base_image(m.from_))
                else:
                    tree = self.ctx
                if not tree.exists(m.source):
                    raise BuildFailed(f"{df_name(self.opts)}:{line}: --mount: source {m.source or '/'} not found")
                sources[i] = (tree, m.source)
                k += "," + tree_digest(tree, m.source)
            mount_keys.append(k)
        shell = list(state.cfg.get("Shell") or DEFAULT_SHELL)
        if inst.heredocs and inst.shell_form:
            doc = inst.heredocs[0]
            body = doc.content  # the shell itself expands it, as BuildKit does for RUN heredocs
            argv = shell + [inst.cmd[0].split("<<", 1)[0] + "<<'" + doc.name + "'\n" + body + doc.name] \
                if inst.cmd[0].split("<<", 1)[0].strip() else shell + [body]
        else:
            argv = shell + inst.cmd if inst.shell_form else list(inst.cmd)
        image_env = list(state.cfg.get("Env") or [])
        declared = {k for k in args if not any(e.startswith(k + "=") for e in image_env)}
        arg_env = [f"{k}={args[k]}" for k in sorted(declared)]
        run_env = arg_env + image_env
        created_by = ("|" + str(len(arg_env)) + " " + " ".join(arg_env) + " " if arg_env else "") + \
            " ".join(argv)

        async def make() -> State:
            key, code, made = await self.b.run_container(state, argv, run_env, self.emit, network=network,
                                                         mounts=mounts, sources=sources, secrets=self.secrets,
                                                         then=self.b.commit_snapshot,
                                                         extra_hosts=self.opts.extra_hosts)
            try:
                if code != 0:
                    raise BuildFailed(f"The command '{' '.join(argv)}' returned a non-zero code: {code}", code)
                layer, diff_id = made
            except BaseException:
                await self.b._drop(key)
                raise
            new = self._next(state, created_by, False)
            new.layers.append(layer)
            new.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(diff_id)
            chain = new.chain_id
            try:
                await self.b.cd.snapshots.Commit(pb.CommitSnapshotRequest(name=chain, key=key))
            except errors.AlreadyExists:
                self.b.behind(self.b._drop(key))  # the same change was made before: nothing waits for the removal
            except errors.DockyardError:
                await self.b._drop(key)
            return new

        key = ["run", json.dumps(argv), json.dumps(run_env)]
        if mounts or flag != "default":
            key += [f"network={flag}", *mount_keys]
        return await self._cached(state, key, make, created_by=created_by)

    async def _copy(self, state: State, inst: ins.Copy, env: dict[str, str]) -> State:
        line = inst.line
        x = lambda w: self._x(w, env, line)
        name = inst.name.upper()
        src_tree = self.ctx
        from_ref = inst.flags.get("from")
        if from_ref:
            ref = x(from_ref)
            st = self.df.stage(ref)
            if st is not None:
                src_tree = await self.b.tree_of(await self.results[st.index])
            else:
                src_tree = await self.b.tree_of(await self._base_image(ref))
        sources = [x(s) for s in inst.sources]
        for s in sources:
            if "://" in s:
                if inst.name == "add":
                    raise BuildFailed(f"{df_name(self.opts)}:{line}: ADD {s}: remote URLs need network access, "
                                      "which this builder does not have")
                raise BuildFailed(f"{df_name(self.opts)}:{line}: COPY does not take URLs: {s}")
        dest = x(inst.dest)
        wd = state.cfg.get("WorkingDir") or "/"
        dest_dir_hint = dest.endswith("/") or dest in (".", "")
        dest_abs = posixpath.normpath(posixpath.join(wd, dest)).lstrip("/")
        chown = x(inst.flags["chown"]) if inst.flags.get("chown") else ""
        uid = gid = None
        if chown:
            uid, gid = await self._chown_ids(state, chown, line)
        chmod = int(inst.flags["chmod"], 8) if inst.flags.get("chmod") else None
        excludes = [x(e) for e in inst.flags.get("exclude") or []]
        parents = bool(inst.flags.get("parents"))
        matches: list[str] = []
        for s in sources:
            found = src_tree.glob(s)
            if not found:
                raise BuildFailed(f"{name} failed: file not found in build context or excluded by .dockerignore: "
                                  f"stat {s}: file does not exist")
            matches += found
        heredoc_files = [(h.name, h.content) for h in inst.heredocs]
        multi = len(matches) + len(heredoc_files) > 1 or any(c in "".join(sources) for c in "*?[")
        parent_tree = await self.b.tree_of(state) if state.layers and not dest_dir_hint else None
        dest_is_dir = dest_dir_hint or multi or (parent_tree is not None and parent_tree.is_dir(dest_abs))

        from dockyard.builder.dockerignore import Matcher

        exclude = Matcher.from_text("\n".join(excludes)) if excludes else None
        # The layer's members are planned first and hashed (paths, metadata, bytes) for the cache
        # key; the tar itself is written only on a miss, so a cached COPY costs a hash.
        items: list[tuple[tarfile.TarInfo, Payload]] = []
        idents: list[str] = []  # per item: what names its bytes without reading them ("" if nothing)

        def add(info: tarfile.TarInfo, data: Payload, path: str, ident: str = "") -> None:
            idents.append(ident if info.isreg() else "")
            ti = copy.copy(info)
            ti.name = path
            ti.pax_headers = {}
            if from_ref is None:
                ti.uid, ti.gid = 0, 0
            if uid is not None:
                ti.uid, ti.gid = uid, gid if gid is not None else uid
            ti.uname = ti.gname = ""
            if chmod is not None and not ti.issym():
                ti.mode = chmod
            items.append((ti, data if ti.isreg() else b""))

        for h_name, content in heredoc_files:
            target = posixpath.join(dest_abs, h_name) if dest_is_dir else dest_abs
            ti = tarfile.TarInfo(target)
            ti.size = len(content.encode())
            ti.mode = 0o644
            ti.mtime = 0
            add(ti, content.encode(), target)
        for m in matches:
            rel_root = src_tree.resolve(src_tree.norm(m))
            entries = src_tree.walk(m)
            root_entry = src_tree.entries.get(rel_root)
            is_dir = root_entry is None or root_entry.info.isdir()
            for e in entries:
                rel = e.info.name
                if exclude is not None and exclude.excluded(rel):
                    continue
                if is_dir:
                    sub = rel[len(rel_root):].lstrip("/") if rel_root else rel
                    if not sub:
                        continue  # the directory itself: its contents go to dest
                    base = posixpath.join(dest_abs, posixpath.dirname(m)) if parents else dest_abs
                    path = posixpath.join(base, posixpath.basename(m.rstrip("/")), sub) \
                        if parents and m else posixpath.join(base, sub)
                else:
                    if inst.name == "add" and from_ref is None and e.info.isreg() and is_archive(e.data):
                        await asyncio.to_thread(self._untar_into, items, e.data, dest_abs, self.ctx.store)
                        idents += [""] * (len(items) - len(idents))  # unpacked members: known by their bytes
                        continue
                    if parents:
                        path = posixpath.join(dest_abs, rel)
                    elif dest_is_dir:
                        path = posixpath.join(dest_abs, posixpath.basename(rel))
                    else:
                        path = dest_abs
                add(e.info, e.data, path, e.ident)
        # The layer tar is planned as pieces (headers, the files' bytes, padding) and hashed
        # without being joined: its digest is both the cache key's content part and, as build
        # layers are stored uncompressed, the layer's diff_id and blob digest. The tar is fixed
        # by its members' metadata and bytes; a big file's bytes are named by its ident (where
        # it came in), so the same members give the digest computed before without reading them.
        memo = hashlib.sha256(b"copy-layer\0")
        for (ti, data), ident in zip(items, idents):
            memo.update(f"{ti.name}\0{ti.type!r}\0{ti.mode}\0{ti.uid}\0{ti.gid}\0{ti.mtime}\0{ti.size}\0"
                        f"{ti.linkname}\0{ti.devmajor}\0{ti.devminor}\0{ident}\0".encode())
            if not ident:
                for piece in payload_chunks(data):
                    memo.update(piece)  # generated or unpacked files: their bytes are their name
        memo_key = memo.hexdigest()
        parts: list[bytes | memoryview | OnDisk] | None = None
        content_digest = self.b.copy_digests.get(memo_key, "")
        if not content_digest:
            parts = _tar_parts(items)
            content_digest = await asyncio.to_thread(_sha256, parts)
            if len(self.b.copy_digests) > 4096:
                self.b.copy_digests.clear()
            self.b.copy_digests[memo_key] = content_digest
        diff_id = "sha256:" + content_digest
        created_by = f"/bin/sh -c #(nop) {name} {'dir' if multi else 'file'}:{content_digest} in {dest} "

        async def make() -> State:
            new = self._next(state, created_by, False)
            new.layers.append(await self._store_layer(state, parts or _tar_parts(items), diff_id, name))
            new.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(diff_id)
            return new

        return await self._cached(state, ["copy", inst.original.strip(), dest, content_digest], make,
                                  created_by=created_by)

    @staticmethod
    def _untar_into(items: list[tuple[tarfile.TarInfo, Payload]], data: Payload, dest: str,
                    store: ContextDir | None) -> None:
        """The members of an ADDed archive, read as a stream: big files are written to the
        context's directory (``store``), not held in memory."""
        with open_payload(data) as f, tarfile.open(fileobj=f, mode="r|*") as inner:
            for m in inner:
                name = FileTree.norm(m.name)
                if not name:
                    continue
                if posixpath.basename(name).startswith(".wh."):  # a layer would read it as a deletion
                    raise BuildFailed(f"ADD: archive member {m.name!r}: a whiteout name cannot be stored in a layer")
                payload: Payload = b""
                if m.isreg():
                    payload = _spooled(inner.extractfile(m), m.size, store)  # type: ignore[arg-type]
                if m.islnk():
                    m = copy.copy(m)
                    m.linkname = posixpath.join(dest, FileTree.norm(m.linkname))
                items.append((_renamed(copy.copy(m), posixpath.join(dest, name)), payload))


def _spooled(f: io.BufferedReader, size: int, store: ContextDir | None) -> Payload:
    """A member's bytes: in memory when small (or when there is no directory to put them in)."""
    if size < (1 << 16) or store is None:
        return f.read()
    fd, path = store.create()
    try:
        while chunk := f.read(1 << 20):
            os.write(fd, chunk)  # a regular file: writes are whole
    finally:
        os.close(fd)
    store.size += size
    return OnDisk(path, size)


Piece = bytes | memoryview | OnDisk


def _tar_parts(items: Sequence[tuple[tarfile.TarInfo, Payload]]) -> list[Piece]:
    """The bytes ``tarfile`` would write for ``items`` (pax format), as pieces: headers, each
    file's bytes (not copied: a view, or the file on disk), padding, the end blocks and the
    record padding."""
    parts: list[Piece] = []
    total = 0
    for ti, data in items:
        header = ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        parts.append(header)
        total += len(header)
        if ti.isreg() and ti.size:
            body: Piece = data if isinstance(data, OnDisk) else memoryview(data)[:ti.size]
            parts.append(body)
            pad = -len(body) % tarfile.BLOCKSIZE
            if pad:
                parts.append(bytes(pad))
            total += len(body) + pad
    end = 2 * tarfile.BLOCKSIZE
    end += -(total + end) % tarfile.RECORDSIZE
    parts.append(bytes(end))
    return parts


def _sha256(parts: list[Piece]) -> str:
    """The hex sha256 of the pieces as if joined (they are not)."""
    h = hashlib.sha256()
    for piece in parts:
        for chunk in payload_chunks(piece):
            h.update(chunk)
    return h.hexdigest()


def _chunks(parts: list[Piece], size: int = 1 << 20) -> Iterator[bytes]:
    """``parts`` regrouped into messages of about ``size`` bytes (each piece copied once)."""
    buf = bytearray()
    for part in parts:
        for piece in payload_chunks(part):
            view = memoryview(piece)
            while view:
                take = view[:size - len(buf)]
                buf += take
                view = view[len(take):]
                if len(buf) >= size:
                    yield bytes(buf)
                    buf.clear()
    if buf:
        yield bytes(buf)


def _renamed(ti: tarfile.TarInfo, name: str) -> tarfile.TarInfo:
    ti.name = name
    ti.pax_headers = {}
    return ti


def tree_digest(tree: FileTree, root: str) -> str:
    """The contents and metadata under ``root``: a bind mount's part of a RUN's cache key."""
    h = hashlib.sha256()
    for e in tree.walk(root):
        i = e.info
        h.update(f"{i.name}\0{i.mode}\0{i.uid}\0{i.gid}\0{i.type!r}\0{i.linkname}\0{len(e.data)}\0".encode())
        for piece in payload_chunks(e.data):
            h.update(piece)
    return h.hexdigest()


def short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def df_name(opts: BuildOptions) -> str:
    return opts.dockerfile or "Dockerfile"


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
    from dockyard.engine.images import rfc3339

    return rfc3339(t * 1e9)


def open_cache(data_root: Path) -> BuildCache:
    return BuildCache(data_root / "builder" / "cache.db")


__all__ = ["BuildFailed", "BuildOptions", "Builder", "State", "open_cache", "os", "time"]
