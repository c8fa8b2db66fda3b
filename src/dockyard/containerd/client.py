"""The async client of dockyard-containerd, as the engine and tools use it.

It hides the generated stubs behind plain methods, sends the namespace with
every call, and turns gRPC status codes back into ``dockyard.errors`` kinds,
so callers never see gRPC.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc

from dockyard import errors
from dockyard.api import pb, rpc
from dockyard.containerd.namespaces import METADATA_KEY

# A blob with this label is a root of containerd's garbage collection (``containerd.gc``): what it
# names stays (the builder's cache entries are such blobs).
LABEL_GC_ROOT = "containerd.io/gc.root"

KINDS: dict[grpc.StatusCode, type[errors.DockyardError]] = {
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.ABORTED: errors.Conflict,
    grpc.StatusCode.UNAVAILABLE: errors.Unavailable,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
    grpc.StatusCode.UNIMPLEMENTED: errors.NotImplementedYet,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
}


def translate(err: grpc.aio.AioRpcError) -> errors.DockyardError:
    return KINDS.get(err.code(), errors.Internal)(err.details() or str(err.code()))


# How long a call waits for containerd to come back (a supervisor restarts it in about a second)
# before it fails as Unavailable.
RECONNECT_WAIT = 15.0


async def connected(channel: grpc.aio.Channel, timeout: float | None = RECONNECT_WAIT) -> bool:
    """Wait until the channel is connected (or ``timeout`` passed); at once when it is."""
    if channel.get_state() == grpc.ChannelConnectivity.READY:
        return True
    try:
        await asyncio.wait_for(channel.channel_ready(), timeout)
    except TimeoutError:
        return False
    return True


class _Translating:
    """Wraps a stub so every unary call raises ``dockyard.errors`` instead of gRPC errors, and
    waits for a containerd that is being restarted instead of failing at once."""

    def __init__(self, stub: Any, metadata: tuple[tuple[str, str], ...], channel: grpc.aio.Channel) -> None:
        self._stub = stub
        self._metadata = metadata
        self._channel = channel

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)

        async def call(request: Any, timeout: float | None = None) -> Any:
            await connected(self._channel)
            try:
                return await method(request, metadata=self._metadata, timeout=timeout)
            except grpc.aio.AioRpcError as err:
                raise translate(err) from None

        return call


class ContainerdClient:
    def __init__(self, address: str, namespace: str = "default") -> None:
        self.address = address
        self.channel = grpc.aio.insecure_channel(
            f"unix://{address}",
            options=[("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20),
                     # a restarted containerd is found again within ~0.5 s, not after gRPC's 1-120 s backoff
                     ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
                     ("grpc.max_reconnect_backoff_ms", 500)])
        self.metadata = ((METADATA_KEY, namespace),)
        self.content = _Translating(rpc.ContentStub(self.channel), self.metadata, self.channel)
        self.images = _Translating(rpc.ImagesStub(self.channel), self.metadata, self.channel)
        self.snapshots = _Translating(rpc.SnapshotsStub(self.channel), self.metadata, self.channel)
        self.containers = _Translating(rpc.ContainersStub(self.channel), self.metadata, self.channel)
        self.tasks = _Translating(rpc.TasksStub(self.channel), self.metadata, self.channel)
        self.version = _Translating(rpc.VersionStub(self.channel), self.metadata, self.channel)
        self.leases = _Translating(rpc.LeasesStub(self.channel), self.metadata, self.channel)
        self._content_stub = rpc.ContentStub(self.channel)
        self._diff_stub = rpc.DiffStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    def is_connected(self) -> bool:
        return bool(self.channel.get_state() == grpc.ChannelConnectivity.READY)

    async def connected(self, timeout: float | None = RECONNECT_WAIT) -> bool:
        """Wait for containerd to answer again (after a restart); False if it did not within ``timeout``."""
        return await connected(self.channel, timeout)

    async def read_blob(self, digest: str) -> bytes:
        parts = []
        try:
            async for resp in self._content_stub.Read(pb.ReadContentRequest(digest=digest), metadata=self.metadata):
                parts.append(resp.data)
        except grpc.aio.AioRpcError as err:
            raise translate(err) from None
        return b"".join(parts)

    async def write_blob(self, data: bytes, expected: str = "", labels: dict[str, str] | None = None) -> pb.ContentInfo:
        async def requests() -> AsyncIterator[pb.WriteContentRequest]:
            yield pb.WriteContentRequest(expected=expected, total=len(data), labels=labels or {})
            for i in range(0, len(data), 1 << 20):
                yield pb.WriteContentRequest(data=data[i:i + (1 << 20)])

        try:
            out: pb.ContentInfo = await self._content_stub.Write(requests(), metadata=self.metadata)
            return out
        except grpc.aio.AioRpcError as err:
            raise translate(err) from None

    async def import_layer(self, chunks: AsyncIterator[bytes] | Iterable[bytes],
                           unpack_onto: str | None = None, compression: str = "gzip",
                           behind: bool = False) -> pb.ImportLayerResponse:
        """Store a layer; with ``unpack_onto`` (a committed ChainID, "" for none) also make its
        snapshot while it streams (the reply's ``snapshot``; "" if that was not possible)."""
        async def requests() -> AsyncIterator[pb.ImportLayerRequest]:
            first = pb.ImportLayerRequest(unpack=unpack_onto is not None, parent=unpack_onto or "",
                                          compression=compression, behind=behind)
            if hasattr(chunks, "__aiter__"):
                async for c in chunks:
                    first.data = c
                    yield first
                    first = pb.ImportLayerRequest()
            else:
                for c in chunks:
                    first.data = c
                    yield first
                    first = pb.ImportLayerRequest()

        try:
            out: pb.ImportLayerResponse = await self._diff_stub.ImportLayer(requests(), metadata=self.metadata)
            return out
        except grpc.aio.AioRpcError as err:
            raise translate(err) from None

    # -- transfer, gc, layers (images side) -------------------------------------

    async def _stream(self, call: Any) -> AsyncIterator[Any]:
        try:
            async for msg in call:
                yield msg
        except grpc.aio.AioRpcError as err:
            raise translate(err) from None

    def pull(self, ref: str, platform: str = "", options: pb.RegistryOptions | None = None,
             unpack: bool = True, dangling_prefix: str = "") -> AsyncIterator[pb.Progress]:
        """Stream the Progress of a pull; the last message has status "Done" and the target."""
        stub = rpc.TransferStub(self.channel)
        req = pb.PullRequest(reference=ref, platform=platform, options=options, unpack=unpack,
                             dangling_prefix=dangling_prefix)
        return self._stream(stub.Pull(req, metadata=self.metadata))

    def push(self, name: str, ref: str = "", options: pb.RegistryOptions | None = None
             ) -> AsyncIterator[pb.Progress]:
        stub = rpc.TransferStub(self.channel)
        return self._stream(stub.Push(pb.PushRequest(name=name, reference=ref, options=options),
                                      metadata=self.metadata))

    async def login(self, server: str, options: pb.RegistryOptions) -> pb.LoginResponse:
        out: pb.LoginResponse = await _Translating(rpc.TransferStub(self.channel), self.metadata, self.channel).Login(
            pb.LoginRequest(server=server, options=options))
        return out

    async def resolve(self, ref: str, options: pb.RegistryOptions) -> pb.ResolveResponse:
        out: pb.ResolveResponse = await _Translating(rpc.TransferStub(self.channel), self.metadata, self.channel).Resolve(
            pb.ResolveRequest(reference=ref, options=options))
        return out

    async def search(self, registry: str, term: str, limit: int, options: pb.RegistryOptions) -> pb.SearchResponse:
        out: pb.SearchResponse = await _Translating(rpc.TransferStub(self.channel), self.metadata, self.channel).Search(
            pb.SearchRequest(registry=registry, term=term, limit=limit, options=options))
        return out

    def export(self, names: list[str], platform: str = "") -> AsyncIterator[bytes]:
        stub = rpc.TransferStub(self.channel)

        async def chunks() -> AsyncIterator[bytes]:
            async for c in self._stream(stub.Export(pb.ExportRequest(names=names, platform=platform),
                                                    metadata=self.metadata)):
                yield c.data

        return chunks()

    async def import_archive(self, chunks: AsyncIterator[bytes], platform: str = "", unpack: bool = True,
                             dangling_prefix: str = "") -> pb.ImportResponse:
        async def requests() -> AsyncIterator[pb.ImportChunk]:
            yield pb.ImportChunk(platform=platform, unpack=unpack, dangling_prefix=dangling_prefix)
            async for c in chunks:
                yield pb.ImportChunk(data=c)

        try:
            out: pb.ImportResponse = await rpc.TransferStub(self.channel).Import(requests(), metadata=self.metadata)
            return out
        except grpc.aio.AioRpcError as err:
            raise translate(err) from None

    async def create_layer(self, snapshot_key: str, compression: str = "gzip",
                           exclude: Iterable[str] = (), behind: bool = False) -> pb.ImportLayerResponse:
        out: pb.ImportLayerResponse = await _Translating(self._diff_stub, self.metadata, self.channel).CreateLayer(
            pb.CreateLayerRequest(snapshot_key=snapshot_key, compression=compression, exclude=list(exclude),
                                  behind=behind))
        return out

    async def apply_layer(self, layer: dict[str, Any], diff_id: str, parent: str) -> str:
        """The snapshot (ChainID) of the stored ``layer`` applied onto the committed ``parent``."""
        desc = pb.Descriptor(media_type=layer["mediaType"], digest=layer["digest"], size=int(layer["size"]))
        resp = await _Translating(self._diff_stub, self.metadata, self.channel).ApplyLayer(
            pb.ApplyLayerRequest(layer=desc, diff_id=diff_id, parent=parent))
        return str(resp.snapshot)

    async def gc(self, dry_run: bool = False) -> pb.CollectResponse:
        out: pb.CollectResponse = await _Translating(rpc.GCStub(self.channel), self.metadata, self.channel).Collect(
            pb.CollectRequest(dry_run=dry_run))
        return out

    async def fsck(self, repair: bool = False) -> pb.FsckResponse:
        out: pb.FsckResponse = await _Translating(rpc.GCStub(self.channel), self.metadata, self.channel).Fsck(
            pb.FsckRequest(repair=repair))
        return out

    # -- files of a snapshot (containerd mounts it; the engine never reads a snapshotter's directories) --

    async def read_snapshot_files(self, key: str, paths: Iterable[str]) -> dict[str, bytes]:
        """Small regular files of snapshot ``key`` as a container on it sees them; absent ones left out."""
        resp = await self.snapshots.ReadFiles(pb.ReadFilesRequest(key=key, paths=list(paths)))
        return dict(resp.files)

    def snapshot_archive(self, key: str, path: str) -> AsyncIterator[bytes]:
        """A tar of ``path`` of snapshot ``key``, named as ``docker cp`` names it."""
        stub = rpc.SnapshotsStub(self.channel)

        async def chunks() -> AsyncIterator[bytes]:
            await connected(self.channel)
            async for c in self._stream(stub.Archive(pb.SnapshotPathRequest(key=key, path=path),
                                                     metadata=self.metadata)):
                yield c.data

        return chunks()
