import gzip
import io
import tarfile
from pathlib import Path

import pytest
import zstandard
from layertar import d, f, make_tar

from dockyard.containerd.content import LocalContentStore
from dockyard.containerd.diff import LABEL_UNCOMPRESSED, decompress_stream, detect, write_layer
from dockyard.errors import InvalidArgument
from dockyard.oci import image as oci
from dockyard.oci.digest import sha256_digest

TAR = make_tar([d("etc"), f("etc/hello", b"hello world\n" * 1000)])


def test_detect() -> None:
    assert detect(gzip.compress(b"x")) == "gzip"
    assert detect(zstandard.ZstdCompressor().compress(b"x")) == "zstd"
    assert detect(TAR) == "none"
    assert detect(b"") == "none"
    stream = io.BufferedReader(io.BytesIO(gzip.compress(b"x")))  # type: ignore[arg-type]
    assert detect(stream) == "gzip" and stream.read(2) == b"\x1f\x8b"  # not consumed


@pytest.mark.parametrize(
    "blob",
    [gzip.compress(TAR), gzip.compress(TAR[:5000]) + gzip.compress(TAR[5000:]), zstandard.ZstdCompressor().compress(TAR), TAR],
    ids=["gzip", "gzip-multimember", "zstd", "plain"],
)
def test_decompress_stream(blob: bytes) -> None:
    out = decompress_stream(io.BytesIO(blob))
    got = b"".join(iter(lambda: out.read(4096), b""))
    assert got == TAR


@pytest.fixture
def store(tmp_path: Path) -> LocalContentStore:
    return LocalContentStore(tmp_path / "content")


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_write_layer_deterministic_and_diff_id(store: LocalContentStore, compression: str) -> None:
    desc1, diff1 = write_layer(io.BytesIO(TAR), store, compression)
    desc2, diff2 = write_layer(io.BytesIO(TAR), store, compression)
    assert desc1 == desc2 and diff1 == diff2 == sha256_digest(TAR)
    blob = store.read_all(desc1.digest)
    assert sha256_digest(blob) == desc1.digest and len(blob) == desc1.size
    assert decompress_stream(io.BytesIO(blob)).read() == TAR
    assert store.info(desc1.digest).labels[LABEL_UNCOMPRESSED] == diff1
    assert desc1.media_type == {"gzip": oci.MEDIA_TYPE_OCI_LAYER_GZIP, "zstd": oci.MEDIA_TYPE_OCI_LAYER_ZSTD, "none": oci.MEDIA_TYPE_OCI_LAYER}[compression]
    if compression == "none":
        assert desc1.digest == diff1
    assert store.list_ingests() == []


def test_write_layer_gzip_header_has_no_mtime(store: LocalContentStore) -> None:
    desc, _ = write_layer(io.BytesIO(TAR), store)
    assert store.read_all(desc.digest)[4:8] == b"\0\0\0\0"


def test_write_layer_rejects_unknown_compression(store: LocalContentStore) -> None:
    with pytest.raises(InvalidArgument):
        write_layer(io.BytesIO(TAR), store, "lz4")


def test_layer_tar_is_valid(store: LocalContentStore) -> None:
    desc, _ = write_layer(io.BytesIO(TAR), store)
    with tarfile.open(fileobj=decompress_stream(store.open(desc.digest)), mode="r|") as tf:
        assert [m.name for m in tf] == ["etc", "etc/hello"]
