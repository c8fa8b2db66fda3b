"""``docker import`` bodies (``POST /images/create?fromSrc=-``): a tar, plain or compressed with gzip,
bzip2, xz or zstd (dockerd decompresses it), becomes an image; a body that is no tar, a compressed stream
that is corrupt, cut short or followed by garbage, and a tar cut short are a 400 and leave no image."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from tests.conftest import Daemon
from tests.httpcall import call

pytestmark = pytest.mark.root


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}


def _images(d: Daemon) -> list[str]:
    return sorted(row["Id"] for row in call(d, "GET", "/v1.47/images/json?all=1")[1])


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_a_compressed_tar_is_imported_decompressed(daemon: Daemon, busybox_tar: Path, kind: str) -> None:
    name = f"imp-{kind}-{uuid.uuid4().hex[:6]}"
    status, answer = call(daemon, "POST", f"/v1.47/images/create?fromSrc=-&repo={name}",
                          raw=COMPRESSORS[kind](busybox_tar.read_bytes()))
    try:
        assert status == 200, answer
        r = daemon.cli("run", "--rm", name, "sh", "-c", "echo imported")
        assert r.stdout == b"imported\n", r.stderr.decode()
        layers = json.loads(daemon.cli("image", "inspect", name).stdout)[0]["RootFS"]["Layers"]
        plain = call(daemon, "GET", "/v1.47/images/busybox/json")[1]["RootFS"]["Layers"]
        assert layers == plain  # the diff_id is the tar's, not the compressed bytes'
    finally:
        daemon.cli("rmi", name)


def _garbled() -> dict[str, bytes]:
    tar = _tar({"hello.txt": b"hi\n" * 1000, "other.txt": os.urandom(30000)})
    gz = gzip.compress(tar)
    return {
        "gzip-magic-then-random": b"\x1f\x8b\x08\x00" + os.urandom(3000),
        "gzip-of-text": gzip.compress(b"hello, not a tar\n" * 10),
        "gzip-cut-short": gz[:len(gz) // 2],
        "gzip-then-garbage": gz + b"garbage after the stream",
        "xz-cut-short": lzma.compress(tar)[:2000],
        "tar-cut-short": tar[:len(tar) // 2],
        "random": os.urandom(5000),
    }


@pytest.mark.parametrize("case", sorted(_garbled()))
def test_a_garbled_body_is_a_400_and_leaves_no_image(daemon: Daemon, case: str) -> None:
    before = _images(daemon)
    status, answer = call(daemon, "POST", "/v1.47/images/create?fromSrc=-&repo=garbled", raw=_garbled()[case])
    assert status == 400, answer
    assert answer["message"].startswith(("archive:", "apply layer:")), answer
    assert _images(daemon) == before
    assert daemon.cli("image", "inspect", "garbled").returncode != 0
