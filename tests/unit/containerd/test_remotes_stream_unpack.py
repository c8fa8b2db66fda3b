"""Extraction while downloading: the extractor follows the ingest and commits only verified bytes."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.containerd.content.local import LocalContentStore
from dockyard.containerd.diff.apply import HashingReader
from dockyard.containerd.diff.compression import decompress_stream
from dockyard.containerd.remotes.pull import Lease, pull
from dockyard.containerd.remotes.tail import Tail
from dockyard.oci import image as oci
from dockyard.oci.reference import parse
from dockyard.types import Descriptor


def _layer(seed: int) -> tuple[bytes, str]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = bytes([seed]) * 300_000 + hashlib.sha256(bytes([seed])).digest() * 1000
        ti = tarfile.TarInfo(f"f{seed}")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0), "sha256:" + hashlib.sha256(raw).hexdigest()


class _Resp:
    def __init__(self, data: bytes) -> None:
        self.status = 200
        self._data = data
        self.content = self

    async def iter_any(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self._data), 1 << 18):
            await asyncio.sleep(0)  # let the extractor run between chunks
            yield self._data[i:i + (1 << 18)]

    def release(self) -> None:
        pass


class _Repo:
    """What pull() needs of a Repository: a manifest and blobs, some of them corrupt."""

    def __init__(self, blobs: dict[str, bytes], manifest: bytes, corrupt: set[str]) -> None:
        self.ref = parse("127.0.0.1:5000/t/img:1")
        self.endpoint = type("E", (), {"host": "127.0.0.1:5000"})()
        self.blobs, self.manifest, self.corrupt = blobs, manifest, corrupt

    async def get_manifest(self, ref: str, hint: str = "") -> tuple[Descriptor, bytes]:
        return oci.descriptor_for(oci.MEDIA_TYPE_OCI_MANIFEST, self.manifest), self.manifest

    async def open_blob(self, digest: str, offset: int = 0) -> _Resp:
        data = self.blobs[digest]
        if digest in self.corrupt:
            data = data[:-40] + b"\0" * 40  # same size, wrong bytes: only the digest can tell
        return _Resp(data[offset:])


def _image(n: int) -> tuple[dict[str, bytes], bytes, list[str], list[str]]:
    blobs, layers, diff_ids = {}, [], []
    for i in range(n):
        gz, diff_id = _layer(i + 1)
        d = oci.descriptor_for(oci.MEDIA_TYPE_OCI_LAYER_GZIP, gz)
        blobs[d.digest] = gz
        layers.append(d)
        diff_ids.append(diff_id)
    cfg = oci.make_config(diff_ids, architecture="amd64")
    cd = oci.descriptor_for(oci.MEDIA_TYPE_OCI_CONFIG, cfg)
    blobs[cd.digest] = cfg
    return blobs, oci.make_manifest(cd, layers), [x.digest for x in layers], diff_ids


def _run(tmp_path: Path, corrupt: bool) -> tuple[list[tuple[str, str, bool]], Any]:
    blobs, manifest, layer_digests, diff_ids = _image(3)
    store = LocalContentStore(tmp_path / "content")
    committed: list[tuple[str, str, bool]] = []

    def unpack_layer(layer: Descriptor, diff_id: str, chain: str, parent: str, check: bool,
                     tail: Tail | None = None) -> bool:
        if check:
            return False
        src = tail.reader() if tail is not None else store.open(layer.digest)
        with src:
            r = HashingReader(decompress_stream(src))  # type: ignore[arg-type]
            r.drain()
        if tail is not None:
            tail.wait_verified()  # as images/unpack.py does before it commits the snapshot
        committed.append((layer.digest, r.digester.digest(), tail is not None))
        return True

    repo = _Repo(blobs, manifest, {layer_digests[1]} if corrupt else set())
    try:
        result: Any = asyncio.run(pull(store, repo, None, lambda e: None, Lease(), unpack_layer))  # type: ignore[arg-type]
    except errors.DockyardError as err:
        result = err
    finally:
        store.close()
    return committed, (result, layer_digests, diff_ids)


def test_stream_unpack_extracts_while_downloading(tmp_path: Path) -> None:
    committed, (result, layer_digests, diff_ids) = _run(tmp_path, corrupt=False)
    assert not isinstance(result, Exception)
    assert [(d, i) for d, i, _ in committed] == list(zip(layer_digests, diff_ids))
    assert all(streamed for _, _, streamed in committed)


def test_stream_unpack_never_commits_unverified_bytes(tmp_path: Path) -> None:
    committed, (result, layer_digests, _) = _run(tmp_path, corrupt=True)
    assert isinstance(result, errors.FailedPrecondition) and "digest" in str(result)
    assert layer_digests[1] not in [d for d, _, _ in committed]
    assert not (tmp_path / "content" / "blobs" / "sha256" / layer_digests[1].split(":")[1]).exists()
