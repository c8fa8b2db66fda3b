"""Crash and concurrency: no partial blob ever visible, concurrent pushes stay consistent."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "registry"))
from dockyard_regkit import Server, sha


def _blobs_verified(root: Path) -> list[str]:
    """Every published blob's bytes hash to its name; returns the digests."""
    out = []
    for f in sorted((root / "content" / "blobs" / "sha256").iterdir()):
        assert hashlib.sha256(f.read_bytes()).hexdigest() == f.name, f"corrupt blob {f}"
        out.append("sha256:" + f.name)
    return out


def test_kill9_during_20_uploads_leaves_no_partial_blob(tmp_path: Path) -> None:
    s = Server(tmp_path / "root").start()
    payloads = [os.urandom(1 << 20) * 4 for _ in range(20)]  # 4 MiB each
    socks: list[socket.socket] = []
    try:
        sent = threading.Barrier(21)

        def upload(i: int) -> None:
            data = payloads[i]
            if i % 2:  # half: PATCH of a session, the other half: monolithic POST
                loc = s.req("POST", f"/v2/crash/r{i}/blobs/uploads/").headers["Location"]
                head = f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n"
            else:
                head = (f"POST /v2/crash/r{i}/blobs/uploads/?digest={sha(data)} HTTP/1.1\r\nHost: x\r\n"
                        f"Content-Length: {len(data)}\r\n\r\n")
            c = socket.create_connection(("127.0.0.1", s.port))
            socks.append(c)
            c.sendall(head.encode() + data[: len(data) // 2])  # half the body, then the server dies
            sent.wait(timeout=30)

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        sent.wait(timeout=30)
        deadline = time.monotonic() + 10  # let the server take the bytes in
        ingest = s.root / "content" / "ingest"
        while time.monotonic() < deadline and sum(1 for _ in ingest.glob("*/data")) < 20:
            time.sleep(0.05)
        partial = [f.stat().st_size for f in ingest.glob("*/data")]
        assert len(partial) == 20 and all(0 < n < 4 << 20 for n in partial), partial
        s.stop(signal.SIGKILL)
        for t in threads:
            t.join(timeout=30)
    finally:
        for c in socks:
            c.close()
        s.stop()
    assert _blobs_verified(s.root) == []
    s2 = Server(s.root).start()
    try:
        for i, data in enumerate(payloads):
            assert s2.req("HEAD", f"/v2/crash/r{i}/blobs/{sha(data)}").status == 404
        s2.push_blob("crash/r0", payloads[0])  # a fresh upload of the same blob still works
        assert s2.req("GET", f"/v2/crash/r0/blobs/{sha(payloads[0])}").body == payloads[0]
    finally:
        s2.stop()
    assert _blobs_verified(s.root) == [sha(payloads[0])]


def test_20_concurrent_pushes_sharing_layers(tmp_path: Path) -> None:
    s = Server(tmp_path / "root").start()
    shared = [os.urandom(300_000), os.urandom(200_000)]
    try:
        def push(i: int) -> tuple[str, str, str]:
            repo, tag = f"conc/img{i % 5}", f"t{i}"
            digest, _ = s.push_image(repo, tag, [*shared, f"unique {i}".encode()], config=f'{{"i":{i}}}'.encode())
            return repo, tag, digest

        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(push, range(20)))
        for repo, tag, digest in results:
            r = s.req("GET", f"/v2/{repo}/manifests/{tag}")
            assert r.status == 200 and r.headers["Docker-Content-Digest"] == digest
            for layer in r.json()["layers"]:
                assert s.req("HEAD", f"/v2/{repo}/blobs/{layer['digest']}").status == 200
        for k in range(5):
            tags = s.req("GET", f"/v2/conc/img{k}/tags/list").json()["tags"]
            assert sorted(tags) == sorted(f"t{i}" for i in range(20) if i % 5 == k)
    finally:
        s.stop()
    blobs = _blobs_verified(s.root)
    # one copy per blob: 2 shared + 20 unique layers + 20 configs + 20 manifests
    assert len(blobs) == len(set(blobs)) == 62
    assert list((s.root / "content" / "ingest").iterdir()) == []


@pytest.mark.parametrize("chunks", [1, 3])
def test_large_blob_digest_checked_end_to_end(tmp_path: Path, chunks: int) -> None:
    s = Server(tmp_path / "root").start()
    try:
        data = os.urandom(3 << 20)
        loc = s.req("POST", "/v2/big/x/blobs/uploads/").headers["Location"]
        step = len(data) // chunks + 1
        for off in range(0, len(data), step):
            part = data[off:off + step]
            r = s.req("PATCH", loc, part, {"Content-Range": f"{off}-{off + len(part) - 1}"})
            assert r.status == 202
            loc = r.headers["Location"]
        wrong = data[:-1] + bytes([data[-1] ^ 1])  # always differs (a fixed b"!" matched 1 time in 256)
        r = s.req("PUT", f"{loc}?digest={sha(wrong)}")
        assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]
        assert s.req("HEAD", f"/v2/big/x/blobs/{sha(data)}").status == 404
    finally:
        s.stop()
    assert _blobs_verified(s.root) == []
